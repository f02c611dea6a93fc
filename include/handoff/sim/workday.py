"""Workday RaaS: Basic auth, `customreport2` JSON snapshots (no paging, no incremental)."""

from __future__ import annotations

from . import clock
from .http import ApiError, SystemServer

REPORTS = ("Handoff_Workers", "Handoff_Organizations")


class WorkdayServer(SystemServer):
    system = "workday"

    def add_routes(self):
        self.route("GET", r"/ccx/service/customreport2/(?P<tenant>[^/]+)/(?P<owner>[^/]+)/(?P<report>[^/]+)",
                   self.report)

    def authenticate(self, req):
        basic = req.basic()
        if not basic or not self.credentials.matches(*basic):
            raise ApiError(401, "Invalid username or password", "invalid_client")
        if self.take_expire_once():
            raise ApiError(401, "Invalid username or password", "invalid_client")

    def error_body(self, e):
        return {"error": e.code or "error", "errors": [{"error": e.message}]}

    def records_in(self, body):
        return body.get("Report_Entry", []) if isinstance(body, dict) else []

    def report(self, req, tenant, owner, report):
        if req.arg("format", "").lower() != "json":
            raise ApiError(400, "This simulator serves RaaS as JSON only: add format=json", "invalid_request")
        if report not in REPORTS:
            raise ApiError(404, f"Report '{owner}/{report}' not found", "not_found")
        as_of = req.arg("Effective_as_of_Date")
        try:
            day = clock.parse_day(as_of) if as_of else None
        except ValueError:
            raise ApiError(400, "Effective_as_of_Date must be YYYY-MM-DD", "invalid_request") from None
        return {"Report_Entry": self.entries(report, day)}

    def entries(self, report, day=None):
        if report == "Handoff_Organizations":
            return [dict(o) for o in self.world.orgs]
        out = []
        for w in self.world.workers:
            if day is not None and w["_hire_day"] > day:
                continue
            e = {k: v for k, v in w.items() if not k.startswith("_") and v is not None}
            if day is not None:
                e["Cost_Rates"] = [r for r in e["Cost_Rates"] if r["Effective_Date"] <= clock.day_iso(day)]
                if w["_term_day"] is not None and w["_term_day"] > day:
                    e.pop("Termination_Date", None)
            terminated = "Termination_Date" in e
            e["Active"] = "0" if terminated else "1"
            e["Cost_Rates"] = [dict(r) for r in e["Cost_Rates"]]
            out.append(e)
        return out

    def truth(self, obj):
        if obj not in REPORTS:
            raise KeyError(obj)
        return {"records": self.entries(obj), "deleted_ids": []}

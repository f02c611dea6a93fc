"""Kantata OX (Mavenlink) API v1: `results` + keyed maps, page/per_page, updated_after, include.

Time entries are served from numpy columns (see timeentries.py) and the response is assembled as
text, so a 200-row page costs about a millisecond; the small tables render with json.

Like the real service, lists hide archived workspaces (projects) and their data, and soft-deleted
stories, unless the request asks for them (HIDDEN_UNLESS). The filters apply before `only=`,
paging and `meta.count`, so an id lookup and the count agree with the listing; truth
(`/__sim/truth`) shows everything that exists.
"""

from __future__ import annotations

import json

from . import clock
from .http import ApiError, Response, SystemServer

MAX_PER_PAGE = 200
KINDS = ("workspaces", "stories", "users", "time_entries", "expenses")
# include name -> (map key, record field holding the id(s))
INCLUDES = {
    "time_entries": {"user": ("users", "user_id"), "workspace": ("workspaces", "workspace_id"),
                     "story": ("stories", "story_id"), "role": ("roles", "role_id"),
                     "invoice": ("invoices", "invoice_id"),
                     "external_references": ("external_references", "external_reference_ids")},
    "expenses": {"user": ("users", "user_id"), "workspace": ("workspaces", "workspace_id")},
    "stories": {"workspace": ("workspaces", "workspace_id")},
    "workspaces": {"external_references": ("external_references", "external_reference_ids"),
                   "creator": ("users", "creator_id"), "primary_maven": ("users", "primary_maven_id")},
    "users": {"external_references": ("external_references", "external_reference_ids")},
}
ORDERABLE = {"updated_at": "updated", "created_at": "created", "date_performed": "day", "id": "id"}
# order name -> sort key, for orders that are not a timestamp or id field (users' documented order)
NAMED_ORDERS = {"users": {"alphabetical": lambda r: r["full_name"].casefold()}}
# what each list hides unless the named flag is true (api-notes: archived projects and their data
# are hidden by default). Stories' `show_archived` is accepted; the world has no story archived
# on its own (only stories of archived workspaces, `show_from_archived_workspaces`).
HIDDEN_UNLESS = {
    "workspaces": {"archived_workspace": "include_archived"},
    "time_entries": {"in_archived_workspace": "from_archived_workspaces"},
    "expenses": {"in_archived_workspace": "from_archived_workspaces"},
    "stories": {"in_archived_workspace": "show_from_archived_workspaces", "deleted": "show_deleted"},
    "users": {},
}


def _bool(v: str | None):
    if v is None or v == "":
        return None
    return v.lower() in ("true", "1", "t", "yes")


class KantataServer(SystemServer):
    system = "kantata"

    def add_routes(self):
        self.route("POST", "/oauth/token", self.token, auth=False)
        self.route("GET", r"/api/v1/(?P<kind>%s)\.json" % "|".join(KINDS), self.list)

    # ---- auth & errors -----------------------------------------------------------------
    def token(self, req):
        self.check_client(req)
        return {"access_token": self.tokens.issue(), "token_type": "bearer",
                "expires_in": int(self.tokens.ttl), "created_at": int(clock.to_dt(self.world.now).timestamp())}

    def authenticate(self, req):
        if self.tokens.check(req.bearer()) != "ok":
            raise ApiError(401, "The access token provided is expired, revoked, malformed or invalid.",
                           "authentication")

    def error_body(self, e):
        return {"errors": [{"type": e.code or "system", "message": e.message}]}

    def rate_limit_error(self, retry_after, refusal=None):
        headers = []
        if refusal is not None:
            # Unverified: Kantata documents a 429 but neither its limit nor its headers; we send
            # Retry-After and the common X-RateLimit-* trio (Reset in seconds from now).
            headers = [("Retry-After", str(refusal.retry_after)),
                       ("X-RateLimit-Limit", str(refusal.limit.requests)), ("X-RateLimit-Remaining", "0"),
                       ("X-RateLimit-Reset", str(refusal.retry_after))]
        return ApiError(429, "Rate limit exceeded. Please retry later.", "rate_limit", headers=headers)

    def records_in(self, body):
        for k, v in body.items():
            if k not in ("meta", "results", "count") and isinstance(v, dict):
                yield from v.values()

    # ---- listing -----------------------------------------------------------------------
    def _paging(self, req):
        try:
            page = max(1, int(req.arg("page", 1)))
            per_page = min(MAX_PER_PAGE, max(1, int(req.arg("per_page", 20))))
        except ValueError:
            raise ApiError(400, "page and per_page must be integers", "argument") from None
        return page, per_page

    def _order(self, req, kind):
        default = "date_performed:desc" if kind == "time_entries" else "id:asc"
        field, _, direction = req.arg("order", default).partition(":")
        if field in NAMED_ORDERS.get(kind, {}):
            return field, direction.lower() == "desc"
        if field not in ORDERABLE or (field == "date_performed" and kind != "time_entries"):
            raise ApiError(400, f"invalid order field '{field}'", "argument")
        return field, direction.lower() == "desc"

    def _shows(self, req, kind, what: str) -> bool:
        """Whether the request asks for records that `kind`'s list hides as `what`."""
        flag = HIDDEN_UNLESS[kind].get(what)
        return flag is None or bool(_bool(req.arg(flag)))

    def _archived(self) -> tuple[frozenset, tuple]:
        """(ids, time-entry workspace indices) of the archived workspaces, cached until the
        workspaces table or the time entries' workspace list changes."""
        table, te = self.world.kt["workspaces"], self.world.te
        stamp = (table.changes, len(te.ws_ids))
        cached = self.__dict__.get("_archived_cache")
        if cached is None or cached[0] != stamp:
            ids = frozenset(r["id"] for r in table.rows.values() if r.get("archived"))
            cached = (stamp, ids, tuple(i for i, w in enumerate(te.ws_ids) if w in ids))
            self._archived_cache = cached
        return cached[1], cached[2]

    def _visible(self, req, kind, recs: list[dict]) -> list[dict]:
        """The small tables' records the request may see (HIDDEN_UNLESS)."""
        if kind == "workspaces" and not self._shows(req, kind, "archived_workspace"):
            recs = [r for r in recs if not r.get("archived")]
        if kind in ("stories", "expenses") and not self._shows(req, kind, "in_archived_workspace"):
            archived = self._archived()[0]
            if archived:
                recs = [r for r in recs if r["workspace_id"] not in archived]
        if kind == "stories":
            if _bool(req.arg("only_deleted")):
                recs = [r for r in recs if r.get("deleted_at")]
            elif not self._shows(req, kind, "deleted"):
                recs = [r for r in recs if not r.get("deleted_at")]
        return recs

    def _ts_arg(self, req, name):
        v = req.arg(name)
        if not v:
            return None
        try:
            return clock.parse_ts(v)
        except ValueError:
            raise ApiError(400, f"{name} must be an ISO 8601 date or time", "argument") from None

    def list(self, req, kind):
        page, per_page = self._paging(req)
        order = self._order(req, kind)
        includes = [i for i in req.args("include")]
        for inc in includes:
            if inc not in INCLUDES.get(kind, {}):
                raise ApiError(400, f"'{inc}' is not a valid include for {kind}", "argument")
        if kind == "time_entries":
            total, ids, fragments, refs = self._time_entries(req, order, page, per_page)
        else:
            total, ids, fragments, refs = self._small(req, kind, order, page, per_page)
        extra = []
        for inc in includes:
            target, _field = INCLUDES[kind][inc]
            wanted = refs.get(inc, [])
            table = self.world.kt[target].rows
            seen = dict.fromkeys(i for i in wanted if i is not None and i in table)
            extra.append((target, [f'"{i}":{json.dumps(table[i], ensure_ascii=False, separators=(",", ":"))}' for i in seen]))
        merged: dict[str, list[str]] = {kind: [fragments] if fragments else []}
        for target, frags in extra:
            merged.setdefault(target, []).extend(frags)
        page_count = -(-total // per_page)
        results = ",".join(map(('{"key":"%s","id":"%%s"}' % kind).__mod__, ids))
        maps = ",".join('"%s":{%s}' % (k, ",".join(v if k == kind else dict.fromkeys(v)))
                        for k, v in merged.items())
        body = ('{"count":%d,"meta":{"count":%d,"page_count":%d,"page_number":%d,"page_size":%d},'
                '"results":[%s],%s}' % (total, total, page_count, page, per_page, results, maps))
        records = len(ids) + sum(len(frags) for _, frags in extra)
        return Response(200, body.encode(), records=records)  # ASCII-only for time entries: a memcpy

    def _time_entries(self, req, order, page, per_page):
        te = self.world.te
        f: dict = {"ranges": {}}
        for name, col in (("updated", "updated"), ("created", "created")):
            lo, hi = self._ts_arg(req, f"{name}_after"), self._ts_arg(req, f"{name}_before")
            if lo is not None or hi is not None:
                f["ranges"][col] = (lo, hi)
        between = req.arg("date_performed_between")
        if between:
            try:
                a, b = between.split(":")
                f["ranges"]["day"] = (clock.parse_day(a), clock.parse_day(b))
            except ValueError:
                raise ApiError(400, "date_performed_between must be YYYY-MM-DD:YYYY-MM-DD", "argument") from None
        f["approved"], f["billable"] = _bool(req.arg("approved")), _bool(req.arg("billable"))
        if req.arg("invoiced") is not None and _bool(req.arg("invoiced")):
            f["id"] = []  # nothing is invoiced in Kantata here (billing happens in NetSuite)
        ws = req.args("workspace_id") + req.args("workspace_ids")
        if ws:
            index = {w: i for i, w in enumerate(te.ws_ids)}
            f["ws"] = [index[w] for w in ws if w in index]
        users = req.args("with_user_ids")
        if users:
            index = {u: i for i, u in enumerate(te.user_ids)}
            f["user"] = [index[u] for u in users if u in index]
        only = req.args("only")
        if only:
            try:
                f["id"] = [int(i) for i in only]
            except ValueError:
                raise ApiError(400, "only must be a list of ids", "argument") from None
        hidden = () if self._shows(req, "time_entries", "in_archived_workspace") else self._archived()[1]
        if hidden:
            f["ws_hidden"] = list(hidden)
        key = (self.world.version, hidden, tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                                        for k, v in req.query.items() if k not in ("page", "per_page"))))
        rows = te.select(key, f, (ORDERABLE[order[0]], order[1]))
        page_rows = rows[(page - 1) * per_page: page * per_page]
        ids = te.id[page_rows].tolist()
        refs = {}
        if req.query.get("include"):
            users = te.user[page_rows].tolist()
            refs = {"user": [te.user_ids[u] for u in users],
                    "workspace": [te.ws_ids[w] for w in te.ws[page_rows].tolist()],
                    "story": [te.story_ids[s] for s in te.story[page_rows].tolist()],
                    "role": [te.user_roles[u] for u in users],
                    "invoice": [], "external_references": []}  # never invoiced here; no references
        return len(rows), ids, te.render(page_rows), refs

    def _small(self, req, kind, order, page, per_page):
        recs = self._visible(req, kind, self.world.kt[kind].values())
        for name, op in (("updated_after", "gt"), ("updated_before", "lt"),
                         ("created_after", "gt"), ("created_before", "lt")):
            ts = self._ts_arg(req, name)
            if ts is not None:
                field, bound = name.split("_")[0] + "_at", clock.kt_datetime(ts)
                recs = [r for r in recs if (r[field] > bound if op == "gt" else r[field] < bound)]
        only = set(req.args("only"))
        if only:
            recs = [r for r in recs if r["id"] in only]
        ws = set(req.args("workspace_id") + req.args("workspace_ids"))
        if ws and kind in ("stories", "expenses"):
            recs = [r for r in recs if r["workspace_id"] in ws]
        field, desc = order
        recs.sort(key=lambda r: int(r["id"]))
        if field != "id":  # stable: ties stay in id order
            recs.sort(key=NAMED_ORDERS.get(kind, {}).get(field) or (lambda r: r[field]), reverse=desc)
        elif desc:
            recs.reverse()
        page_recs = recs[(page - 1) * per_page: page * per_page]
        refs = {}
        for inc, (_t, fld) in INCLUDES.get(kind, {}).items():
            vals = [r.get(fld) for r in page_recs]
            refs[inc] = [x for v in vals for x in (v if isinstance(v, list) else [v])]
        frags = ",".join(f'"{r["id"]}":{json.dumps(r, ensure_ascii=False, separators=(",", ":"))}' for r in page_recs)
        return len(recs), [r["id"] for r in page_recs], frags, refs

    # ---- truth ---------------------------------------------------------------------------
    def truth(self, obj):
        if obj == "time_entries":
            te = self.world.te
            return {"records": te.records(te.live_rows()), "deleted_ids": te.deleted_ids()}
        if obj not in self.world.kt:
            raise KeyError(obj)
        recs = self.world.kt[obj].values()  # archived workspaces and their data included: they exist
        if obj == "stories":  # soft-deleted stories (deleted_at set) are deletes
            return {"records": [r for r in recs if not r.get("deleted_at")],
                    "deleted_ids": [r["id"] for r in recs if r.get("deleted_at")]}
        return {"records": recs, "deleted_ids": []}



"""Salesforce REST: OAuth2 client credentials, SOQL query/queryAll with snapshot query locators
(and `SELECT COUNT()`), getDeleted, describe, Bulk API 2.0 query jobs (`sf_bulk.py`),
Sforce-Limit-Info, errors as JSON arrays."""

from __future__ import annotations

import itertools
import threading

from . import clock
from .http import ApiError, SystemServer
from .sf_bulk import BulkJobs
from .soql import SoqlError, execute

API = r"/services/data/(?P<ver>v\d+\.\d+)"
DAILY_LIMIT = 100_000


class SalesforceServer(SystemServer):
    system = "salesforce"

    def __init__(self, *a, **kw):
        self.locators: dict[str, dict] = {}
        self._loc_ids = itertools.count(1)
        self._loc_lock = threading.Lock()
        self.bulk = BulkJobs(self)
        super().__init__(*a, **kw)

    def add_routes(self):
        self.route("POST", "/services/oauth2/token", self.token, auth=False)
        self.route("GET", API + r"/query/?", self.query)
        self.route("GET", API + r"/queryAll/?", self.query_all)
        self.route("GET", API + r"/query/(?P<loc>01g\w+)-(?P<pos>\d+)", self.more)
        self.route("GET", API + r"/queryAll/(?P<loc>01g\w+)-(?P<pos>\d+)", self.more)
        self.route("GET", API + r"/sobjects/(?P<obj>\w+)/deleted/?", self.deleted)
        self.bulk.add_routes(API)

    def admin(self, req):
        if req.path == "/__sim/bulk" and req.method in ("GET", "POST"):
            return self.bulk.admin(req)
        return super().admin(req)

    # ---- auth / errors ------------------------------------------------------------------
    def token(self, req):
        self.check_client(req)
        issued = str(int(clock.to_dt(self.world.now).timestamp() * 1000))
        return {"access_token": "00DSIM0000000001!" + self.tokens.issue(), "instance_url": req.base_url,
                "id": f"{req.base_url}/id/00DSIM000000001EAA/005SIM000000001AAA", "token_type": "Bearer",
                "issued_at": issued, "signature": "c2ltdWxhdG9y"}

    def authenticate(self, req):
        tok = req.bearer() or ""
        if self.tokens.check(tok.split("!", 1)[-1]) != "ok":
            raise ApiError(401, "Session expired or invalid", "INVALID_SESSION_ID")

    def error_body(self, e):
        code = e.code
        if e.status == 404 and code == "NOT_FOUND":
            return [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        if e.status >= 500:
            code = "SERVER_UNAVAILABLE" if e.status == 503 else "UNKNOWN_EXCEPTION"
        body = {"message": e.message, "errorCode": code}
        if e.path:
            body["fields"] = [e.path]
        return [body]

    def rate_limit_error(self, retry_after, refusal=None):
        return ApiError(403, "TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED")

    def extra_headers(self, req):
        # the pacing's rolling 24-hour count when the daily limit is on, else every request served
        state = req.pacing.count("daily") if req is not None else None
        used, limit = (state[1], state[0].requests) if state else (min(self.requests, DAILY_LIMIT), DAILY_LIMIT)
        return [("Sforce-Limit-Info", f"api-usage={used}/{limit}")]

    def records_in(self, body):
        return body.get("records", []) if isinstance(body, dict) else []

    # ---- query --------------------------------------------------------------------------
    def query(self, req, ver):
        return self._run(req, ver, include_deleted=False)

    def query_all(self, req, ver):
        return self._run(req, ver, include_deleted=True)

    def _batch_size(self, req) -> int:
        opts = req.headers.get("Sforce-Query-Options", "")
        for part in opts.split(","):
            k, _, v = part.strip().partition("=")
            if k == "batchSize" and v.isdigit():
                return min(2000, max(200, int(v)))
        return 2000

    def _run(self, req, ver, include_deleted):
        q = req.arg("q")
        if not q:
            raise ApiError(400, "A query string has to be specified", "MALFORMED_QUERY")
        try:
            obj, fields, rows, count_only = execute(self.world.sf, q, include_deleted)
        except SoqlError as e:
            raise ApiError(400, str(e), e.code) from None
        if count_only:  # SELECT COUNT(): the number in totalSize, no records
            return {"totalSize": len(rows), "done": True, "records": []}
        snap = {"obj": obj, "fields": fields, "rows": rows, "batch": self._batch_size(req),
                "kind": "queryAll" if include_deleted else "query"}
        with self._loc_lock:
            loc = "01gSIM" + str(next(self._loc_ids)).rjust(12, "0")
            self.locators[loc] = snap  # rows hold references to immutable record dicts: a stable snapshot
        return self._page(ver, loc, snap, 0)

    def more(self, req, ver, loc, pos):
        snap = self.locators.get(loc)
        if snap is None or int(pos) > len(snap["rows"]):
            raise ApiError(400, "invalid query locator", "INVALID_QUERY_LOCATOR")
        return self._page(ver, loc, snap, int(pos))

    def _page(self, ver, loc, snap, pos):
        rows = snap["rows"][pos: pos + snap["batch"]]
        obj, fields = snap["obj"], snap["fields"]
        records = []
        for r in rows:
            rec = {"attributes": {"type": obj, "url": f"/services/data/{ver}/sobjects/{obj}/{r['Id']}"}}
            for f in fields:
                rec[f] = r.get(f)
            records.append(rec)
        end = pos + len(rows)
        out = {"totalSize": len(snap["rows"]), "done": end >= len(snap["rows"])}
        if not out["done"]:
            out["nextRecordsUrl"] = f"/services/data/{ver}/{snap['kind']}/{loc}-{end}"
        out["records"] = records
        return out

    def deleted(self, req, ver, obj):
        if obj not in self.world.sf:
            raise ApiError(404, f"The requested resource does not exist: {obj}", "NOT_FOUND")
        try:
            start, end = clock.parse_ts(req.arg("start", "")), clock.parse_ts(req.arg("end", ""))
        except ValueError:
            raise ApiError(400, "start and end must be ISO 8601 date-times", "INVALID_REPLICATION_DATE") from None
        earliest = self.world.now - 15 * clock.DAY
        if start < earliest - 60:
            raise ApiError(400, "startDate cannot be more than 15 days ago", "INVALID_REPLICATION_DATE")
        if end < start:
            raise ApiError(400, "endDate must be after startDate", "INVALID_REPLICATION_DATE")
        end = min(end, self.world.now)
        recs = [{"id": rid, "deletedDate": clock.sf_datetime(ts)}
                for rid, ts in sorted(self.world.sf_deleted[obj].items(), key=lambda kv: (kv[1], kv[0]))
                if start <= ts <= end]
        return {"deletedRecords": recs, "earliestDateAvailable": clock.sf_datetime(earliest),
                "latestDateCovered": clock.sf_datetime(end // 60 * 60)}

    def truth(self, obj):
        if obj not in self.world.sf:
            raise KeyError(obj)
        recs, deleted = [], []
        for r in self.world.sf[obj].values():
            if r.get("IsDeleted"):
                deleted.append(r["Id"])
            else:
                recs.append({"attributes": {"type": obj, "url": f"/services/data/v62.0/sobjects/{obj}/{r['Id']}"},
                             **r})
        return {"records": recs, "deleted_ids": deleted}

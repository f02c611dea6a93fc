"""Salesforce Bulk API 2.0 query jobs, and the `describe` of each object (its field types).

Routes (under `/services/data/vNN.N/`, registered by `SalesforceServer.add_routes`):

- `POST jobs/query` `{operation: query|queryAll, query, contentType: CSV, columnDelimiter: COMMA,
  lineEnding: LF}` → 200 job info, `state: UploadComplete`. A query that does not parse → 400
  in the REST query's words (`MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`); other content
  types, delimiters or line endings → 400 `INVALIDJOB` (this simulator writes CSV/COMMA/LF only).
- `GET jobs/query` → `{done: true, records: [job info...], nextRecordsUrl: null}`.
- `GET jobs/query/{id}` → job info; the state moves `UploadComplete` → `InProgress` →
  `JobComplete` (`numberRecordsProcessed`) as the job's processing time passes (wall clock):
  `processing_ms + per_record_ms x rows`, a tenth of it queued. Defaults: instant while the
  server's pacing has no latency; 2,000 ms + 0.01 ms a row when it has (realistic pacing).
  The rows are read (a snapshot) when the job completes.
- `GET jobs/query/{id}/results?maxRecords=&locator=` (job `JobComplete` only, else 400
  `INVALIDJOB`) → `text/csv`: header row of the selected field names, then one row per record;
  headers `Sforce-Locator` (the next chunk's locator, the string `null` on the last) and
  `Sforce-NumberOfRecords`. `maxRecords` defaults to 100,000 (*unverified*: Salesforce sizes
  the default chunk by bytes). A locator reads the same chunk again as long as the job exists.
- `PATCH jobs/query/{id}` `{state: Aborted}` → job info, state `Aborted` (results then 400).
- `DELETE jobs/query/{id}` → 204. A deleted, expired or unknown job → 404
  `[{"errorCode": "NOT_FOUND", "message": ...}]`.
- `GET sobjects/{Obj}/describe` → `{name, label, fields: [{name, type, soapType, label,
  nillable}]}`: the types a client needs to give CSV values their JSON types.

CSV as Salesforce writes it (RFC 4180): every value in double quotes (quotes doubled, newlines
kept inside the quotes), null as an empty unquoted field, booleans `true`/`false`, numbers as the
REST JSON writes them, datetimes in UTC with `Z` (`2026-01-05T10:00:00.000Z`; the REST query
writes `+0000`), UTF-8, LF between records.

Admin (loopback, `POST /__sim/bulk`, also `GET` for the config and the jobs):
`{"fail_next": n}` the next n jobs end `Failed` with `errorMessage`; `{"expire": "<job id>"}` or
`{"expire": "all"}` removes jobs (the next request about them is a 404, as when Salesforce purges
a job); `{"processing_ms": x, "per_record_ms": y}` sets the processing time (`null`: back to
the pacing-derived default); `{"error_message": "..."}` the message of failed jobs.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time

from . import clock
from .http import ApiError, Response
from .soql import SoqlError, execute

REALISTIC_PROCESSING_MS, REALISTIC_PER_RECORD_MS = 2000.0, 0.01
DEFAULT_MAX_RECORDS = 100_000
FAILED_MESSAGE = "InternalServerError: the query timed out while the job was processing (simulated)"

_COMMON = {"Id": "id", "IsDeleted": "boolean", "CreatedDate": "datetime", "LastModifiedDate": "datetime",
           "SystemModstamp": "datetime", "Name": "string", "CurrencyIsoCode": "picklist", "OwnerId": "reference"}
FIELD_TYPES: dict[str, dict[str, str]] = {
    "Account": {**_COMMON, "Type": "picklist", "Industry": "picklist", "BillingCountry": "string",
                "Website": "url"},
    "Contact": {**_COMMON, "AccountId": "reference", "FirstName": "string", "LastName": "string",
                "Email": "email", "Title": "string"},
    "Opportunity": {**_COMMON, "AccountId": "reference", "StageName": "picklist", "Probability": "percent",
                    "IsClosed": "boolean", "IsWon": "boolean", "CloseDate": "date", "Amount": "currency",
                    "Type": "picklist"},
    "OpportunityLineItem": {**_COMMON, "OpportunityId": "reference", "ProductCode": "string",
                            "Quantity": "double", "UnitPrice": "currency", "TotalPrice": "currency",
                            "ServiceDate": "date"},
    "User": {**_COMMON, "Username": "string", "Email": "email", "IsActive": "boolean", "Title": "string"},
}
SOAP_TYPES = {"id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "datetime": "xsd:dateTime",
              "date": "xsd:date", "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double",
              "int": "xsd:int"}


def field_type(obj: str, name: str, sample) -> str:
    """The Salesforce type of a field: declared, else guessed from a stored value."""
    declared = FIELD_TYPES.get(obj, {}).get(name)
    if declared:
        return declared
    if isinstance(sample, bool):
        return "boolean"
    if isinstance(sample, int):
        return "int"
    if isinstance(sample, float):
        return "double"
    return "string"


def csv_value(value, datetime_field: bool) -> str:
    if value is None:
        return ""
    if value is True:
        return '"true"'
    if value is False:
        return '"false"'
    if isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
        if datetime_field and text.endswith("+0000"):
            text = text[:-5] + "Z"
    return '"' + text.replace('"', '""') + '"'


def encode_locator(pos: int) -> str:
    return base64.b64encode(str(pos).encode()).decode().rstrip("=")


def decode_locator(loc: str) -> int:
    try:
        pos = int(base64.b64decode(loc + "=" * (-len(loc) % 4), validate=True).decode())
    except ValueError:
        raise ApiError(400, f"Invalid locator: {loc}", "INVALIDLOCATOR") from None
    if pos < 0:
        raise ApiError(400, f"Invalid locator: {loc}", "INVALIDLOCATOR")
    return pos


class Job:
    def __init__(self, jid: str, operation: str, obj: str, query: str, version: str, created: int,
                 processing: float, per_record: float, fail: str | None):
        self.id, self.operation, self.object, self.query, self.version = jid, operation, obj, query, version
        self.created_ts = created
        self.started = time.monotonic()
        self.processing, self.per_record = processing, per_record
        self.fail = fail
        self.state = "UploadComplete"
        self.rows: list[dict] | None = None
        self.fields: list[str] = []
        self.estimate: int | None = None  # rows matched at creation: sizes the processing time
        self.error: str | None = None
        self.done_at: float | None = None

    def info(self) -> dict:
        out = {"id": self.id, "operation": self.operation, "object": self.object,
               "createdById": "005SIM000000001AAA", "createdDate": clock.sf_datetime(self.created_ts),
               "systemModstamp": clock.sf_datetime(self.created_ts), "state": self.state,
               "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": float(self.version[1:]),
               "jobType": "V2Query", "lineEnding": "LF", "columnDelimiter": "COMMA"}
        if self.state in ("InProgress", "JobComplete", "Failed", "Aborted"):
            out["numberRecordsProcessed"] = len(self.rows) if self.rows is not None else 0
            out["retries"] = 0
            out["totalProcessingTime"] = int(((self.done_at or time.monotonic()) - self.started) * 1000)
        if self.error:
            out["errorMessage"] = self.error
        return out


class BulkJobs:
    """The query jobs of one Salesforce server."""

    def __init__(self, server):
        self.server = server
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.processing_ms: float | None = None  # None: from the server's pacing
        self.per_record_ms: float | None = None
        self.fail_next = 0
        self.error_message = FAILED_MESSAGE
        self.created = 0

    # ---- routes -------------------------------------------------------------------------
    def add_routes(self, api: str) -> None:
        s = self.server
        job = api + r"/jobs/query/(?P<jid>[A-Za-z0-9]+)"
        s.route("POST", api + r"/jobs/query/?", self.create)
        s.route("GET", api + r"/jobs/query/?", self.list_jobs)
        s.route("GET", job + r"/?", self.get)
        s.route("PATCH", job + r"/?", self.abort)
        s.route("DELETE", job + r"/?", self.delete)
        s.route("GET", job + r"/results/?", self.results)
        s.route("GET", api + r"/sobjects/(?P<obj>\w+)/describe/?", self.describe)

    def _timing(self) -> tuple[float, float]:
        pacing = getattr(self.server, "pacing", None)
        paced = bool(getattr(pacing, "latency", 0) or getattr(pacing, "per_record", 0))
        base = self.processing_ms if self.processing_ms is not None else (REALISTIC_PROCESSING_MS if paced else 0.0)
        per = self.per_record_ms if self.per_record_ms is not None else (REALISTIC_PER_RECORD_MS if paced else 0.0)
        return base / 1000.0, per / 1000.0

    def create(self, req, ver):
        body = req.json()
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object", "INVALIDJOB")
        op = body.get("operation")
        if op not in ("query", "queryAll"):
            raise ApiError(400, f"Invalid operation: {op!r} (query or queryAll)", "INVALIDJOB")
        for key, allowed in (("contentType", "CSV"), ("columnDelimiter", "COMMA"), ("lineEnding", "LF")):
            if body.get(key, allowed) != allowed:
                raise ApiError(400, f"{key} {body[key]!r} is not supported by this simulator (only {allowed})",
                               "INVALIDJOB")
        q = body.get("query")
        if not q:
            raise ApiError(400, "query is required", "INVALIDJOB")
        w = self.server.world
        try:
            with w.lock:
                result = execute(w.sf, q, op == "queryAll", ordered=False)
        except SoqlError as e:
            raise ApiError(400, str(e), e.code) from None
        if result.count_only:
            raise ApiError(400, "Aggregate queries are not supported by Bulk API 2.0 queries", "INVALIDJOB")
        base, per = self._timing()
        with self.lock:
            fail = None
            if self.fail_next > 0:
                self.fail_next -= 1
                fail = self.error_message
            jid = "750SIM" + str(next(self._ids)).rjust(9, "0") + "AAA"
            job = Job(jid, op, result.obj, q, ver, w.now, base, per, fail)
            job.estimate = len(result.rows)
            self.jobs[jid] = job
            self.created += 1
        return job.info()

    def _job(self, jid: str) -> Job:
        job = self.jobs.get(jid)
        if job is None:
            raise ApiError(404, "The requested resource does not exist", "NOT_FOUND")
        self._progress(job)
        return job

    def _progress(self, job: Job) -> None:
        """Move the job on by the wall-clock time that passed; snapshot its rows when it completes."""
        if job.state not in ("UploadComplete", "InProgress"):
            return
        total = job.processing + job.per_record * (job.estimate or 0)
        elapsed = time.monotonic() - job.started
        if elapsed < total:
            job.state = "InProgress" if elapsed >= total / 10 else "UploadComplete"
            return
        if job.fail:
            job.state, job.error, job.done_at = "Failed", job.fail, time.monotonic()
            return
        w = self.server.world
        with w.lock:
            result = execute(w.sf, job.query, job.operation == "queryAll", ordered=False)
        job.fields, job.rows = result.fields, result.rows  # references to immutable dicts: a snapshot
        job.state, job.done_at = "JobComplete", time.monotonic()

    def list_jobs(self, req, ver):
        with self.lock:
            jobs = list(self.jobs.values())
        for j in jobs:
            self._progress(j)
        return {"done": True, "records": [j.info() for j in jobs], "nextRecordsUrl": None}

    def get(self, req, ver, jid):
        with self.lock:
            return self._job(jid).info()

    def abort(self, req, ver, jid):
        body = req.json()
        if not isinstance(body, dict) or body.get("state") != "Aborted":
            raise ApiError(400, "Only {\"state\": \"Aborted\"} can be set on a query job", "INVALIDJOB")
        with self.lock:
            job = self._job(jid)
            if job.state in ("JobComplete", "Failed", "Aborted"):
                raise ApiError(400, f"Job {jid} is already in state {job.state} and cannot be aborted",
                               "INVALIDJOB")
            job.state, job.done_at, job.rows = "Aborted", time.monotonic(), None
            return job.info()

    def delete(self, req, ver, jid):
        with self.lock:
            self._job(jid)
            del self.jobs[jid]
        return Response(204, b"", [], "")

    def results(self, req, ver, jid):
        with self.lock:
            job = self._job(jid)
            if job.state != "JobComplete":
                raise ApiError(400, f"Job {jid} is in state {job.state}: results exist once it is JobComplete",
                               "INVALIDJOB")
            rows, fields = job.rows, job.fields
        raw_max = req.arg("maxRecords")
        if raw_max is not None and (not raw_max.isdigit() or int(raw_max) < 1):
            raise ApiError(400, f"maxRecords must be a positive integer, got {raw_max!r}", "INVALIDJOB")
        size = int(raw_max) if raw_max else DEFAULT_MAX_RECORDS
        loc = req.arg("locator")
        pos = decode_locator(loc) if loc and loc != "null" else 0
        if pos > len(rows):
            raise ApiError(400, f"Invalid locator: {loc}", "INVALIDLOCATOR")
        chunk = rows[pos: pos + size]
        dt = [field_type(job.object, f, None) == "datetime" for f in fields]
        lines = [",".join('"' + f.replace('"', '""') + '"' for f in fields)]
        for r in chunk:
            lines.append(",".join([csv_value(r.get(f), d) for f, d in zip(fields, dt, strict=True)]))
        body = ("\n".join(lines) + "\n").encode("utf-8")
        end = pos + len(chunk)
        nxt = encode_locator(end) if end < len(rows) else "null"
        resp = Response(200, body, [("Sforce-Locator", nxt), ("Sforce-NumberOfRecords", str(len(chunk)))],
                        "text/csv")
        resp.records = len(chunk)  # the latency model counts rows (sim.http.Response.records)
        return resp

    def describe(self, req, ver, obj):
        tables = self.server.world.sf
        name = {k.lower(): k for k in tables}.get(obj.lower())
        if name is None:
            raise ApiError(404, f"The requested resource does not exist: {obj}", "NOT_FOUND")
        first = next(iter(tables[name].rows.values()), {})
        names = list(dict.fromkeys([*FIELD_TYPES.get(name, {}), *first]))
        fields = []
        for f in names:
            t = field_type(name, f, first.get(f))
            fields.append({"name": f, "type": t, "soapType": SOAP_TYPES.get(t, "xsd:string"), "label": f,
                           "nillable": f not in ("Id", "IsDeleted", "CreatedDate", "LastModifiedDate",
                                                 "SystemModstamp")})
        return {"name": name, "label": name, "custom": False, "queryable": True, "fields": fields,
                "urls": {"describe": f"/services/data/{ver}/sobjects/{name}/describe",
                         "sobject": f"/services/data/{ver}/sobjects/{name}"}}

    # ---- admin --------------------------------------------------------------------------
    def snapshot(self) -> dict:
        with self.lock:
            jobs = {j.id: j.state for j in self.jobs.values()}
        return {"processing_ms": self.processing_ms, "per_record_ms": self.per_record_ms,
                "fail_next": self.fail_next, "created": self.created, "jobs": jobs}

    def admin(self, req):
        if req.method == "GET":
            return self.snapshot()
        body = req.json() or {}
        if not isinstance(body, dict):
            raise ApiError(400, "expected a JSON object")
        unknown = set(body) - {"fail_next", "expire", "processing_ms", "per_record_ms", "error_message"}
        if unknown:
            raise ApiError(400, f"unknown key {sorted(unknown)[0]!r}: fail_next, expire, processing_ms, "
                                "per_record_ms, error_message")
        with self.lock:
            if "fail_next" in body:
                self.fail_next = int(body["fail_next"])
            if "error_message" in body:
                self.error_message = str(body["error_message"])
            for key in ("processing_ms", "per_record_ms"):
                if key in body:
                    setattr(self, key, None if body[key] is None else float(body[key]))
            expired = []
            if "expire" in body:
                ids = list(self.jobs) if body["expire"] == "all" else [body["expire"]]
                for jid in ids:
                    if self.jobs.pop(jid, None) is not None:
                        expired.append(jid)
        out = self.snapshot()
        out["expired"] = expired
        return out

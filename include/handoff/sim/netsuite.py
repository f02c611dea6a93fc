"""NetSuite REST: OAuth2 token, SuiteQL paging, record creation with validation, idempotency keys,
async jobs, the account concurrency limit, and the ledger of accepted writes."""

from __future__ import annotations

import threading
from urllib.parse import unquote

from . import clock
from .billing import billed_by, mark_billed
from .firm import NS_CURRENCY_ID
from .http import _REASONS, ApiError, Response, SystemServer
from .query import QueryError
from .suiteql import MAX_ROWS, SCHEMAS, Star, execute, render_row

_TYPE = "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.%d"
_TYPE_BY_STATUS = {400: 1, 401: 2, 403: 4, 404: 5, 405: 6, 429: 0}
RECORD_TYPES = {"timebill": "timebill", "customrecord_handoff_billing_event": "customrecord_handoff_billing_event"}
CURRENCY_CODE = {v: k for k, v in NS_CURRENCY_ID.items()}


def _err(status, detail, code, path=None, headers=None):
    return ApiError(status, detail, code, path, headers=headers)


def _missing():
    return _err(404, "The record instance does not exist. Provide a valid record instance ID.", "NONEXISTENT_ID")


def _eid(ref: str) -> str:
    return unquote(ref[4:])


def _as_body(table: str, rec: dict) -> dict:
    """A stored record as a create body (what a partial update overlays). Subsidiary and currency are
    left out: they follow the employee/job unless the update names them."""
    if table == "timebill":
        body = {"employee": {"id": rec["employee"]}, "customer": {"id": rec["customer"]},
                "tranDate": clock.day_iso(rec["trandate"]), "hours": float(rec["hours"]),
                "isBillable": rec["isbillable"] == "T", "memo": rec.get("memo")}
        if rec.get("item") is not None:
            body["item"] = {"id": rec["item"]}
        return body
    return {"custrecord_hbe_job": {"id": rec["custrecord_hbe_job"]},
            "custrecord_hbe_milestone": rec["custrecord_hbe_milestone"],
            "custrecord_hbe_amount": float(rec["custrecord_hbe_amount"]),
            "custrecord_hbe_date": clock.day_iso(rec["custrecord_hbe_date"])}


class NetSuiteServer(SystemServer):
    system = "netsuite"
    max_rows = MAX_ROWS  # rows one SuiteQL query can page through; an attribute so tests can lower it

    def __init__(self, *a, **kw):
        self._write_lock = threading.Lock()
        self.idempotency: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self._query_cache: dict = {}
        super().__init__(*a, **kw)

    def add_routes(self):
        self.route("POST", "/services/rest/auth/oauth2/v1/token", self.token, auth=False)
        self.route("POST", "/services/rest/query/v1/suiteql", self.suiteql)
        self.route("POST", r"/services/rest/record/v1/(?P<rtype>[A-Za-z_]+)", self.create)
        one = r"/services/rest/record/v1/(?P<rtype>[A-Za-z_]+)/(?P<ref>\d+|eid:[^/]+)"
        self.route("GET", one, self.get_record)
        self.route("PATCH", one, self.update)
        self.route("PUT", one, self.upsert)
        self.route("DELETE", one, self.delete)
        self.route("GET", r"/services/rest/async/v1/job/(?P<job>\d+)", self.job)
        self.route("GET", r"/services/rest/async/v1/job/(?P<job>\d+)/task", self.tasks)
        self.route("GET", r"/services/rest/async/v1/job/(?P<job>\d+)/task/(?P<task>\d+)", self.task)
        self.route("GET", r"/services/rest/async/v1/job/(?P<job>\d+)/task/(?P<task>\d+)/result", self.job_result)

    # ---- auth / errors ------------------------------------------------------------------
    def token(self, req):
        form = self.client_from_token_request(req)[2]
        if form.get("client_assertion") and form.get("grant_type") == "client_credentials":
            self._check_assertion(form)  # the real flow; the signature is not verified (documented)
        else:
            self.check_client(req)
        return {"access_token": self.tokens.issue(), "expires_in": str(int(self.tokens.ttl)),
                "token_type": "bearer"}

    def _check_assertion(self, form):
        """A JWT bearer assertion: right assertion type, `iss` = the client id, not expired."""
        import base64
        import json
        import time

        def invalid(what, code="invalid_client"):
            return ApiError(400, what, code, body={"error": code, "error_description": what})

        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            raise invalid("client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                          "invalid_request")
        try:
            payload = form["client_assertion"].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            raise invalid("client_assertion is not a JWT", "invalid_request") from None
        if not isinstance(claims, dict) or not self.credentials.matches(claims.get("iss"),
                                                                         self.credentials.client_secret):
            raise invalid("invalid client: the assertion's iss is not a known client id")
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp < time.time():
            raise invalid("the client assertion has expired", "invalid_grant")

    def authenticate(self, req):
        if self.tokens.check(req.bearer()) != "ok":
            raise _err(401, "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite "
                            "UI at Setup > Users/Roles > User Management > View Login Audit Trail.", "INVALID_LOGIN")

    def error_body(self, e):
        detail = {"detail": e.message, "o:errorCode": e.code or "UNEXPECTED_ERROR"}
        if e.path:
            detail["o:errorPath"] = e.path
        return {"type": _TYPE % _TYPE_BY_STATUS.get(e.status, 1) if e.status < 500 else
                "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1",
                "title": _REASONS.get(e.status, "Error"), "status": e.status, "o:errorDetails": [detail]}

    def rate_limit_error(self, retry_after, refusal=None):
        # one refusal for every limit: the account's concurrency limit is the one NetSuite documents
        return _err(429, "Request blocked by the concurrency limit of the account. Retry later.",
                    "CONCURRENCY_LIMIT_EXCEEDED",
                    headers=[("Retry-After", str(refusal.retry_after))] if refusal is not None else None)

    def concurrency_limit(self):
        return int(self.faults.get("concurrency_limit", 15))

    def records_in(self, body):
        return body.get("items", []) if isinstance(body, dict) else []

    # ---- SuiteQL ------------------------------------------------------------------------
    def suiteql(self, req):
        if "transient" not in req.headers.get("Prefer", "").lower():
            raise _err(400, "The request header 'Prefer: transient' is required for SuiteQL queries.",
                       "INVALID_HEADER")
        try:
            limit = int(req.arg("limit", 1000))
            offset = int(req.arg("offset", 0))
        except ValueError:
            raise _err(400, "Invalid value for parameter limit or offset.", "INVALID_PARAMETER") from None
        if not 1 <= limit <= 1000 or offset < 0:
            raise _err(400, "Invalid value for the parameter 'limit'. The value must be between 1 and 1000.",
                       "INVALID_PARAMETER")
        if offset >= self.max_rows:
            raise _err(400, f"The query result exceeds the maximum of {self.max_rows} rows. Narrow the query.",
                       "INVALID_PARAMETER")
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("q"), str):
            raise _err(400, "The request body must contain the 'q' property.", "INVALID_CONTENT")
        key = (body["q"], self.world.version, sum(t.changes for t in self.world.ns.values()))  # any write
        hit = self._query_cache.get(key)
        if hit is None:
            try:
                hit = execute(self.world.ns, body["q"])
            except QueryError as e:
                raise _err(400, "Invalid search query. Detailed unprocessed description follows. "
                                f"Search error occurred: {e}", "INVALID_PARAMETER") from None
            if len(self._query_cache) > 32:
                self._query_cache.clear()
            self._query_cache[key] = hit
        rows, cols = hit
        total = min(len(rows), self.max_rows)
        items = [render_row(r, cols) for r in rows[offset: min(offset + limit, total)]]
        base = f"{req.base_url}/services/rest/query/v1/suiteql"
        links = []
        if offset > 0:
            links.append({"rel": "previous", "href": f"{base}?limit={limit}&offset={max(0, offset - limit)}"})
        links.append({"rel": "first", "href": f"{base}?limit={limit}&offset=0"})
        has_more = offset + len(items) < total
        if has_more:
            links.append({"rel": "next", "href": f"{base}?limit={limit}&offset={offset + limit}"})
        last = max(0, (total - 1) // limit * limit)
        links.append({"rel": "last", "href": f"{base}?limit={limit}&offset={last}"})
        links.append({"rel": "self", "href": f"{base}?limit={limit}&offset={offset}"})
        return {"links": links, "count": len(items), "hasMore": has_more, "items": items, "offset": offset,
                "totalResults": total}

    # ---- writes -------------------------------------------------------------------------
    def _table(self, rtype: str) -> str:
        table = RECORD_TYPES.get(rtype.lower())
        if table is None:
            raise _err(404, f"Record type '{rtype}' does not exist or is not supported by this simulator.",
                       "NONEXISTENT_ID")
        return table

    def _submit(self, req, rtype: str, action):
        """What every write verb shares: the idempotency key (a repeated one -> 400 IDEMPOTENCY_ERROR with
        `Location` of the first job), the job that stores the outcome, and the sync (204 + `Location` of
        the record) or async (`Prefer: respond-async` -> 202 + `Location` of the job) answer.
        `action(table, body, key)` validates and applies the write under the world lock, returns the id."""
        table = self._table(rtype)
        key = req.headers.get("X-NetSuite-Idempotency-Key")
        is_async = "respond-async" in req.headers.get("Prefer", "").lower()
        with self._write_lock:  # one writer at a time: a repeated key can never write twice
            if key is not None:
                prior = self.idempotency.get(key)
                if prior is not None:
                    raise _err(400, f"The idempotency key '{key}' was already used by job {prior['id']}. See the "
                                    "Location header for a link to the previously submitted job.",
                               "IDEMPOTENCY_ERROR", headers=[("Location", self._job_url(req, prior["id"]))])
            with self.world.lock:
                try:
                    body = req.json()
                    if not isinstance(body, dict):
                        raise _err(400, "The request body must be a JSON object.", "INVALID_CONTENT")
                    rid = action(table, body, key)
                    result = Response(204, b"", [("Location", f"{req.base_url}/services/rest/record/v1/{rtype}/{rid}")])
                except ApiError as e:
                    result = self.error_response(e)
            job_id = str(len(self.jobs) + 1)
            job = {"id": job_id, "result": result, "failed": result.status >= 400}
            self.jobs[job_id] = job
            if key is not None:
                self.idempotency[key] = job
        if is_async:
            return Response(202, b"", [("Location", self._job_url(req, job_id))])
        return result

    @staticmethod
    def _job_url(req, job_id: str) -> str:
        return f"{req.base_url}/services/rest/async/v1/job/{job_id}"

    def create(self, req, rtype):
        def action(table, body, key):
            rec = self._validate(table, body)
            return self._insert(table, rec, self._external_id(body, table), key, body, "POST")
        return self._submit(req, rtype, action)

    def update(self, req, rtype, ref):
        def action(table, body, key):
            old = self._find(table, ref)
            if old is None:
                raise _missing()
            return self._change(table, old, body, key, "PATCH")
        return self._submit(req, rtype, action)

    def upsert(self, req, rtype, ref):
        """PUT .../eid:{externalId}: update the record with that external id, or create it."""
        def action(table, body, key):
            if not ref.startswith("eid:"):
                raise _err(400, "Upsert requires an external ID in the URL: PUT /record/v1/{type}/eid:{externalId}.",
                           "INVALID_REQUEST")
            ext = _eid(ref)
            if body.get("externalId") not in (None, ext):
                raise _err(400, f"The externalId in the body ({body['externalId']}) does not match the URL ({ext}).",
                           "INVALID_FLD_VALUE", "externalId")
            body = {**body, "externalId": ext}
            old = self._find(table, ref)
            if old is not None:
                return self._change(table, old, body, key, "PUT")
            return self._insert(table, self._validate(table, body), ext, key, body, "PUT")
        return self._submit(req, rtype, action)

    def delete(self, req, rtype, ref):
        def action(table, body, key):
            old = self._find(table, ref)
            if old is None:
                raise _missing()
            self._guard(table, old)
            w = self.world
            w.ns_delete(table, RECORD_NAME[table], old["id"], w.now)
            self._log("delete", "DELETE", table, old["id"], key, old.get("externalid"), body)
            return old["id"]
        # DELETE usually has no body: treat an empty one as {}
        req.body = req.body or b"{}"
        return self._submit(req, rtype, action)

    def _find(self, table: str, ref: str) -> dict | None:
        if ref.startswith("eid:"):
            ext = _eid(ref)
            ids = self.world.ns[table].find("externalid", ext)
            return self.world.ns[table].get(ids[0]) if ids else None
        return self.world.ns[table].get(int(ref))

    def _change(self, table, old, body, key, verb) -> int:
        """A partial update: the record's current values, overlaid with the body, validated as on create."""
        self._guard(table, old)
        rec = self._validate(table, {**_as_body(table, old), **body})
        ext = self._external_id(body, table, own=old["id"]) if "externalId" in body else old.get("externalid")
        w = self.world
        stamp = "lastmodified" if table.startswith("customrecord") else "lastmodifieddate"
        w.ns[table].put(old["id"], {**old, **rec, "externalid": ext, stamp: w.now})
        self._log("update", verb, table, old["id"], key, ext, body)
        return old["id"]

    def _guard(self, table, rec) -> None:
        """Billed time and records dated in a closed period cannot be changed or deleted."""
        if table == "timebill":
            inv = billed_by(self.world, rec["id"])
            if inv is not None:
                raise _err(400, f"This time entry has been billed on {inv}. You cannot change or delete billed "
                                "time.", "CANT_MODIFY_BILLED_TIME")
            self._check_period(rec["trandate"], "tranDate", "changed or deleted")
        else:
            self._check_period(rec["custrecord_hbe_date"], "custrecord_hbe_date", "changed or deleted")

    def _validate(self, table, body) -> dict:
        return (self._timebill_fields if table == "timebill" else self._billing_event_fields)(body)

    def _ref(self, body, name, table, label):
        ref = body.get(name)
        rid = ref.get("id") if isinstance(ref, dict) else ref
        if rid in (None, ""):
            raise _err(400, f"Please enter value(s) for: {label}", "USER_ERROR", name)
        try:
            rec = self.world.ns[table].get(int(rid))
        except (TypeError, ValueError):
            rec = None
        if rec is None:
            raise _err(400, f"Invalid Field Value {rid} for the following field: {name}", "INVALID_KEY_OR_REF", name)
        return rec

    def _check_period(self, day: int, path: str, what: str = "posted"):
        for p in self.world.ns["accountingperiod"].rows.values():
            if p["startdate"] <= day <= p["enddate"]:
                if p["closed"] == "T":
                    raise _err(400, f"The accounting period {p['periodname']} is closed. A transaction dated in a "
                                    f"closed period cannot be {what}.", "INVALID_FLD_VALUE", path)
                return
        raise _err(400, "No accounting period exists for this date.", "INVALID_FLD_VALUE", path)

    def _date(self, body, name):
        v = body.get(name)
        if not v:
            raise _err(400, f"Please enter value(s) for: {name}", "USER_ERROR", name)
        try:
            return clock.parse_day(str(v))
        except ValueError:
            raise _err(400, f"Invalid date value {v!r}. Use YYYY-MM-DD.", "INVALID_FLD_VALUE", name) from None

    def _subsidiary(self, body, expected: int, what: str):
        sub = body.get("subsidiary")
        if sub is None:
            return
        sid = sub.get("id") if isinstance(sub, dict) else sub
        if str(sid) != str(expected):
            raise _err(400, f"Invalid Field Value {sid} for the following field: subsidiary. The {what} belongs "
                            f"to subsidiary {expected}.", "INVALID_FLD_VALUE", "subsidiary")

    def _external_id(self, body, table, own: int | None = None):
        ext = body.get("externalId")
        if ext is not None and any(rid != own for rid in self.world.ns[table].find("externalid", str(ext))):
            raise _err(400, f"A record with external ID {ext} already exists.", "DUP_RCRD", "externalId")
        return None if ext is None else str(ext)

    def _timebill_fields(self, body) -> dict:
        emp = self._ref(body, "employee", "employee", "Employee")
        job = self._ref(body, "customer", "job", "Customer:Project")
        day = self._date(body, "tranDate")
        hours = body.get("hours")
        try:
            if isinstance(hours, str) and ":" in hours:
                h, m = hours.split(":")
                hours = int(h) + int(m) / 60
            hours = float(hours)
        except (TypeError, ValueError):
            raise _err(400, "Please enter value(s) for: Duration", "USER_ERROR", "hours") from None
        if not 0 < hours <= 24:
            raise _err(400, f"Invalid Field Value {hours} for the following field: hours", "INVALID_FLD_VALUE", "hours")
        if job.get("entitystatus") == "Closed":
            raise _err(400, f"Project {job['entityid']} is closed; time cannot be entered.", "INVALID_FLD_VALUE",
                       "customer")
        item = None
        if body.get("item") not in (None, "", {}):  # optional, as on the real timeBill: the service item
            item = self._ref(body, "item", "item", "Item")
            if item.get("isinactive") == "T":
                raise _err(400, f"Invalid Field Value {item['id']} for the following field: item",
                           "INVALID_KEY_OR_REF", "item")
        self._subsidiary(body, emp["subsidiary"], "employee")
        self._check_period(day, "tranDate")
        return {"employee": emp["id"], "customer": job["id"], "item": item["id"] if item else None,
                "hours": f"{hours:.2f}", "trandate": day,
                "subsidiary": emp["subsidiary"], "isbillable": "T" if body.get("isBillable", True) else "F",
                "memo": body.get("memo")}

    def _billing_event_fields(self, body) -> dict:
        job = self._ref(body, "custrecord_hbe_job", "job", "Project")
        milestone = body.get("custrecord_hbe_milestone")
        if not milestone:
            raise _err(400, "Please enter value(s) for: Milestone", "USER_ERROR", "custrecord_hbe_milestone")
        try:
            amount = float(body.get("custrecord_hbe_amount"))
        except (TypeError, ValueError):
            raise _err(400, "Please enter value(s) for: Amount", "USER_ERROR", "custrecord_hbe_amount") from None
        if amount <= 0:
            raise _err(400, "Amount must be positive.", "INVALID_FLD_VALUE", "custrecord_hbe_amount")
        currency = CURRENCY_CODE[job["currency"]]
        if body.get("custrecord_hbe_currency", currency) != currency:
            raise _err(400, f"Currency {body.get('custrecord_hbe_currency')} does not match the project currency "
                            f"{currency}.", "INVALID_FLD_VALUE", "custrecord_hbe_currency")
        day = self._date(body, "custrecord_hbe_date")
        self._subsidiary(body, job["subsidiary"], "project")
        self._check_period(day, "custrecord_hbe_date")
        return {"name": str(milestone), "custrecord_hbe_job": job["id"], "custrecord_hbe_milestone": str(milestone),
                "custrecord_hbe_amount": f"{amount:.2f}", "custrecord_hbe_currency": currency,
                "custrecord_hbe_date": day, "isinactive": "F"}

    def _insert(self, table, rec, ext, key, body, verb) -> int:
        w = self.world
        rid = w.next_id(f"ns_{table}", 900000 if table == "timebill" else 1)
        now = w.now
        stamps = ({"created": now, "lastmodified": now} if table.startswith("customrecord")
                  else {"datecreated": now, "lastmodifieddate": now})
        w.ns[table].put(rid, {"id": rid, **rec, "externalid": ext, **stamps})
        self._log("create", verb, table, rid, key, ext, body)
        return rid

    def _log(self, op, verb, table, rid, key, ext, body) -> None:
        w = self.world
        w.ledger.append({"ledger_seq": len(w.ledger) + 1, "op": op, "verb": verb,
                         "record_type": "timeBill" if table == "timebill" else table,
                         "id": rid, "idempotency_key": key, "external_id": ext, "tick": w.tick,
                         "accepted_at": clock.iso_z(w.now), "body": body})

    def get_record(self, req, rtype, ref):
        table = RECORD_TYPES.get(rtype.lower()) or {"job": "job", "employee": "employee", "customer": "customer",
                                                 "serviceitem": "item", "currency": "currency"}.get(rtype.lower())
        rec = self._find(table, ref) if table else None
        if rec is None:
            raise _missing()
        out = {"links": [{"rel": "self", "href": f"{req.base_url}{req.path}"}]}
        for k, v in rec.items():
            if v is not None:
                out[k] = v
        return out

    def job(self, req, job):
        j = self.jobs.get(job)
        if j is None:
            raise _err(404, "The async job does not exist.", "NONEXISTENT_ID")
        href = f"{req.base_url}/services/rest/async/v1/job/{job}"
        return {"id": job, "completed": True, "progress": "failed" if j["failed"] else "succeeded",
                "links": [{"rel": "self", "href": href}],
                "task": {"links": [{"rel": "related", "href": f"{href}/task/{job}"}]}}

    def tasks(self, req, job):
        """The job's tasks (one per request here), as a NetSuite collection."""
        if job not in self.jobs:
            raise _err(404, "The async job does not exist.", "NONEXISTENT_ID")
        href = f"{req.base_url}/services/rest/async/v1/job/{job}/task"
        return {"links": [{"rel": "self", "href": href}], "count": 1, "hasMore": False, "offset": 0,
                "totalResults": 1, "items": [{"links": [{"rel": "self", "href": f"{href}/{job}"}]}]}

    def task(self, req, job, task):
        j = self.jobs.get(job)
        if j is None or task != job:
            raise _err(404, "The async job task does not exist.", "NONEXISTENT_ID")
        href = f"{req.base_url}/services/rest/async/v1/job/{job}/task/{task}"
        return {"id": task, "completed": True, "progress": "failed" if j["failed"] else "succeeded",
                "links": [{"rel": "self", "href": href}, {"rel": "related", "href": f"{href}/result"}]}

    def job_result(self, req, job, task):
        j = self.jobs.get(job)
        if j is None or task != job:
            raise _err(404, "The async job task does not exist.", "NONEXISTENT_ID")
        r = j["result"]
        return Response(r.status, r.body, list(r.headers))

    # ---- admin --------------------------------------------------------------------------
    def admin(self, req):
        if (req.method, req.path) == ("GET", "/__sim/ledger"):
            with self.world.lock:
                return {"ledger": self.world.ledger}
        if (req.method, req.path) == ("POST", "/__sim/bill"):
            return self._bill(req.json() or {})
        if (req.method, req.path) == ("POST", "/__sim/close_period"):
            return self._close_period(req.json() or {})
        return super().admin(req)

    def _close_period(self, body: dict) -> dict:
        """Close the accounting period holding `{"date": "YYYY-MM-DD"}` (the clock never closes one)."""
        try:
            day = clock.parse_day(str(body.get("date")))
        except ValueError:
            raise ApiError(400, "date= YYYY-MM-DD is required") from None
        w = self.world
        with w.lock:
            for p in w.ns["accountingperiod"].values():
                if p["startdate"] <= day <= p["enddate"] and p["isquarter"] != "T" and p["isyear"] != "T":
                    p = w.ns_touch("accountingperiod", p["id"], w.now, closed="T")
                    return {"period": p["periodname"], "closed": p["closed"]}
        raise ApiError(404, f"no accounting period holds {body.get('date')}")

    def _bill(self, body: dict) -> dict:
        """Bill timebills by hand (tests): `{"ids": [...]}` and/or `{"external_ids": [...]}`."""
        with self.world.lock:
            rows = self.world.ns["timebill"]
            ids = []
            for rid in body.get("ids") or []:
                if rows.get(int(rid)) is None:
                    raise ApiError(404, f"no timebill {rid}")
                ids.append(int(rid))
            for ext in body.get("external_ids") or []:
                rec = self._find("timebill", f"eid:{ext}")
                if rec is None:
                    raise ApiError(404, f"no timebill with external id {ext}")
                ids.append(rec["id"])
            mark_billed(self.world, ids)
            return {"billed": ids}

    def truth(self, obj):
        name = obj.lower()
        if name in LIVE:
            return self._live(LIVE[name])
        if name not in self.world.ns:
            raise KeyError(obj)
        from .suiteql import render_row
        cols = [Star(c) for c in SCHEMAS[name]]
        recs = []
        for r in self.world.ns[name].values():
            item = render_row(r, cols)
            item.pop("links")
            ts = r.get("lastmodified") or r.get("lastmodifieddate") or r.get("deleteddate")
            if ts is not None:
                item["_lastmodified_iso"] = clock.iso_z(ts)
            recs.append(item)
        deleted = [str(d["recordid"]) for d in self.world.ns["deletedrecord"].values()
                   if RECORD_NAME.get(name) == d["recordtype"]]
        return {"records": recs, "deleted_ids": deleted}

    def _live(self, table: str) -> dict:
        """The live records per external id (what an exactly-once writer is judged by): `by_external_id`
        {externalId: [ids]}, `duplicates` (external ids held by more than one record), `without_external_id`,
        and the records themselves (`records`, with `billed`: the invoice's tranid for billed time)."""
        base = self.truth(table)
        by_ext: dict[str, list[str]] = {}
        without = []
        for r in base["records"]:
            if table == "timebill":
                r["billed"] = billed_by(self.world, int(r["id"]))
            if r.get("externalid") is None:
                without.append(r["id"])
            else:
                by_ext.setdefault(r["externalid"], []).append(r["id"])
        return {**base, "by_external_id": by_ext, "duplicates": sorted(e for e, v in by_ext.items() if len(v) > 1),
                "without_external_id": without}


LIVE = {"timebill_live": "timebill", "billing_event_live": "customrecord_handoff_billing_event",
        "customrecord_handoff_billing_event_live": "customrecord_handoff_billing_event"}
RECORD_NAME = {"transaction": "invoice", "customer": "customer", "job": "job", "timebill": "timebill",
               "customrecord_handoff_billing_event": "customrecord_handoff_billing_event"}



"""HubSpot CRM v3: private-app bearer token, list with `after` cursors, search with filterGroups,
the 10,000-result search cap, archived records, string property values, rate-limit headers."""

from __future__ import annotations

import json

from . import clock
from .http import ApiError, SystemServer, correlation_id

OBJECTS = {"companies": "companies", "0-2": "companies", "contacts": "contacts", "0-1": "contacts",
           "deals": "deals", "0-3": "deals", "line_items": "line_items", "0-8": "line_items"}
DEFAULT_PROPS = {
    "companies": ["name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"],
    "contacts": ["firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"],
    "deals": ["dealname", "amount", "dealstage", "pipeline", "closedate", "createdate", "hs_lastmodifieddate",
              "hs_object_id"],
    "line_items": ["name", "quantity", "price", "amount", "createdate", "hs_lastmodifieddate", "hs_object_id"],
}
ALWAYS = {"companies": ["createdate", "hs_lastmodifieddate", "hs_object_id"],
          "contacts": ["createdate", "lastmodifieddate", "hs_object_id"],
          "deals": ["createdate", "hs_lastmodifieddate", "hs_object_id"],
          "line_items": ["createdate", "hs_lastmodifieddate", "hs_object_id"]}
DATE_PROPS = {"createdate", "hs_lastmodifieddate", "lastmodifieddate", "closedate"}
NUM_PROPS = {"amount", "quantity", "price", "hs_object_id"}
ASSOC = {("deals", "companies"): "_company", ("line_items", "deals"): "_deal",
         ("contacts", "companies"): "associatedcompanyid"}
ASSOC_TYPE_ID = {("deals", "companies"): 5, ("line_items", "deals"): 20, ("contacts", "companies"): 1}  # primary
SEARCH_CAP = 10_000
POLICIES = {"burst": "TEN_SECONDLY_ROLLING", "search": "SECONDLY"}  # pacing limit name -> policyName
OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
             "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}


def _norm(prop: str, v):
    """Comparable form of a property value (dates -> epoch seconds, numbers -> float)."""
    if v is None:
        return None
    try:
        if prop in DATE_PROPS:
            return clock.parse_ts(v)
        if prop in NUM_PROPS:
            return float(v)
    except ValueError:
        raise ApiError(400, f"Invalid value '{v}' for property {prop}", "VALIDATION_ERROR") from None
    return str(v).lower()


def _match(rec: dict, flt: dict, obj: str) -> bool:
    prop, op = flt.get("propertyName"), flt.get("operator")
    if not prop or op not in OPERATORS:
        raise ApiError(400, f"Invalid filter: {json.dumps(flt)}", "VALIDATION_ERROR")
    if obj == "contacts" and prop == "hs_lastmodifieddate":
        return False  # as public connectors report: contacts are only searchable by lastmodifieddate
    raw = rec["properties"].get(prop)
    if op == "HAS_PROPERTY":
        return raw not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return raw in (None, "")
    a = _norm(prop, raw)
    if op in ("IN", "NOT_IN"):
        vals = {_norm(prop, v) for v in flt.get("values") or []}
        return (a in vals) == (op == "IN")
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        tok = str(flt.get("value", "")).lower().strip("*")
        return (a is not None and tok in a) == (op == "CONTAINS_TOKEN")
    b = _norm(prop, flt.get("value"))
    if a is None:
        return op == "NEQ"
    if op == "BETWEEN":
        return b <= a <= _norm(prop, flt.get("highValue"))
    try:
        return {"EQ": a == b, "NEQ": a != b, "LT": a < b, "LTE": a <= b, "GT": a > b, "GTE": a >= b}[op]
    except TypeError:
        return False


class HubSpotServer(SystemServer):
    system = "hubspot"
    search_cap = SEARCH_CAP  # an attribute so tests can reach the cap with a small world

    def add_routes(self):
        objs = "|".join(OBJECTS)
        base = r"/crm/v3/objects/(?P<obj>%s)" % objs
        self.route("GET", base, self.list)
        self.route("POST", base + "/search", self.search)
        self.route("GET", base + r"/(?P<rid>\d+)", self.get)
        self.route("POST", r"/crm/v4/associations/(?P<frm>%s)/(?P<to>%s)/batch/read" % (objs, objs),
                   self.associations)

    # ---- auth / errors / headers ---------------------------------------------------------
    def authenticate(self, req):
        tok = req.bearer()
        if tok is None or not self.credentials.matches(self.credentials.client_id, tok):
            raise ApiError(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                                "and you can find more details at https://developers.hubspot.com/docs/methods/auth/"
                                "oauth-overview", "INVALID_AUTHENTICATION")
        if self.take_expire_once():
            raise ApiError(401, "The OAuth token used to make this call expired.", "EXPIRED_AUTHENTICATION")

    def error_body(self, e):
        return {"status": "error", "message": e.message, "correlationId": correlation_id(),
                "category": e.code if e.code in ("INVALID_AUTHENTICATION", "EXPIRED_AUTHENTICATION",
                                                 "VALIDATION_ERROR", "OBJECT_NOT_FOUND", "RATE_LIMITS")
                else ("OBJECT_NOT_FOUND" if e.status == 404 else "VALIDATION_ERROR" if e.status < 500
                      else "INTERNAL_ERROR")}

    def rate_limit_error(self, retry_after, refusal=None):
        # The pacing limits' names map to HubSpot's policies: the rolling ten-second burst limit of
        # private apps, and the per-second limit of the search endpoints.
        policy = "TEN_SECONDLY_ROLLING"
        if refusal is not None:
            policy = POLICIES.get(refusal.limit.name, refusal.limit.name.upper())
        msg = f"You have reached your {policy.lower()} limit."
        return ApiError(429, msg, "RATE_LIMITS",
                        body={"status": "error", "message": msg, "errorType": "RATE_LIMIT",
                              "correlationId": correlation_id(), "policyName": policy, "category": "RATE_LIMITS"})

    def extra_headers(self, req):
        out = [("X-HubSpot-RateLimit-Daily", "250000"),
               ("X-HubSpot-RateLimit-Daily-Remaining", str(max(0, 250000 - self.requests)))]
        state = req.pacing.tightest() if req is not None else None
        if state is not None:  # the window limit this request is closest to (the refusing one on a 429)
            lim, n = state
            out += [("X-HubSpot-RateLimit-Interval-Milliseconds", str(int(lim.seconds * 1000))),
                    ("X-HubSpot-RateLimit-Max", str(lim.requests)),
                    ("X-HubSpot-RateLimit-Remaining", str(max(0, lim.requests - n)))]
        return out

    def records_in(self, body):
        if isinstance(body, dict):
            for r in body.get("results", []) if "results" in body else [body]:
                if isinstance(r, dict) and isinstance(r.get("properties"), dict):
                    yield r["properties"]

    # ---- rendering -----------------------------------------------------------------------
    def _render(self, rec, obj, props, assoc=()):
        wanted = props or DEFAULT_PROPS[obj]
        p = rec["properties"]
        out_props = {k: p.get(k) for k in dict.fromkeys(list(wanted) + ALWAYS[obj]) if k in p or k in wanted}
        out = {"id": rec["id"], "properties": out_props, "createdAt": rec["createdAt"],
               "updatedAt": rec["updatedAt"], "archived": rec["archived"]}
        if rec.get("archivedAt"):
            out["archivedAt"] = rec["archivedAt"]
        links = {}
        for other in assoc:
            field = ASSOC.get((obj, OBJECTS.get(other, other)))
            target = rec.get(field) if field and field.startswith("_") else p.get(field) if field else None
            if target:
                singular = {"companies": "company", "deals": "deal"}[OBJECTS.get(other, other)]
                links[OBJECTS.get(other, other)] = {"results": [{"id": target, "type": f"{obj[:-1]}_to_{singular}"}]}
        if links:
            out["associations"] = links
        return out

    def _props(self, values) -> list[str]:
        return [p for v in values for p in str(v).split(",") if p]

    # ---- endpoints -----------------------------------------------------------------------
    def list(self, req, obj):
        obj = OBJECTS[obj]
        try:
            limit = min(100, max(1, int(req.arg("limit", 10))))
            after = int(req.arg("after", 0) or 0)
        except ValueError:
            raise ApiError(400, "limit and after must be integers", "VALIDATION_ERROR") from None
        archived = (req.arg("archived", "false") or "false").lower() == "true"
        rows = sorted((r for r in self.world.hs[obj].values() if r["archived"] == archived and int(r["id"]) >= after),
                      key=lambda r: int(r["id"]))
        page = rows[:limit]
        props, assoc = self._props(req.query.get("properties", [])), req.args("associations")
        out = {"results": [self._render(r, obj, props, assoc) for r in page]}
        if len(rows) > limit:
            nxt = rows[limit]["id"]
            out["paging"] = {"next": {"after": nxt, "link": f"{req.base_url}{req.path}?after={nxt}"}}
        return out

    def get(self, req, obj, rid):
        obj = OBJECTS[obj]
        rec = self.world.hs[obj].get(rid)
        archived = (req.arg("archived", "false") or "false").lower() == "true"
        if rec is None or rec["archived"] != archived:
            raise ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        return self._render(rec, obj, self._props(req.query.get("properties", [])), req.args("associations"))

    def search(self, req, obj):
        obj = OBJECTS[obj]
        body = req.json() or {}
        if not isinstance(body, dict):
            raise ApiError(400, "Invalid input JSON", "VALIDATION_ERROR")
        try:
            limit = int(body.get("limit", 10))
            after = int(body.get("after", 0) or 0)
        except (TypeError, ValueError):
            raise ApiError(400, "limit and after must be integers", "VALIDATION_ERROR") from None
        if limit > 200 or limit < 1:
            raise ApiError(400, f"limit must be between 1 and 200, got {limit}", "VALIDATION_ERROR")
        cap = self.search_cap
        if after >= cap:  # paging past the cap is a 400; a page that reaches it is cut at it (*unverified*)
            raise ApiError(400, f"There was a problem with the request. Search results are limited to {cap:,}: "
                                f"'after' must be below {cap}.", "VALIDATION_ERROR")
        groups = body.get("filterGroups") or []
        rows = [r for r in self.world.hs[obj].values() if not r["archived"]]
        if groups:
            rows = [r for r in rows if any(all(_match(r, f, obj) for f in g.get("filters", [])) for g in groups)]
        if body.get("query"):
            ql = str(body["query"]).lower()
            rows = [r for r in rows if any(ql in str(v).lower() for v in r["properties"].values() if v)]
        rows.sort(key=lambda r: int(r["id"]))
        for s in reversed(body.get("sorts") or []):
            if isinstance(s, str):
                name, desc = s.lstrip("-"), s.startswith("-")
            else:
                name, desc = s.get("propertyName"), str(s.get("direction", "ASCENDING")).upper() == "DESCENDING"
            rows.sort(key=lambda r, n=name: (r["properties"].get(n) is None, _norm(n, r["properties"].get(n)) or 0),
                      reverse=desc)
        end = min(after + limit, cap)
        page = rows[after: end]
        out = {"total": len(rows), "results": [self._render(r, obj, self._props(body.get("properties") or []))
                                               for r in page]}
        if end < len(rows):  # `total` counts every match; paging.next may point at the cap itself
            out["paging"] = {"next": {"after": str(end)}}
        return out

    def associations(self, req, frm, to):
        """v4 `POST /crm/v4/associations/{from}/{to}/batch/read` `{"inputs": [{"id"}]}` (at most 1,000):
        `{status, results: [{from: {id}, to: [{toObjectId (integer), associationTypes: [{category,
        typeId, label}]}]}], startedAt, completedAt}`; ids with no association (or unknown) are
        listed in `errors` (*unverified*: the real one answers 207 Multi-Status then; here 200)."""
        frm, to = OBJECTS[frm], OBJECTS[to]
        body = req.json() or {}
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) > 1000:
            raise ApiError(400, "Invalid input JSON: 'inputs' must be a list of at most 1000 {id} objects.",
                           "VALIDATION_ERROR")
        field = ASSOC.get((frm, to))
        stamp = clock.hs_datetime(self.world.now)
        results, missing = [], []
        for inp in inputs:
            rid = str(inp.get("id") if isinstance(inp, dict) else inp)
            rec = self.world.hs[frm].get(rid)
            target = None
            if rec is not None and field:
                target = rec.get(field) if field.startswith("_") else rec["properties"].get(field)
            if target:
                results.append({"from": {"id": rid}, "to": [{"toObjectId": int(target), "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": ASSOC_TYPE_ID[(frm, to)], "label": None}]}]})
            else:
                missing.append(rid)
        out = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
        if missing:
            out.update(numErrors=1, errors=[{"status": "error", "category": "OBJECT_NOT_FOUND",
                                              "message": f"No {to} is associated with {frm} {', '.join(missing)}.",
                                              "context": {"fromObjectId": missing}}])
        return out

    def truth(self, obj):
        if obj not in self.world.hs:
            raise KeyError(obj)
        recs, deleted = [], []
        for r in self.world.hs[obj].values():
            (deleted.append(r["id"]) if r["archived"] else
             recs.append({k: v for k, v in r.items() if not k.startswith("_")}))
        return {"records": recs, "deleted_ids": deleted}

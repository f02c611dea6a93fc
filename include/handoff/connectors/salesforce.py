"""Salesforce REST: OAuth2 client credentials (the token may move the base URL), SOQL queries,
`SELECT COUNT()` counts, and Bulk API 2.0 query jobs.

Settings (connection extra): `api_version` (default 62.0), `batch_size` (Sforce-Query-Options),
`fields_<Object>` (extra fields to select, comma list), `bulk_threshold` (records in a window
from which the extract reads it through Bulk API 2.0; default 10000), `bulk_max_records`
(`maxRecords` of each Bulk results chunk; default 10000: a chunk is held whole while its rows
are handed out, once per concurrent window).

Bulk API 2.0 (`bulk_query`): create a `queryAll`/`query` job, poll it with a bounded backoff,
read its CSV results chunk by chunk following `Sforce-Locator`, and give each row the JSON
shape the REST query gives it: values typed from the object's `describe` (booleans, numbers;
empty = null, as Salesforce writes null), datetimes back in the REST form (`.000+0000`), and
`attributes: {type, url}`. The job is deleted at the end, also when reading stops early.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

from handoff.connectors.auth import OAuthClientCredentials
from handoff.connectors.http import RetriesExhausted, SystemApiError, SystemClient, SystemHook

log = logging.getLogger(__name__)
_FROM = re.compile(r"\bFROM\s+(\w+)", re.I)
_NUMERIC = frozenset({"int", "double", "currency", "percent", "long"})
_number = msgspec.json.Decoder().decode


class Hook(SystemHook, system="salesforce"):
    """The connection (type and settings from `handoff.systems`)."""


class BulkJobFailed(RuntimeError):
    """A Bulk API 2.0 query job ended Failed or Aborted (Salesforce's errorMessage included)."""


class BulkJobExpired(RuntimeError):
    """A Bulk API 2.0 job disappeared (404) while it was polled or read: run the query again."""


@dataclass(frozen=True)
class BulkPoll:
    """How a Bulk job is polled: from `initial` seconds, doubling up to `cap`, for at most `timeout`."""

    initial: float = 0.05
    cap: float = 5.0
    timeout: float = 3600.0


class Client(SystemClient, hook=Hook):
    bulk_poll = BulkPoll()
    bulk_page_records = 2000  # records per list yielded by bulk_query (a REST batch's size)

    def make_auth(self):
        return OAuthClientCredentials("services/oauth2/token")

    def probe(self) -> str:
        body = next(self.query("SELECT Id FROM User LIMIT 1", include_deleted=False))
        return f"{body.get('totalSize', 0)} user(s) through SOQL"

    @property
    def api(self) -> str:
        return f"services/data/v{self.setting('api_version')}"

    def query(self, soql: str, include_deleted: bool = True) -> Iterator[dict]:
        """Each batch of a SOQL query (`queryAll` when deleted rows are wanted), following the
        server-side locator (`nextRecordsUrl`) until `done`."""
        batch = self.setting("batch_size")
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
        endpoint = "queryAll" if include_deleted else "query"
        body = self.json("GET", f"{self.api}/{endpoint}", params={"q": soql}, headers=headers)
        while True:
            yield body
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            body = self.json("GET", body["nextRecordsUrl"], headers=headers)

    def count(self, obj: str, where: str = "", include_deleted: bool = True) -> int:
        """`SELECT COUNT() FROM obj [WHERE where]`: one request, the number in `totalSize`."""
        soql = f"SELECT COUNT() FROM {obj}" + (f" WHERE {where}" if where else "")
        endpoint = "queryAll" if include_deleted else "query"
        return int(self.json("GET", f"{self.api}/{endpoint}", params={"q": soql})["totalSize"])

    def describe(self, obj: str) -> dict[str, str]:
        """Field name -> Salesforce type (`GET sobjects/{obj}/describe`), cached per client."""
        cache = self.__dict__.setdefault("_describe", {})
        if obj not in cache:
            body = self.json("GET", f"{self.api}/sobjects/{obj}/describe")
            cache[obj] = {f["name"]: f.get("type", "string") for f in body.get("fields", [])}
        return cache[obj]

    # ---- Bulk API 2.0 ---------------------------------------------------------------------
    def bulk_query(self, soql: str, include_deleted: bool = True, poll: BulkPoll | None = None) -> Iterator[list[dict]]:
        """The records of a Bulk API 2.0 query job, in lists of at most `bulk_page_records`, each
        record shaped as the REST query shapes it. Raises `BulkJobFailed` when the job fails or is
        aborted, `BulkJobExpired` when it disappears (404) before its last chunk is read."""
        m = _FROM.search(soql)
        if not m:
            raise ValueError(f"no FROM in the SOQL: {soql!r}")
        types = self.describe(m.group(1))
        job = self.json("POST", f"{self.api}/jobs/query", replay_safe=True,  # a read: a twin job is harmless
                        json={"operation": "queryAll" if include_deleted else "query", "query": soql,
                              "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"})
        jid, obj = job["id"], job.get("object") or m.group(1)
        delete = True
        try:
            job = self._bulk_wait(jid, obj, poll or self.bulk_poll)
            log.info("salesforce Bulk job %s (%s): %s records", jid, obj, job.get("numberRecordsProcessed"))
            yield from self._bulk_results(jid, obj, types)
        except BulkJobExpired:
            delete = False
            raise
        finally:
            if delete:
                self._bulk_delete(jid)

    def _bulk_job_path(self, jid: str) -> str:
        return f"{self.api}/jobs/query/{jid}"

    def _bulk_get(self, jid: str, path: str, **kwargs):
        try:
            return self.send("GET", path, **kwargs)
        except SystemApiError as exc:
            if exc.status == 404:
                raise BulkJobExpired(f"salesforce Bulk API job {jid} no longer exists (404: {exc.message}): "
                                     "it expired or was deleted") from exc
            raise

    def _bulk_wait(self, jid: str, obj: str, poll: BulkPoll) -> dict:
        deadline, wait = time.monotonic() + poll.timeout, poll.initial
        while True:
            job = _json(self._bulk_get(jid, self._bulk_job_path(jid)))
            state = job.get("state")
            if state == "JobComplete":
                return job
            if state in ("Failed", "Aborted"):
                raise BulkJobFailed(f"salesforce Bulk API job {jid} ({obj}) ended {state}: "
                                    f"{job.get('errorMessage') or 'no errorMessage given'}")
            if time.monotonic() + wait > deadline:
                raise BulkJobFailed(f"salesforce Bulk API job {jid} ({obj}) still {state} after "
                                    f"{poll.timeout:.0f} s; giving up (the job is deleted)")
            time.sleep(wait)
            wait = min(poll.cap, wait * 2)

    def _bulk_results(self, jid: str, obj: str, types: dict[str, str]) -> Iterator[list[dict]]:
        max_records = int(self.setting("bulk_max_records") or 10000)
        url_base = f"/{self.api}/sobjects/{obj}/"
        locator = None
        while True:
            params = {"maxRecords": max_records, **({"locator": locator} if locator else {})}
            for _attempt in range(3):
                resp = self._bulk_get(jid, f"{self._bulk_job_path(jid)}/results", params=params)
                declared = resp.headers.get("Sforce-NumberOfRecords")
                next_locator = resp.headers.get("Sforce-Locator")
                # check the chunk before handing any row out: one cut short or garbled is read again
                # (a locator reads the same chunk as long as the job exists), never half-loaded
                try:
                    text = resp.content.decode("utf-8")
                    rows = csv.reader(io.StringIO(text, newline=""), strict=True)
                    header = next(rows, None) or []
                    n, ok = 0, True
                    for row in rows:
                        n += 1
                        ok = ok and len(row) == len(header)
                except (UnicodeDecodeError, csv.Error) as exc:
                    text, n, ok = "", -1, False
                    log.warning("salesforce Bulk job %s: unreadable results chunk (%s)", jid, exc)
                del resp
                if ok and (declared is None or int(declared) == n):
                    break
                log.warning("salesforce Bulk job %s: chunk of %d rows (Sforce-NumberOfRecords %s) is not "
                            "whole; reading it again", jid, n, declared)
            else:
                raise RetriesExhausted(f"salesforce Bulk API job {jid}: results chunk kept arriving short")
            convert = [_converter(types.get(f, "string")) for f in header]
            id_at = header.index("Id") if "Id" in header else None
            rows = csv.reader(io.StringIO(text, newline=""), strict=True)
            next(rows, None)
            page: list[dict] = []
            for row in rows:
                rec = {"attributes": {"type": obj, "url": url_base + (row[id_at] if id_at is not None else "")}}
                for name, conv, value in zip(header, convert, row, strict=True):
                    rec[name] = conv(value)
                page.append(rec)
                if len(page) >= self.bulk_page_records:
                    yield page
                    page = []
            if page:
                yield page
            del text
            if not next_locator or next_locator == "null":
                return
            locator = next_locator

    def _bulk_delete(self, jid: str) -> None:
        try:
            self.send("DELETE", self._bulk_job_path(jid))
        except Exception as exc:  # a job left behind expires on its own; never hide the real outcome
            log.warning("salesforce Bulk job %s: could not delete it: %s", jid, self.redact(str(exc)))


def _json(resp) -> dict:
    return msgspec.json.decode(resp.content)


def _converter(sf_type: str):
    """CSV text -> the JSON value the REST query gives (empty = null)."""
    if sf_type == "boolean":
        return lambda v: None if v == "" else v == "true"
    if sf_type in _NUMERIC:
        return lambda v: None if v == "" else _number(v)
    if sf_type == "datetime":
        return lambda v: None if v == "" else (v[:-1] + "+0000" if v.endswith("Z") else v)
    return lambda v: None if v == "" else v

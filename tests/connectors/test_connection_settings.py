"""Per-system settings come from the connection's extra and never travel as HTTP headers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from handoff.connectors import connect
from handoff.platform.connections import env_name, http_connection


class _Echo(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        _Echo.seen.append(dict(self.headers))
        body = json.dumps({"Report_Entry": [{"Worker_ID": "1"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Echo.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_settings_are_read_not_sent(echo, monkeypatch):
    extra = {"tenant": "acme", "report_owner": "ISU_X", "X-Request-Source": "handoff"}
    monkeypatch.setenv(env_name("handoff_workday"), http_connection(echo, "user", "pw-secret", extra))
    client = connect("workday")
    assert client.setting("tenant") == "acme" and client.setting("report_owner") == "ISU_X"
    assert client.report("Handoff_Workers") == [{"Worker_ID": "1"}]
    (headers,) = _Echo.seen
    assert "tenant" not in {k.lower() for k in headers} and "report_owner" not in {k.lower() for k in headers}
    assert headers["X-Request-Source"] == "handoff"  # a plain extra is still a header, as HttpHook documents
    with pytest.raises(KeyError, match="not a setting"):
        client.setting("api_version")
    client.close()


def test_setting_defaults_and_prefixed_families(echo, monkeypatch):
    monkeypatch.setenv(env_name("handoff_salesforce"),
                       http_connection(echo, "id", "secret", {"fields_Account": "Region__c"}))
    from handoff.connectors.salesforce import Hook

    hook = Hook("handoff_salesforce")
    assert hook.setting("api_version") == "62.0"  # the default
    assert hook.setting("fields_Account") == "Region__c"
    assert hook.setting("fields_Contact") is None
    session = hook.get_conn()
    assert "fields_Account" not in session.headers

"""dbt docs in the Airflow UI: served by plugins/handoff_dbt_docs.py behind the UI's login.

The api-server's own app (plugins included) in-process: 401 without a login, 200 with the token
the UI holds after login; Browse > dbt docs is registered; only the three docs files are served.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def client(tmp_path_factory, airflow_env):
    mp = pytest.MonkeyPatch()
    docs = tmp_path_factory.mktemp("dbt-docs")
    (docs / "index.html").write_text("<html>dbt docs</html>")
    (docs / "manifest.json").write_text("{}")
    (docs / "secrets.json").write_text("{}")  # present in the folder, never served
    mp.setenv("HANDOFF_DBT_ARTIFACTS", str(docs))
    mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-jwt-secret-for-the-docs-route-" + "x" * 64)
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from fastapi.testclient import TestClient

    app = create_app()
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    with TestClient(app) as c:
        yield c, token
    mp.undo()


def test_docs_need_a_login(client):
    c, _ = client
    for path in ("/dbt-docs/", "/dbt-docs/manifest.json", "/dbt-docs/catalog.json"):
        assert c.get(path).status_code == 401, path


def test_docs_are_served_to_a_logged_in_user(client):
    c, token = client
    headers = {"Authorization": f"Bearer {token}"}
    resp = c.get("/dbt-docs/", headers=headers)
    assert resp.status_code == 200 and "dbt docs" in resp.text
    assert c.get("/dbt-docs/manifest.json", headers=headers).json() == {}
    assert c.get("/dbt-docs/catalog.json", headers=headers).status_code == 404  # not generated
    assert c.get("/dbt-docs/secrets.json", headers=headers).status_code == 404
    assert c.get("/dbt-docs/..%2Fsecrets.json", headers=headers).status_code == 404


def test_docs_are_under_browse(client):
    c, token = client
    plugins = c.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}).json()["plugins"]
    ours = next(p for p in plugins if p["name"] == "handoff_dbt_docs")
    view = ours["external_views"][0]
    assert (view["name"], view["href"], view["url_route"]) == ("dbt docs", "/dbt-docs/", "dbt-docs")

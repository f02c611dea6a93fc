"""dbt docs inside the Airflow UI, behind its login: Browse > dbt docs.

Serves the docs `handoff up` generates (`dbt docs generate` into HANDOFF_DBT_ARTIFACTS: index.html,
manifest.json, catalog.json) from the api-server at /dbt-docs/. Every route depends on
`requires_authenticated()`: without the UI's session cookie or a bearer token the answer is 401
(cosmos' own dbt-docs plugin serves them to anyone, so it is not used).
"""

from __future__ import annotations

from pathlib import Path

from airflow.api_fastapi.core_api.security import requires_authenticated
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse

URL_PREFIX = "/dbt-docs"
FILES = {"index.html": "text/html", "manifest.json": "application/json", "catalog.json": "application/json"}


def docs_dir() -> Path:
    from handoff.transform.settings import artifacts_dir

    return artifacts_dir()


def create_app() -> FastAPI:
    app = FastAPI(title="dbt docs", dependencies=[Depends(requires_authenticated())])

    def serve(name: str) -> FileResponse:
        path = docs_dir() / name
        if not path.is_file():
            raise HTTPException(404, f"{name} is not generated yet: `handoff up` runs `dbt docs generate` into "
                                     f"{docs_dir()}")
        return FileResponse(path, media_type=FILES[name], headers={"Cache-Control": "no-store"})

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return serve("index.html")

    @app.get("/{name}", include_in_schema=False)
    def artifact(name: str) -> FileResponse:
        if name not in FILES:  # only these three: never a path into the folder
            raise HTTPException(404, "not a dbt docs file")
        return serve(name)

    return app


class HandoffDbtDocsPlugin(AirflowPlugin):
    name = "handoff_dbt_docs"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "dbt docs"}]
    external_views = [{"name": "dbt docs", "href": f"{URL_PREFIX}/", "url_route": "dbt-docs",
                       "category": "browse", "destination": "nav"}]

"""A developer's warehouse with a simulated world in raw, for writing dbt models.

    .venv/bin/python tests/transform/devworld.py --dir /tmp/devpg --port 56432 --scale tiny [--ticks 24]

Starts (or reuses) a private PostgreSQL cluster in --dir on --port (trust auth on loopback: any
password works), creates the roles and the warehouse, starts the simulators in this process,
lands every stream in raw, optionally advances the world --ticks hours and extracts again, stops
the simulators and leaves Postgres running. Prints the dbt environment to export.
Stop the cluster with `--stop`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import psycopg

from handoff.extract.everything import extract_everything
from handoff.extract.sources import raw_tables
from handoff.platform import bootstrap
from handoff.platform.connections import connection_env
from handoff.platform.postgres import LocalPostgres
from handoff.sim.cluster import SimCluster
from handoff.sim.http import SimCredentials
from handoff.warehouse.migrate import migrate


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--dir", default="/tmp/handoff-devpg")
    p.add_argument("--port", type=int, default=56432)
    p.add_argument("--db", default="handoff")
    p.add_argument("--scale", default="tiny")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--ticks", type=int, default=0)
    p.add_argument("--stop", action="store_true")
    a = p.parse_args(argv)
    pg = LocalPostgres(root=Path(a.dir), port=a.port)
    if a.stop:
        pg.stop(mode="fast")
        return 0
    if not pg.initialized():
        pg.init()
    if not pg.is_running():
        pg.start()
    bootstrap.bootstrap(pg.url("postgres"), {}, warehouse_db=a.db, airflow_db=None)
    url = pg.url(a.db)
    with psycopg.connect(url) as conn:
        migrate(conn, raw_tables())
    creds = SimCredentials("dev-id", "dev-secret")
    with SimCluster(seed=a.seed, scale=a.scale, credentials=creds) as sims:
        os.environ.update(connection_env({s: sims.url(s) for s in sims.systems}, creds.client_id,
                                         creds.client_secret, url))
        for r in extract_everything(url):
            print(f"{r.source}.{r.stream}: {r.records} records, {r.deletes} deletes", file=sys.stderr)
        if a.ticks:
            sims.advance(a.ticks)
            for r in extract_everything(url):
                print(f"after {a.ticks} ticks {r.source}.{r.stream}: {r.records} records, {r.deletes} deletes",
                      file=sys.stderr)
    print(f"export HANDOFF_DBT_HOST=127.0.0.1 HANDOFF_DBT_PORT={a.port} HANDOFF_DBT_DBNAME={a.db} "
          f"HANDOFF_DBT_USER=handoff_transformer HANDOFF_DBT_PASSWORD=x  # admin: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

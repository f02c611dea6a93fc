"""Child process for the kill -9 tests: runs one Kantata extract and parks at a chosen point.

    python kill_child.py <point> <marker file> <warehouse url>

The point is where it stops (touching the marker, then sleeping until killed):
`mid_copy` (half a batch written into an open COPY), `before_commit` (rows merged, cursor
written, transaction not committed), `between_pages` (after some committed batches, while the
next page is being fetched). Connections come from AIRFLOW_CONN_* in the environment.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg

from handoff.extract import load, pipeline
from handoff.extract.runner import ExtractSettings, StreamRunner
from handoff.extract.sources import get_source

point, marker, url = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
calls = {"n": 0}


def park() -> None:
    marker.write_text(point)
    time.sleep(600)


if point == "mid_copy":
    original = load.RawLoader.copy_direct

    def copy_direct(self, lines, batch_id):
        calls["n"] += 1
        if calls["n"] < 3:
            return original(self, lines, batch_id)
        with self.conn.cursor() as cur, cur.copy(
            "COPY raw_kantata.time_entries (source_id, source_modified_at, is_deleted, payload, batch_id) FROM STDIN"
        ) as cp:
            cp.write("".join(line[:-1] + "\tb\n" for line in lines[: len(lines) // 2]))
            park()

    load.RawLoader.copy_direct = copy_direct
elif point == "before_commit":
    original_adv = pipeline.advance_state

    def advance_state(*args, **kwargs):
        original_adv(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            park()

    pipeline.advance_state = advance_state
elif point == "between_pages":
    stream_cls = type(get_source("kantata").stream("time_entries"))
    original_pages = stream_cls.pages
    original_commit = pipeline.WritePipeline._commit
    committed = threading.Event()

    def commit(self, batch):
        original_commit(self, batch)
        committed.set()

    def pages(self, client, window, state):
        for i, page in enumerate(original_pages(self, client, window, state)):
            if i == 12:
                if not committed.wait(timeout=60):  # the writer has committed a batch: park after it
                    raise RuntimeError("no batch committed before page 12")
                park()
            yield page

    pipeline.WritePipeline._commit = commit
    stream_cls.pages = pages

source = get_source("kantata")
client = source.client()
with psycopg.connect(url) as conn:
    StreamRunner(source.stream("time_entries"), client, conn,
                 ExtractSettings(lookback=timedelta(0), commit_records=1000, reconcile_every=timedelta(0))).run()

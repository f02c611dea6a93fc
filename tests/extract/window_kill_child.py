"""Child process for the windowed kill -9 tests: a windowed Kantata first load that parks.

    python window_kill_child.py <point> <marker file> <warehouse url>

`in_commit`: inside a later transaction that marks windows done, the third or after (its rows
written, not committed); `mid_window`: a worker parks in the middle of a window once two windows are done.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import psycopg

from handoff.extract import pipeline, windows
from handoff.extract.runner import ExtractSettings, StreamRunner
from handoff.extract.sources import get_source

point, marker, url = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
done = {"n": 0}
two_done = threading.Event()


def park() -> None:
    marker.write_text(point)
    time.sleep(600)


original_mark = windows.mark_done


def mark_done(conn, stream, batch_id, plan, finished):
    cursor = original_mark(conn, stream, batch_id, plan, finished)
    done["n"] += len(finished)
    done["calls"] = done.get("calls", 0) + 1
    if point == "in_commit" and done["n"] >= 3 and done["calls"] >= 2:  # an earlier batch committed windows
        park()
    return cursor


windows.mark_done = mark_done
runner_module = sys.modules["handoff.extract.runner"]
runner_module.mark_done = mark_done

original_commit = pipeline.WritePipeline._commit


def commit(self, batch):
    original_commit(self, batch)
    if done["n"] >= 2:  # two windows committed as done: a worker parks mid-window
        two_done.set()


pipeline.WritePipeline._commit = commit

if point == "mid_window":
    stream_cls = type(get_source("kantata").stream("time_entries"))
    original_pages = stream_cls.pages

    def pages(self, client, window, state):
        for i, page in enumerate(original_pages(self, client, window, state)):
            if i == 1 and two_done.is_set():
                park()
            yield page

    stream_cls.pages = pages

source = get_source("kantata")
client = source.client()
with psycopg.connect(url) as conn:
    StreamRunner(source.stream("time_entries"), client, conn,
                 ExtractSettings(lookback=timedelta(0), commit_records=300, reconcile_every=timedelta(0),
                                 window_records=400, window_workers=3)).run()

"""Child process: one extract task as Airflow runs it (allowance shared through the warehouse).

    python window_task_child.py <source> <stream> <warehouse url>
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import psycopg

from handoff.extract.runner import ExtractSettings, StreamRunner
from handoff.extract.sources import get_source

source_name, stream_name, url = sys.argv[1:4]


def connect():
    return psycopg.connect(url)


source = get_source(source_name)
client = source.client().share_allowance(connect)
with connect() as conn:
    r = StreamRunner(source.stream(stream_name), client, conn,
                     ExtractSettings(lookback=timedelta(0), window_records=400, window_workers=8),
                     connect=connect).run()
print(json.dumps({"records": r.records, "windows": r.windows, "requests": r.requests}))

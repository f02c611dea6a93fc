"""Child process for the kill -9 test: runs one reverse sync and parks right after the ERP
accepted a posting, before the ledger records it.

    python reverse_kill_child.py <after n acceptances> <marker file> <warehouse url> <schema prefix>

Each worker that reaches the point touches the marker and sleeps until killed. Connections come
from AIRFLOW_CONN_* in the environment. Leases are 2 s so the next run may take the rows over.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from handoff.connectors import connect
from handoff.connectors.http import RetryPolicy
from handoff.reverse import engine

after, marker, url, prefix = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
lock, accepted = threading.Lock(), {"n": 0}
original = engine._posted


def _posted(conn, row, erp_id, owner, run_id, detail, outcome):
    with lock:
        accepted["n"] += 1
        park = accepted["n"] > after
    if park:  # the ERP holds the record; the ledger still says in_flight
        marker.write_text(str(row["posting_id"]))
        time.sleep(600)
    return original(conn, row, erp_id, owner, run_id, detail, outcome)


engine._posted = _posted
engine.sync(url, connect("netsuite", RetryPolicy(attempts=4, backoff_base=0.01)), schema_prefix=prefix,
            concurrency=3, lease_seconds=2)

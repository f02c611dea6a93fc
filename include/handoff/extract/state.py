"""Per-stream cursor in `ops.extract_state`.

The cursor is the highest source modification time whose records are committed in raw. It only
moves forward (GREATEST), and it is written in the caller's transaction together with the rows
it covers, so after any crash the cursor never claims rows that are not in raw.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class StreamState:
    cursor_ts: datetime | None = None
    extra: dict = field(default_factory=dict)
    last_batch_id: str | None = None


def load_state(conn, source: str, stream: str) -> StreamState:
    row = conn.execute(
        "SELECT cursor_ts, cursor_extra, last_batch_id FROM ops.extract_state WHERE source = %s AND stream = %s",
        (source, stream),
    ).fetchone()
    if row is None:
        return StreamState()
    return StreamState(cursor_ts=row[0], extra=row[1] or {}, last_batch_id=row[2])


def advance_state(
    conn, source: str, stream: str, batch_id: str, cursor_ts: datetime | None, extra: dict | None = None
) -> None:
    """Move the cursor forward (never back) and merge `extra`; runs in the caller's transaction."""
    conn.execute(
        """INSERT INTO ops.extract_state AS s (source, stream, cursor_ts, cursor_extra, last_batch_id, updated_at)
           VALUES (%(source)s, %(stream)s, %(ts)s, %(extra)s::jsonb, %(batch)s, now())
           ON CONFLICT (source, stream) DO UPDATE SET
             cursor_ts = GREATEST(s.cursor_ts, EXCLUDED.cursor_ts),
             cursor_extra = s.cursor_extra || EXCLUDED.cursor_extra,
             last_batch_id = EXCLUDED.last_batch_id,
             updated_at = now()""",
        {"source": source, "stream": stream, "ts": cursor_ts, "extra": json.dumps(extra or {}), "batch": batch_id},
    )


"""World time: a fixed anchor plus a whole number of ticks, and the per-system renderings of it.

Everything is integer epoch seconds (UTC) internally so that numpy columns and dict records share
one representation; the helpers below render the formats each real API uses.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

ANCHOR = int(dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp())  # world "now" at tick 0
TICK_SPAN = 3600  # world seconds per tick
DAY = 86400
EPOCH_DATE = dt.date(1970, 1, 1)


def now_at(tick: int) -> int:
    return ANCHOR + tick * TICK_SPAN


def to_dt(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


@lru_cache(maxsize=1 << 16)
def day_iso(day: int) -> str:
    """Epoch day number -> 'YYYY-MM-DD'."""
    return (EPOCH_DATE + dt.timedelta(days=day)).isoformat()


def _hms(ts: int) -> str:
    s = ts % DAY
    return "%02d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)


def iso_z(ts: int) -> str:
    """2026-01-05T10:00:00Z"""
    return f"{day_iso(ts // DAY)}T{_hms(ts)}Z"


def sf_datetime(ts: int) -> str:
    """Salesforce: 2026-01-05T10:00:00.000+0000 (sorts lexicographically)."""
    return f"{day_iso(ts // DAY)}T{_hms(ts)}.000+0000"


def hs_datetime(ts: int) -> str:
    """HubSpot: 2026-01-05T10:00:00.000Z"""
    return f"{day_iso(ts // DAY)}T{_hms(ts)}.000Z"


def kt_datetime(ts: int) -> str:
    """Kantata: 2026-01-05T10:00:00+00:00"""
    return f"{day_iso(ts // DAY)}T{_hms(ts)}+00:00"


def ns_date(ts_or_day: int, is_day: bool = False) -> str:
    """NetSuite default user date format M/D/YYYY (datetimes render date-only, as SuiteQL does)."""
    d = EPOCH_DATE + dt.timedelta(days=ts_or_day if is_day else ts_or_day // DAY)
    return f"{d.month}/{d.day}/{d.year}"


_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def parse_ts(text: str | int | float) -> int:
    """Parse ISO 8601 (date, datetime, Z/offset, .fff) or epoch milliseconds into epoch seconds."""
    if isinstance(text, int | float):
        return int(text // 1000) if text > 10**11 else int(text)
    s = str(text).strip()
    if s.lstrip("-").isdigit():
        v = int(s)
        return v // 1000 if v > 10**11 else v
    m = _ISO_RE.match(s)
    if not m:
        raise ValueError(f"not a timestamp: {text!r}")
    y, mo, d, h, mi, se, tz = m.groups()
    ts = int(dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(se or 0),
                         tzinfo=dt.UTC).timestamp())
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        ts -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return ts


def parse_day(text: str) -> int:
    return (dt.date.fromisoformat(text[:10]) - EPOCH_DATE).days

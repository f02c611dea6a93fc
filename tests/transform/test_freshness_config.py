"""Source freshness: thresholds follow each source's extract schedule, are measured from the stream's
last successful run (ops.stream_freshness), and `dbt source freshness` tells a fresh feed from a dead one."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from handoff.config import REPO_ROOT
from handoff.extract.sources import SOURCE_NAMES, get_source, raw_tables

PERIOD = {"minute": 60, "hour": 3600, "day": 86400}


def cron_interval(expr: str) -> int:
    """Seconds between runs of the simple cron schedules the sources use."""
    minute, hour, dom, month, dow = expr.split()
    assert (dom, month, dow) == ("*", "*", "*"), expr
    if minute == "*":
        assert hour == "*", expr
        return 60
    if minute.startswith("*/"):
        assert hour == "*", expr
        return int(minute[2:]) * 60
    if hour == "*":
        return 3600
    if hour.startswith("*/"):
        return int(hour[2:]) * 3600
    return 86400


def test_cron_interval():
    assert cron_interval("* * * * *") == 60
    assert cron_interval("*/5 * * * *") == 300
    assert cron_interval("0 2 * * *") == 86400


@pytest.fixture(scope="module")
def sources(dbt_world) -> dict[tuple[str, str], dict]:
    manifest = json.loads((dbt_world.target_dir() / "manifest.json").read_text())
    # Only the raw feeds (marts may declare ops.* as a source: bookkeeping, not a feed).
    return {(n["source_name"], n["name"]): n for n in manifest["sources"].values()
            if n["source_name"].startswith("raw_")}


def _cfg(node: dict, key: str):
    return (node.get("config") or {}).get(key) or node.get(key)


def seconds(threshold: dict | None) -> int | None:
    if not threshold or threshold.get("count") is None:
        return None
    return int(threshold["count"]) * PERIOD[threshold["period"]]


def test_sources_yml_per_source_folder():
    for name in SOURCE_NAMES:
        assert (REPO_ROOT / "dbt_project" / "models" / "staging" / name / f"_{name}__sources.yml").is_file(), name


def test_every_raw_stream_is_a_source(sources):
    missing = [f"raw_{s}.{t}" for s, t in raw_tables() if (f"raw_{s}", t) not in sources]
    assert missing == [], f"raw streams without a dbt source (no freshness for them): {missing}"
    for (src, table), node in sources.items():
        assert node["schema"] == src and node["identifier"] == table, (src, table, node["schema"], node["identifier"])


def test_freshness_thresholds_follow_the_schedule(sources):
    problems = []
    for (src, table), node in sorted(sources.items()):
        system = src.removeprefix("raw_")
        interval = cron_interval(get_source(system).default_schedule)
        fresh = _cfg(node, "freshness") or {}
        warn, error = seconds(fresh.get("warn_after")), seconds(fresh.get("error_after"))
        where = f"{src}.{table} (schedule every {interval}s): warn {warn}s, error {error}s"
        if warn is None or error is None:
            problems.append(f"{where}: missing threshold")
            continue
        # A run finishing on schedule is never stale; a minute feed queues a few seconds (platform notes).
        if warn < 2 * interval and not (interval >= 86400 and warn > interval):
            problems.append(f"{where}: warn is under two schedule intervals")
        if warn > 30 * interval:
            problems.append(f"{where}: warn is more than 30 schedule intervals: a dead feed goes unnoticed")
        if error <= warn:
            problems.append(f"{where}: error is not after warn")
    assert problems == []


def test_loaded_at_query_reads_last_success_from_ops(sources):
    problems = []
    for (src, table), node in sorted(sources.items()):
        q = (_cfg(node, "loaded_at_query") or "").lower()
        field = _cfg(node, "loaded_at_field")
        if "stream_freshness" not in q or "last_success_at" not in q:
            problems.append(f"{src}.{table}: loaded_at_query={q!r} loaded_at_field={field!r}")
            continue
        system = src.removeprefix("raw_")
        if f"'{system}'" not in q or f"'{table.lower()}'" not in q:
            # templated queries may use the source/table names through jinja: the compiled form is checked
            # by running dbt source freshness below
            if "{{" not in q:
                problems.append(f"{src}.{table}: loaded_at_query does not name its stream: {q!r}")
    assert problems == []


def _freshness_results(world) -> dict[str, dict]:
    data = json.loads((world.target_dir() / "sources.json").read_text())
    return {r["unique_id"].split(".", 2)[2]: r for r in data["results"]}


def test_dbt_source_freshness_tells_fresh_from_dead(dbt_world, sources):
    """One `dbt source freshness` over every source: the freshly extracted feeds pass; two feeds whose
    last successful run is backdated go to warn (past warn, before error) and error (past error)."""
    world = dbt_world
    if time.time() - world.extracted_at > 240:  # every stream's last success recent, however long the session ran
        world.extract()
    kt = _cfg(sources[("raw_kantata", "time_entries")], "freshness")
    ns = _cfg(sources[("raw_netsuite", "invoice")], "freshness")
    shifts = {("kantata", "time_entries"): (seconds(kt["warn_after"]) + seconds(kt["error_after"])) // 2,
              ("netsuite", "invoice"): seconds(ns["error_after"]) + 600}
    try:
        for (s, t), secs in shifts.items():
            world.query("UPDATE ops.extract_runs SET finished_at = finished_at - make_interval(secs => %s), "
                        "started_at = started_at - make_interval(secs => %s) "
                        "WHERE source = %s AND stream = %s RETURNING 1", secs, secs, s, t)
        last = {f"raw_{s}.{t}": ts for s, t, ts in world.query(
            "SELECT source, stream, last_success_at FROM ops.stream_freshness")}
        proc = world.dbt("source", "freshness", check=False)
    finally:
        for (s, t), secs in shifts.items():
            world.query("UPDATE ops.extract_runs SET finished_at = finished_at + make_interval(secs => %s), "
                        "started_at = started_at + make_interval(secs => %s) "
                        "WHERE source = %s AND stream = %s RETURNING 1", secs, secs, s, t)
    assert (world.target_dir() / "sources.json").is_file(), proc.stdout[-4000:]
    results = _freshness_results(world)
    assert set(results) == {f"{s}.{t}" for s, t in sources}
    status = {k: r["status"] for k, r in results.items()}
    want = dict.fromkeys(status, "pass") | {"raw_kantata.time_entries": "warn", "raw_netsuite.invoice": "error"}
    assert status == want, proc.stdout[-3000:]
    assert proc.returncode == 1  # an errored source fails the command (what a scheduler alerts on)
    # max_loaded_at is the stream's last successful run, not its newest row (a quiet feed stays fresh)
    for key, r in results.items():
        got = r["max_loaded_at"]
        assert got and abs(_ts(got) - last[key].timestamp()) < 1.5, (key, got, last[key])


def _ts(value: str) -> float:
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def test_integration_health_uses_the_same_thresholds(dbt_world, sources):
    """The integration-health mart's per-feed warn/error thresholds are dbt's source freshness ones."""
    rows = dbt_world.query(f"SELECT feed, warn_after_minutes, error_after_minutes "
                           f"FROM {dbt_world.schema('marts')}.rpt_integration_health")
    assert rows
    wrong = []
    for feed, warn, error in rows:
        src, _, table = feed.partition(".")
        node = sources.get((f"raw_{src}", table))
        if node is None:
            wrong.append((feed, "no dbt source"))
            continue
        fresh = _cfg(node, "freshness")
        want = (seconds(fresh["warn_after"]) // 60, seconds(fresh["error_after"]) // 60)
        if (warn, error) != want:
            wrong.append((feed, (warn, error), want))
    assert wrong == []
    assert {r[0] for r in rows} >= {f"{s}.{t}" for s, t in raw_tables()}

"""dlt contender: one run of a dlt `rest_api` pipeline over the Kantata simulator (own virtualenv).

    .local/bench-dlt/bin/python bench/extract_dlt.py --sim-url URL --db-url URL --work DIR --format csv

The pipeline as one would schedule it: OAuth client credentials, merge write disposition on
primary key `id`, incremental on `updated_at` (sent as Kantata's `updated_after`), dlt's defaults
otherwise. The same pipeline (state in --work and in the destination) runs every phase: the first
run loads everything, later runs only what changed. `--first-load` gives that first run dlt's
fastest way into an empty table, write disposition `append` (no staging table, no merge; about 20%
faster than merge here), as one would for an initial backfill. `--format` picks dlt's Postgres
loader: `insert_values` (its default) or `csv` (its fastest).
"""

from __future__ import annotations

import argparse

from extract_common import LIST_PARAMS, PER_PAGE, TIME_ENTRIES, Measure, credentials, emit

DATASET = "dlt_kantata"
INITIAL = "2000-01-01T00:00:00+00:00"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim-url", required=True)
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--format", choices=["insert_values", "csv"], required=True)
    ap.add_argument("--first-load", action="store_true", help="append into the empty table instead of merging")
    ap.add_argument("--since", default=INITIAL, help="the incremental's initial value (load what changed since)")
    ap.add_argument("--parallel", action="store_true",
                    help="dlt's parallel options on: a parallelized resource, extract/normalize/load workers")
    a = ap.parse_args()
    if a.parallel:
        import os

        for k, v in {"EXTRACT__WORKERS": "8", "NORMALIZE__WORKERS": "2", "LOAD__WORKERS": "4",
                     "EXTRACT__MAX_PARALLEL_ITEMS": "20"}.items():
            os.environ.setdefault(k, v)

    import dlt
    from dlt.sources.rest_api import rest_api_source

    cid, secret = credentials()
    source = rest_api_source({
        "client": {
            "base_url": a.sim_url,
            "auth": {"type": "oauth2_client_credentials", "access_token_url": f"{a.sim_url}/oauth/token",
                     "client_id": cid, "client_secret": secret},
        },
        "resources": [{
            "name": "time_entries",
            "primary_key": "id",
            "write_disposition": "merge",
            "parallelized": a.parallel,
            "endpoint": {
                "path": TIME_ENTRIES.lstrip("/"),
                "params": {
                    "per_page": PER_PAGE, **LIST_PARAMS,
                    "updated_after": {"type": "incremental", "cursor_path": "updated_at", "initial_value": a.since},
                },
                "data_selector": "time_entries.*",
                "paginator": {"type": "page_number", "base_page": 1, "page_param": "page",
                              "total_path": "meta.page_count"},
            },
        }],
    })
    seen = [0]

    def count(item):  # records the resource yields (after dlt's incremental filter)
        seen[0] += 1
        return item

    resource = source.resources["time_entries"]
    resource.add_map(count)
    if a.first_load:
        resource.apply_hints(write_disposition="append")
    with Measure(a.sim_url) as m:
        pipeline = dlt.pipeline(pipeline_name="bench_kantata", destination=dlt.destinations.postgres(credentials=a.db_url),
                                dataset_name=DATASET, pipelines_dir=a.work)
        pipeline.run(source, loader_file_format=a.format)
    steps = {s.step: round((s.finished_at - s.started_at).total_seconds(), 2)
             for s in pipeline.last_trace.steps if s.finished_at and s.started_at}
    emit({"records": seen[0], "steps_s": steps, "dlt_version": dlt.__version__}, m)


if __name__ == "__main__":
    main()

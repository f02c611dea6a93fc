# dbt benchmark (included by the main Makefile): `make bench-dbt`.
# Full build vs incremental build (1% of the Kantata time entries changed in raw) of dbt_project/,
# dbt's fixed cost per invocation and one transform cycle, at the default scale and at 2,000,000
# time entries, on a private Postgres with a simulated world extracted into raw. Writes
# bench/results/dbt.json and bench/results/dbt.md. About 20-40 minutes on 2 cores (the 2M world).
BENCH_DBT_PYTHON ?= .venv/bin/python
BENCH_DBT_SCALES ?= default,bench:2000000
BENCH_DBT_REPEATS ?= 3
BENCH_DBT_LARGE_REPEATS ?= 1

.PHONY: bench-dbt
bench-dbt:
	$(BENCH_DBT_PYTHON) bench/dbt.py --scales $(BENCH_DBT_SCALES) --repeats $(BENCH_DBT_REPEATS) \
		--large-repeats $(BENCH_DBT_LARGE_REPEATS)

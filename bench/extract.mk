# Extract benchmark (included by the main Makefile): `make bench-extract`.
# Handoff vs dlt (insert_values and csv loaders) vs a pipelined fetch+parse+COPY baseline on
# BENCH_EXTRACT_ENTRIES Kantata time entries: first load, idle minute (+ delete reconciliation),
# incremental after 1% changed; BENCH_EXTRACT_RUNS runs each, order rotated. Writes
# bench/results/extract.json and bench/results/extract.md. dlt gets its own virtualenv under .local/.
BENCH_EXTRACT_PYTHON ?= .venv/bin/python
BENCH_EXTRACT_ENTRIES ?= 1000000
BENCH_EXTRACT_RUNS ?= 3
BENCH_DLT_VENV ?= .local/bench-dlt
BENCH_DLT_SPEC ?= dlt[postgres]==1.31.0

.PHONY: bench-extract
bench-extract: $(BENCH_DLT_VENV)/.installed
	$(BENCH_EXTRACT_PYTHON) bench/extract.py --entries $(BENCH_EXTRACT_ENTRIES) --runs $(BENCH_EXTRACT_RUNS) \
		--dlt-python $(BENCH_DLT_VENV)/bin/python

$(BENCH_DLT_VENV)/.installed:
	rm -rf $(BENCH_DLT_VENV)
	$(PYTHON) -m venv $(BENCH_DLT_VENV)
	$(BENCH_DLT_VENV)/bin/python -m pip install -q "$(BENCH_DLT_SPEC)"
	touch $@

# Extract benchmark (included by the main Makefile): `make bench-extract`.
# Handoff vs dlt (insert_values and csv loaders) vs a pipelined fetch+parse+COPY baseline on
# BENCH_EXTRACT_ENTRIES Kantata time entries: first load, idle minute (+ delete reconciliation),
# incremental after 1% changed; BENCH_EXTRACT_RUNS runs each, order rotated; then the realistic-latency
# phase (bench-extract-allowance). Writes
# bench/results/extract.json and bench/results/extract.md. dlt gets its own virtualenv under .local/.
BENCH_EXTRACT_PYTHON ?= .venv/bin/python
BENCH_EXTRACT_ENTRIES ?= 1000000
BENCH_EXTRACT_RUNS ?= 3
BENCH_DLT_VENV ?= .local/bench-dlt
BENCH_DLT_SPEC ?= dlt[postgres]==1.31.0

BENCH_ALLOWANCE_ENTRIES ?= 1000000
BENCH_ALLOWANCE_CONTACTS ?= 500000
BENCH_ALLOWANCE_DLT_RECORDS ?= 100000

.PHONY: bench-extract bench-extract-loopback bench-extract-allowance
bench-extract: bench-extract-loopback bench-extract-allowance

bench-extract-loopback: $(BENCH_DLT_VENV)/.installed
	$(BENCH_EXTRACT_PYTHON) bench/extract.py --entries $(BENCH_EXTRACT_ENTRIES) --runs $(BENCH_EXTRACT_RUNS) \
		--dlt-python $(BENCH_DLT_VENV)/bin/python

# Realistic latency and the documented rate limits (bench/extract_allowance.py): Handoff vs dlt vs the
# allowance bound; writes bench/results/extract_allowance.json and .md.
bench-extract-allowance: $(BENCH_DLT_VENV)/.installed
	$(BENCH_EXTRACT_PYTHON) bench/extract_allowance.py --entries $(BENCH_ALLOWANCE_ENTRIES) \
		--contacts $(BENCH_ALLOWANCE_CONTACTS) --dlt-records $(BENCH_ALLOWANCE_DLT_RECORDS) \
		--dlt-python $(BENCH_DLT_VENV)/bin/python

$(BENCH_DLT_VENV)/.installed:
	rm -rf $(BENCH_DLT_VENV)
	$(PYTHON) -m venv $(BENCH_DLT_VENV)
	$(BENCH_DLT_VENV)/bin/python -m pip install -q "$(BENCH_DLT_SPEC)"
	touch $@

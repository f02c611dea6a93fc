# Extract benchmark (included by the main Makefile): `make bench-extract`.
# Handoff vs dlt vs a bare fetch+COPY ceiling on BENCH_EXTRACT_ENTRIES Kantata time entries;
# writes bench/results/extract.json. dlt gets its own virtualenv under .local/.
BENCH_EXTRACT_PYTHON ?= .venv/bin/python
BENCH_EXTRACT_ENTRIES ?= 1000000
BENCH_DLT_VENV ?= .local/bench-dlt
BENCH_DLT_SPEC ?= dlt[postgres]==1.31.0

.PHONY: bench-extract
bench-extract: $(BENCH_DLT_VENV)/.installed
	$(BENCH_EXTRACT_PYTHON) bench/extract.py --entries $(BENCH_EXTRACT_ENTRIES) --dlt-python $(BENCH_DLT_VENV)/bin/python

$(BENCH_DLT_VENV)/.installed:
	rm -rf $(BENCH_DLT_VENV)
	$(PYTHON) -m venv $(BENCH_DLT_VENV)
	$(BENCH_DLT_VENV)/bin/python -m pip install -q "$(BENCH_DLT_SPEC)"
	touch $@

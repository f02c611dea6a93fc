# Reverse sync benchmark (included by the main Makefile): `make bench-reverse`.
# BENCH_REVERSE_POSTINGS approved time entries (postable outbox rows of a bench world) posted by
# handoff.reverse.sync to the NetSuite simulator with every request slowed to 200 ms and 15 in
# flight (at most 75 postings/s); a ceiling measured in the same run; duplicates checked in the
# simulator's ledger and truth; then two syncs at once in two processes. Writes
# bench/results/reverse.json and bench/results/reverse.md. About 10 minutes on 2 cores.
BENCH_REVERSE_PYTHON ?= .venv/bin/python
BENCH_REVERSE_SCALE ?= bench:150000
BENCH_REVERSE_POSTINGS ?= 10000

.PHONY: bench-reverse
bench-reverse:
	$(BENCH_REVERSE_PYTHON) bench/reverse.py --scale $(BENCH_REVERSE_SCALE) --postings $(BENCH_REVERSE_POSTINGS) --concurrent

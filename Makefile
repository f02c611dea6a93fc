# Handoff: two commands. `make up` runs the platform on its embedded default; `make test` runs
# the whole test suite (lint included) on its own Postgres and simulators.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up down status test lint install bench-extract bench-dbt bench-reverse clean

$(STAMP): requirements.txt pyproject.toml
	@echo "[handoff] creating $(VENV) with $(PYTHON) and installing pinned requirements (about a minute)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --disable-pip-version-check -r requirements.txt 2>&1 \
		| awk '/^(Collecting|Successfully|ERROR|error)/ { print "[pip] " $$0; fflush() }'
	@$(BIN)/pip install --disable-pip-version-check -q --no-deps -e . 2>&1 | awk '!/neither a file/'
	@$(BIN)/pip check
	@touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	@$(BIN)/handoff up

down:
	@if [ -x $(BIN)/handoff ]; then $(BIN)/handoff down; else echo "[handoff] nothing installed, nothing running"; fi

status: $(STAMP)
	@$(BIN)/handoff status

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest

clean: down
	rm -rf .local

-include bench/extract.mk
-include bench/dbt.mk
-include bench/reverse.mk

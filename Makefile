# Trail: `make run` serves the embedded default; `make test` runs the whole suite against real services.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-$(shell cat requirements.txt | sha1sum | cut -c1-10)
DEV_STAMP     := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-10)

.PHONY: run test lint install dev bench clean

run: $(RUNTIME_STAMP)
	$(BIN)/python -m trail serve

test: $(DEV_STAMP)
	bash scripts/test.sh $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check trail tests bench scripts

install: $(RUNTIME_STAMP)
dev: $(DEV_STAMP)

$(BIN)/python:
	@echo "==> creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	@echo "==> installing runtime dependencies (first time: a few minutes, chDB is large)"
	$(BIN)/python -m pip install --progress-bar off -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	@echo "==> installing runtime and test dependencies"
	$(BIN)/python -m pip install --progress-bar off -r requirements-dev.txt
	@touch $(RUNTIME_STAMP) $@

bench: $(DEV_STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/queries.py --events 1000000

clean:
	rm -rf $(VENV) .pytest_cache .ci/state

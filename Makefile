# Two entry points: `make run` (install, build the index if missing, serve) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-dev browser run test lint eval bench bench-http clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU wheel from local disk.
# Stamp files: pip runs again only when pyproject.toml changed (an editable install
# picks up source changes by itself), so a second `make run` starts at once.
STAMP     := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,milvus]"
	@touch $@ $(STAMP)

install: $(STAMP)

install-dev: $(STAMP_DEV)

# The browser test drives Debian's chromium headless (never `playwright install`) and runs axe-core in it.
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "browser tests need: sudo apt-get install -y chromium fonts-noto-cjk"; fi; fi
	@# axe-core (npm registry) is injected into the page by the browser test's accessibility check.
	@test -f .cache/npm/node_modules/axe-core/axe.min.js || npm install --prefix .cache/npm --no-audit --no-fund \
	  --silent axe-core@4

# The first run builds the int8 model (about a minute, once per machine) and the index, printing progress.
run: install
	$(BIN)/python app.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install-dev browser lint
	$(BIN)/pytest -q

eval: install
	$(BIN)/retriever eval eval/gold_test.jsonl

bench: install
	$(BIN)/retriever bench --repeat 10

bench-http: install-dev
	$(BIN)/python benchmarks/bench_http.py

clean:
	rm -f $(STAMP) $(STAMP_DEV)
	rm -rf index/current index/builds reports .pytest_cache .mypy_cache .ruff_cache

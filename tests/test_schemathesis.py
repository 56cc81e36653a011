"""Schemathesis fuzzes the JSON API from its OpenAPI document: no answer may be a 5xx.

Every operation in /openapi.json (POST /api/compare, GET /api/models, GET and DELETE
/api/runs/{run_id}) gets schemathesis's coverage phase (boundary values, wrong types, missing
and extra fields, unexpected methods) and a bounded fuzzing phase, positive and negative
cases alike. A stateful test then chains POST /api/compare into GET and DELETE of the run it
saved. Each answer must not be a server error (`not_a_server_error`), must match the documented
response schema and content type, and a request that breaks the schema must be refused;
a deleted run must be gone.

The app is the real one, served in-process over ASGI and pointed at the fake endpoint, so no
model runs. Its limits are raised so the fuzzer is never answered 429. Generation is
derandomized with a fixed seed: every CI run sends the same ~400 requests (about 10 s on 2 cores).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import shutdown_lifespans

from app.main import create_app
from app.settings import Settings
from app.storage.store import RunStore
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream

SEED = 20240611
MAX_EXAMPLES = 50  # fuzzing-phase examples per operation; the coverage phase adds its own
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES, "database": "none"},
        # Chains of valid requests: a comparison, then its run read and deleted.
        "phases": {"stateful": {"generation": {"mode": "positive"}}},
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            # A body over KNOBS_MAX_BODY_BYTES is refused with 413 before it is read, as the
            # API documents; schemathesis's default list of refusals lacks 413 (and 5xx is
            # left out: a server error is never a proper refusal here).
            "negative_data_rejection": {
                "enabled": True,
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429],
            },
            "use_after_free": {"enabled": True},
        },
        # The app's key never reaches a request here; show max_tokens and the like in failures.
        "output": {"sanitization": {"enabled": False}},
    }
)
# Test-side edits to the served document, each saying what this app really accepts. They keep
# positive cases reaching the fan-out instead of a 422, and negative ones truly invalid.
PRESET_FIELDS = {
    # OpenAI's string or list of strings; blank entries are dropped before the 4-item limit
    # applies. The generated schema says "list of at most 4", so without this the fuzzer
    # reports `"stop": "END"` and `["", "", "", "", ""]` as wrongly accepted.
    "stop": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "null"},
        ],
        "title": "Stop",
    },
    # A configured endpoint's name; this app has one, "default" (any other name is a 422).
    "endpoint": {"anyOf": [{"enum": ["default"]}, {"type": "null"}], "title": "Endpoint"},
    # Custom endpoints are off here, so any base_url is a 422. (They stay off: on, a fuzzed
    # URL could send traffic off this machine.)
    "base_url": {"type": "null", "title": "Base Url"},
}
RUN_ID = {"run_id": "$response.body#/id"}
# OpenAPI links for the stateful test: the run a comparison saved can be read and deleted.
LINKS = {
    "GetRun": {"operationId": "get_run_api_runs__run_id__get", "parameters": RUN_ID},
    "DeleteRun": {"operationId": "delete_run_api_api_runs__run_id__delete", "parameters": RUN_ID},
}


def amend(document: dict[str, Any]) -> dict[str, Any]:
    """The app's OpenAPI document with the edits above."""
    document = copy.deepcopy(document)
    document["components"]["schemas"]["Preset-Input"]["properties"].update(PRESET_FIELDS)
    document["paths"]["/api/compare"]["post"]["responses"]["200"]["links"] = LINKS
    return document


def knobs_settings(fake_base_url: str | None, data_dir: Path) -> Settings:
    return settings_for(
        fake_base_url,
        data_dir,
        rate_limit_per_minute=100_000,  # the fuzzer sends a few hundred comparisons
        max_inflight_comparisons=10_000,
        max_tokens_per_comparison=200_000,  # the default; 8 presets x 5 x an unset max_tokens fit
    )


# Collected at import (schemathesis parametrizes from it), so from an app that is never started.
DOCUMENT = amend(create_app(knobs_settings(None, Path("unused"))).openapi())
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
# One app serves every example of an operation: that is the point (state carries over).
SHARED_APP = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def knobs(fake: FakeUpstream, tmp_path: Path) -> Iterator[FastAPI]:
    """The real app on the fake endpoint; schemathesis starts its lifespan on first call."""
    yield create_app(knobs_settings(fake.base_url, tmp_path))
    shutdown_lifespans()  # else the lifespan (store, HTTP clients) lives until the process ends


def test_fuzzed_document_is_the_served_one(knobs: FastAPI) -> None:
    with TestClient(knobs) as client:
        served = client.get("/openapi.json").json()
    assert amend(served) == DOCUMENT
    documented = served["components"]["schemas"]["Preset-Input"]["properties"]
    assert documented["stop"] != PRESET_FIELDS["stop"], "the app documents `stop` now: drop it"


@schema.parametrize()
@SHARED_APP
def test_api(case: schemathesis.Case, knobs: FastAPI) -> None:
    case.call_and_validate(app=knobs)


def test_a_server_error_fails_it(knobs: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check bites: a route answering 5xx, or raising, fails the run."""
    case = schema["/api/runs/{run_id}"]["GET"].Case(path_parameters={"run_id": "0"})

    def answers_503(store: RunStore, run_id: str) -> None:
        raise HTTPException(503, "broken on purpose")

    monkeypatch.setattr(RunStore, "get", answers_503)
    with pytest.raises(schemathesis.errors.FailureGroup, match="Server error"):
        case.call_and_validate(app=knobs)

    def raises(store: RunStore, run_id: str) -> None:
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(RunStore, "get", raises)
    # The app answers a raising route with its own 500 (app/guard/server_errors.py).
    with pytest.raises(schemathesis.errors.FailureGroup, match="Server error"):
        case.call_and_validate(app=knobs)


def test_stateful(knobs: FastAPI) -> None:
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"app": knobs}

    Workflow.run(
        settings=settings(
            max_examples=10,
            stateful_step_count=6,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
    )

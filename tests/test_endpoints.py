"""Several named endpoints: parsing and its errors, and one comparison spanning two."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.engine.endpoints import EndpointConfigError, configured, parse
from app.main import create_app
from app.settings import Settings
from tests.conftest import CANARY_KEY, settings_for
from tests.fake_upstream import FakeUpstream

GOOD = """
[endpoints.openai]
base_url = "https://api.openai.com/v1/"
api_key_env = "TEAM_KEY"
models = ["gpt-4o-mini", "gpt-4.1"]

[endpoints.local]
base_url = "http://127.0.0.1:11434/v1"
"""


def test_parse_reads_names_urls_keys_and_models():
    openai, local = parse(GOOD, "test", {"TEAM_KEY": "sk-team"})
    assert (openai.name, openai.base_url, openai.api_key) == (
        "openai",
        "https://api.openai.com/v1",
        "sk-team",
    )
    assert openai.models == ("gpt-4o-mini", "gpt-4.1")
    assert (local.api_key, local.models) == (None, ())
    assert "sk-team" not in repr(openai)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not toml [", "not valid TOML"),
        ("[other]\nx = 1", "unknown section 'other'"),
        ("", "declares no [endpoints.NAME]"),
        ('[endpoints.a]\nbase_url = "ftp://x"', "http:// or https://"),
        ('[endpoints.a]\nbase_url = "http://x"\ntoken = "k"', "unknown field 'token'"),
        (
            '[endpoints.a]\nbase_url = "http://x"\napi_key_env = "MISSING"',
            "'MISSING', which is not set",
        ),
        ('[endpoints.a]\nbase_url = "http://x"\napi_key = "k"\napi_key_env = "K"', "not both"),
        ('[endpoints.a]\nbase_url = "http://x"\nmodels = "gpt"', "list of model names"),
        ('[endpoints."Bad Name"]\nbase_url = "http://x"', "lower-case letters"),
    ],
)
def test_configuration_mistakes_say_what_to_fix(text, words):
    with pytest.raises(EndpointConfigError, match=words.replace("[", r"\[").replace(".", r"\.")):
        parse(text, "endpoints.toml", {})


def test_a_name_given_twice_and_an_unreadable_file(tmp_path):
    twice = '[endpoints.default]\nbase_url = "http://127.0.0.1:9/v1"'
    settings = Settings(openai_base_url="http://127.0.0.1:8/v1", endpoints=twice)
    with pytest.raises(EndpointConfigError, match="declared twice"):
        configured(settings)
    with pytest.raises(EndpointConfigError, match="cannot be read"):
        configured(Settings(endpoints_file=tmp_path / "missing.toml"))


def test_start_up_fails_clearly_on_a_bad_configuration(tmp_path):
    bad = '[endpoints.a]\nbase_url = "http://x"\napi_key_env = "NOPE_NOT_SET"'
    app = create_app(settings_for(None, tmp_path, endpoints=bad))
    with pytest.raises(EndpointConfigError, match="NOPE_NOT_SET"), TestClient(app):
        pass


def test_one_comparison_spans_two_endpoints(fake: FakeUpstream, tmp_path, monkeypatch):
    monkeypatch.setenv("SECOND_KEY", "second-endpoint-key")
    with FakeUpstream(models=["other-model"]) as second:
        second.behave(text="From the second endpoint.")
        fake.behave(text="From the default endpoint.")
        extra = (
            f'[endpoints.second]\nbase_url = "{second.base_url}"\n'
            'api_key_env = "SECOND_KEY"\nmodels = ["listed-model"]'
        )
        app = create_app(settings_for(fake.base_url, tmp_path, endpoints=extra))
        with TestClient(app) as client:
            models = client.get("/api/models").json()["endpoints"]
            assert models["second"]["models"] == ["listed-model"]  # the admin's list wins
            page = client.get("/").text
            assert 'name="p-0-endpoint"' in page and ">second</option>" in page
            presets = [{"name": "a"}, {"name": "b", "endpoint": "second", "model": "other-model"}]
            body = {"prompt": "hi", "samples": 1, "presets": presets}
            answer = client.post("/api/compare", json=body).json()
            saved = client.get(f"/api/runs/{answer['id']}").json()
            permalink = client.get(f"/r/{answer['id']}").text
            unknown = client.post(
                "/api/compare", json={"prompt": "hi", "presets": [{"endpoint": "nowhere"}]}
            )
            link = (
                client.post(
                    "/", data={"prompt": "hi", "p-0-endpoint": "second", "action": "link"}
                ).headers.get("HX-Push-Url")
                or ""
            )
        (received,) = second.requests
    texts = [c["samples"][0]["text"] for c in answer["columns"]]
    assert texts == ["From the default endpoint.", "From the second endpoint."]
    assert answer["columns"][1]["preset"]["endpoint"] == "second"
    # Each column records the endpoint and model it actually used, and the run all of them.
    assert [(c["endpoint"], c["model"]) for c in answer["columns"]] == [
        ("default", "fake-model"),
        ("second", "other-model"),
    ]
    assert saved["endpoints"] == ["default", "second"]
    assert 'class="endpoint"' in permalink and "endpoint: default" in permalink
    assert "<dt>endpoint</dt><dd>second</dd>" in permalink
    assert "<dt>model</dt><dd>other-model</dd>" in permalink
    assert received.headers["authorization"] == "Bearer second-endpoint-key"
    assert all(CANARY_KEY in r.headers["authorization"] for r in fake.requests)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "presets[0].endpoint"
    assert "second-endpoint-key" not in str(answer) and "second-endpoint-key" not in link

"""The default model and the model list: chat models first, the admin's choice wins, and an
endpoint with no chat model says so in each column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.engine.endpoints import EndpointConfigError, configured, parse
from app.engine.models import NoChatModel, first_chat_model, kind
from app.engine.presets import Preset
from app.main import create_app
from app.settings import Settings
from tests.conftest import settings_for
from tests.fake_upstream import OPENAI_LIKE_MODELS, FakeUpstream
from tests.test_pages import form_fields

# The first id of OPENAI_LIKE_MODELS, in its order, that can chat.
FIRST_CHAT = "gpt-4-0613"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("babbage-002", "legacy completion"),
        ("davinci-002", "legacy completion"),
        ("gpt-3.5-turbo-instruct", "legacy completion"),
        ("text-davinci-003", "legacy completion"),
        ("text-embedding-3-small", "embeddings"),
        ("text-embedding-ada-002", "embeddings"),
        ("nomic-embed-text:latest", "embeddings"),
        ("tts-1-hd", "text-to-speech"),
        ("gpt-4o-mini-tts", "text-to-speech"),
        ("whisper-1", "transcription"),
        ("gpt-4o-transcribe", "transcription"),
        ("dall-e-3", "image generation"),
        ("gpt-image-1", "image generation"),
        ("sora-2", "video generation"),
        ("omni-moderation-latest", "moderation"),
        ("gpt-4o-realtime-preview", "realtime or audio"),
        ("gpt-audio-mini", "realtime or audio"),
        ("o3-pro", "Responses API only"),
        ("gpt-5-codex", "Responses API only"),
        ("OpenAI/Text-Embedding-3-Large", "embeddings"),  # a router's "org/name", any case
        # Chat models, OpenAI's and open ones ("Instruct" is a chat fine-tune there).
        ("gpt-4o", None),
        ("gpt-4.1-mini", None),
        ("o3", None),
        ("o4-mini", None),
        ("gpt-5", None),
        ("gpt-5-mini", None),
        ("gpt-3.5-turbo", None),
        ("chatgpt-4o-latest", None),
        ("gpt-4o-search-preview", None),
        ("SmolLM2-135M-Instruct", None),
        ("meta-llama/Llama-3.1-8B-Instruct", None),
        ("qwen2.5:7b", None),
        ("deepseek-r1:14b", None),
        ("google/gemini-2.5-pro", None),
        ("mistral-small-latest", None),
    ],
)
def test_kind_tells_models_that_cannot_chat_by_their_ids(model, expected):
    assert kind(model) == expected


def test_the_default_is_the_first_chat_model_in_the_endpoints_order():
    assert first_chat_model(["tts-1", "zeta-chat", "alpha-chat"]) == "zeta-chat"
    with pytest.raises(NoChatModel, match="lists no models"):
        first_chat_model([])
    embeddings = [f"text-embedding-{n}" for n in ("3-small", "3-large", "ada-002", "x")]
    with pytest.raises(NoChatModel) as raised:
        first_chat_model([*embeddings, "whisper-1"])
    message = str(raised.value)
    assert "5 models and none of them can chat" in message
    shown = "embeddings: text-embedding-3-small, text-embedding-3-large, text-embedding-ada-002, …"
    assert shown in message
    assert "; transcription: whisper-1)" in message and "KNOBS_DEFAULT_MODEL" in message


@pytest.fixture
def openai_like(fake: FakeUpstream) -> FakeUpstream:
    fake.models = list(OPENAI_LIKE_MODELS)
    return fake


def app_client(fake: FakeUpstream, tmp_path: Path, **settings: object) -> TestClient:
    return TestClient(create_app(settings_for(fake.base_url, tmp_path, **settings)))


def sent_models(fake: FakeUpstream) -> list[str]:
    return [received.body["model"] for received in fake.requests]


def datalist(html: str) -> list[str]:
    match = re.search(r'<datalist id="models">(.*?)</datalist>', html, re.S)
    assert match, "the page has no model list"
    return re.findall(r'<option value="([^"]+)"', match.group(1))


def placeholders(html: str) -> list[str]:
    return re.findall(r'name="p-\d+-model"[^>]*placeholder="([^"]*)"', html)


def test_a_comparison_without_a_model_sends_a_chat_model(openai_like, tmp_path):
    with app_client(openai_like, tmp_path) as client:
        body = {"prompt": "Hi", "samples": 1, "presets": [{}, {"model": "gpt-4o"}]}
        columns = client.post("/api/compare", json=body).json()["columns"]
        client.post("/", data=form_fields([Preset(name="page")], samples="1"))
    assert sorted(sent_models(openai_like)) == sorted([FIRST_CHAT, "gpt-4o", FIRST_CHAT])
    assert [c["samples"][0]["error"] for c in columns] == [None, None]


def test_the_api_lists_chat_models_unless_asked_for_all(openai_like, tmp_path):
    with app_client(openai_like, tmp_path) as client:
        chat = client.get("/api/models").json()
        every = client.get("/api/models", params={"all_models": "true"}).json()
    assert chat["default_model"] == FIRST_CHAT and chat["error"] is None
    assert {"gpt-4o", "o3", "gpt-5-mini", FIRST_CHAT} <= set(chat["models"])
    assert not {"babbage-002", "text-embedding-3-small", "tts-1", "dall-e-3"} & set(chat["models"])
    assert chat["models"] == [m for m in OPENAI_LIKE_MODELS if m in chat["models"]]  # order kept
    assert every["models"] == list(OPENAI_LIKE_MODELS)
    assert every["default_model"] == FIRST_CHAT


def test_the_page_suggests_chat_models_and_shows_all_on_request(openai_like, tmp_path):
    presets = [Preset(name="one")]
    with app_client(openai_like, tmp_path) as client:
        page = client.get("/").text
        shown_all = client.post("/", data=form_fields(presets, action="models-all")).text
        # The choice is carried in the form: it holds through the next edit, without a script.
        added = client.post("/", data=form_fields(presets, action="add", all_models="1")).text
        back = client.post("/", data=form_fields(presets, action="models-chat", all_models="1"))
    assert "gpt-4o" in datalist(page) and "tts-1" not in datalist(page)
    assert "Show all models" in page and "Chat models only" not in page
    assert set(placeholders(page)) == {FIRST_CHAT}
    assert datalist(shown_all) == list(OPENAI_LIKE_MODELS) == datalist(added)
    assert '<option value="tts-1" label="text-to-speech">' in shown_all
    assert "Chat models only" in added and 'name="all_models" value="1"' in added
    assert "tts-1" not in datalist(back.text)
    assert openai_like.requests == []  # showing models runs nothing


def test_the_admins_default_model_wins(openai_like, tmp_path, monkeypatch):
    with FakeUpstream(models=["text-embedding-3-small", "llama3.2", "qwen3"]) as second:
        toml = f'[endpoints.local]\nbase_url = "{second.base_url}"\ndefault_model = "qwen3"'
        with app_client(openai_like, tmp_path, default_model="o4-mini", endpoints=toml) as client:
            listed = client.get("/api/models").json()
            page = client.get("/").text
            presets = [{}, {"endpoint": "local"}, {"endpoint": "local", "model": "llama3.2"}]
            client.post("/api/compare", json={"prompt": "Hi", "samples": 1, "presets": presets})
        assert sorted(sent_models(second)) == ["llama3.2", "qwen3"]
    assert sent_models(openai_like) == ["o4-mini"]
    assert listed["default_model"] == "o4-mini"
    assert listed["endpoints"]["local"]["default_model"] == "qwen3"
    assert set(placeholders(page)) == {"o4-mini"}


def test_an_endpoint_without_chat_models_says_so_in_each_column(fake, tmp_path):
    fake.models = ["text-embedding-3-small", "text-embedding-3-large"]
    body = {"prompt": "Hi", "samples": 2, "presets": [{}, {"temperature": 1}]}
    with app_client(fake, tmp_path) as client:
        columns = client.post("/api/compare", json=body).json()["columns"]
        page = client.post("/", data=form_fields([Preset(name="one")])).text
        listed = client.get("/api/models").json()
    errors = [sample["error"] for column in columns for sample in column["samples"]]
    assert len(errors) == 4
    assert all("2 models and none of them can chat (embeddings:" in e for e in errors), errors
    assert page.count("none of them can chat") == 1 + 2  # above the form, then each sample
    assert set(placeholders(page)) == {"type a model name"}
    assert listed["models"] == [] and "none of them can chat" in listed["error"]
    assert fake.requests == []


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('default_model = "text-embedding-3-small"', "not a chat model (by its name: embeddings)"),
        ("default_model = 3", "default_model must be a model name"),
        ('default_model = "  "', "default_model must be a model name"),
    ],
)
def test_a_default_model_that_cannot_chat_stops_start_up(table, words):
    with pytest.raises(EndpointConfigError, match=re.escape(words)):
        parse(f'[endpoints.a]\nbase_url = "http://x"\n{table}', "endpoints.toml", {})


def test_knobs_default_model_needs_openai_base_url_and_a_chat_model():
    with pytest.raises(EndpointConfigError, match="OPENAI_BASE_URL, which is not set"):
        configured(Settings(default_model="gpt-4o"))
    with pytest.raises(EndpointConfigError, match=r"KNOBS_DEFAULT_MODEL 'whisper-1' is not a"):
        configured(Settings(openai_base_url="http://127.0.0.1:9/v1", default_model="whisper-1"))

"""Which models can chat, told by their ids: the model list and the default model use it.

An endpoint's /v1/models lists everything it serves; OpenAI's lists about a hundred ids, many
of them embeddings, speech, image or legacy completion models that /v1/chat/completions
refuses. Ids are all there is to go on: the list says nothing else about a model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# Each kind of model that cannot chat, and what its ids look like (OpenAI's names and the
# common open ones). Searched in the lower-cased id after its last "/" ("org/name").
NOT_CHAT: dict[str, re.Pattern[str]] = {
    "embeddings": re.compile(r"embed"),
    "text-to-speech": re.compile(r"(^|-)tts(-|$)"),
    "transcription": re.compile(r"whisper|transcribe"),
    "image generation": re.compile(r"dall-e|(^|-)image(-|$)"),
    "video generation": re.compile(r"^sora(-|$)"),
    "moderation": re.compile(r"moderation"),
    "realtime or audio": re.compile(r"realtime|^gpt-(4o-(mini-)?)?audio"),
    "legacy completion": re.compile(
        r"(^|-)(ada|babbage|curie|davinci)-\d{3}$|^gpt-3\.5-turbo-instruct"
    ),
    "Responses API only": re.compile(r"^(o\d+|gpt-5[.\d]*)-pro|codex|computer-use|deep-research"),
}
EXAMPLES_SHOWN = 3  # per kind, in the message about an endpoint that lists no chat model


class NoChatModel(ValueError):
    """The endpoint lists no model that can chat; the message says what it does list."""


def kind(model: str) -> str | None:
    """What a model that cannot chat is for ("embeddings", "image", …); None if it can chat."""
    name = model.lower().rsplit("/", 1)[-1]
    return next((kind for kind, pattern in NOT_CHAT.items() if pattern.search(name)), None)


def chat_models(models: Iterable[str]) -> list[str]:
    """The models that can chat, in the order given."""
    return [model for model in models if kind(model) is None]


def first_chat_model(models: Sequence[str]) -> str:
    """The first model that can chat, in the endpoint's own order: Knobs does not rank models.

    Raises NoChatModel, saying what the endpoint lists instead."""
    for model in models:
        if kind(model) is None:
            return model
    if not models:
        raise NoChatModel("The endpoint lists no models; type a model name into the column.")
    by_kind: dict[str, list[str]] = {}
    for model in models:
        by_kind.setdefault(kind(model) or "", []).append(model)
    listed = "; ".join(
        f"{what}: {', '.join(ids[:EXAMPLES_SHOWN])}{', …' if len(ids) > EXAMPLES_SHOWN else ''}"
        for what, ids in by_kind.items()
    )
    raise NoChatModel(
        f"The endpoint lists {len(models)} models and none of them can chat ({listed}). "
        "Type a chat model's name into the column's model field; an admin can set one with "
        "KNOBS_DEFAULT_MODEL or default_model in the endpoints file."
    )


def cannot_chat(model: str) -> str | None:
    """Why an admin's default model cannot be the default, or None if it can chat."""
    what = kind(model)
    if what is None:
        return None
    return f"{model!r} is not a chat model (by its name: {what}); name a chat model"

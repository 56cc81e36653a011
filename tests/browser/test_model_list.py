"""The model suggestions in a real browser: chat models, and all of them on request."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.fake_upstream import OPENAI_LIKE_MODELS, FakeUpstream

pytestmark = pytest.mark.browser


def test_show_all_models_swaps_the_suggestions_and_keeps_the_form(
    page: Page, live_server, fake: FakeUpstream
):
    fake.models = list(OPENAI_LIKE_MODELS)
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "Kept across the swap.")
    model = page.locator("input[name='p-0-model']")
    expect(model).to_have_attribute("placeholder", "gpt-4-0613")
    expect(page.locator("#models option[value='tts-1']")).to_have_count(0)

    page.get_by_role("button", name="Show all models").click()
    expect(page.locator("#models option[value='tts-1']")).to_have_attribute(
        "label", "text-to-speech"
    )
    expect(page.locator("textarea[name=prompt]")).to_have_value("Kept across the swap.")
    expect(model).to_have_attribute("placeholder", "gpt-4-0613")  # the default stays a chat model

    page.get_by_role("button", name="Chat models only").click()
    expect(page.locator("#models option[value='tts-1']")).to_have_count(0)
    expect(page.locator("#models option[value='gpt-4o']")).to_have_count(1)
    assert fake.requests == []  # showing models runs nothing

"""A reasoning model's column on the live page: the reasoning fold and "What was sent" open
by keyboard and mouse, under the strict CSP, without JavaScript errors."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.browser

THOUGHT = "Let me think this through."


def test_the_folds_open_on_the_live_page(page: Page, live_server, fake: FakeUpstream):
    fake.behave_for("o3-fake", reasoning_model=True, reasoning=THOUGHT, text="Paris.")
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "Capital of France?")
    page.fill("input[name='p-0-model']", "o3-fake")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#status")).to_contain_text("Finished", timeout=15_000)

    column = page.locator("#col-0")
    expect(column.locator(".flag.setting_refused")).to_contain_text("temperature=0")
    expect(column.locator(".adjustments")).to_contain_text("sent without it")
    reasoning = column.locator("details.reasoning").first
    expect(reasoning.locator("pre")).to_be_hidden()  # folded until asked for
    reasoning.locator("summary").click()
    expect(reasoning.locator("pre")).to_contain_text(THOUGHT)
    expect(reasoning.locator("summary")).to_contain_text("Reasoning (10 tokens)")

    sent = column.locator("details.sent")
    sent.locator("summary").first.focus()
    page.keyboard.press("Enter")  # a fold opens from the keyboard too
    readable = sent.locator("pre.json").first
    expect(readable).to_be_visible()
    body = json.loads(readable.inner_text())
    assert "temperature" not in body and body["model"] == "o3-fake"
    assert any(r.body == body for r in fake.requests)
    sent.locator("details.sent-curl summary").click()
    expect(sent.locator("details.sent-curl pre")).to_contain_text("$OPENAI_API_KEY")

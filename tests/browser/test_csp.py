"""The strict Content-Security-Policy in a real browser: the playground and /docs break nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.conftest import LiveServer
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.browser


# Chromium fires this event for every refusal; the init script runs before the page's own.
WATCH = """document.addEventListener("securitypolicyviolation", (e) =>
  console.log(`CSP refused ${e.violatedDirective}: ${e.blockedURI} ${e.sample}`));"""


@pytest.fixture
def violations(page: Page) -> Iterator[list[str]]:
    """Everything the browser refused under the policy, as `CSP refused <directive>: ...`."""
    refused: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.text.startswith("CSP refused"):
            refused.append(message.text)

    page.add_init_script(WATCH)
    page.on("console", record)
    yield refused


def test_playground_runs_and_saves_under_the_policy(
    page: Page, violations, fake: FakeUpstream, live_server: LiveServer
):
    fake.behave(texts=["Red.", "Blue."], chunk_delay=0.01)
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "Name a colour.")
    page.get_by_role("button", name="+ Column").click()  # an htmx swap of the form
    expect(page.locator("section.column")).to_have_count(5)
    page.locator("textarea[name=prompt]").press("Control+Enter")  # htmx, then the stream
    expect(page.locator("#status")).to_contain_text("Finished", timeout=15_000)
    page.get_by_role("link", name="History").click()  # the saved run, and its page
    page.get_by_role("link", name="Name a colour.").first.click()
    expect(page.locator("body")).to_contain_text("Red.")
    assert violations == []


def test_api_docs_render_and_try_it_out_under_the_policy(
    page: Page, violations, fake: FakeUpstream, live_server: LiveServer
):
    fake.behave(text="Teal.")
    page.goto(f"{live_server.url}/docs")
    operation = page.locator(".opblock").filter(has_text="/api/compare")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    ask = '{"prompt": "hi", "samples": 1, "presets": [{}]}'
    operation.locator("textarea.body-param__text").fill(ask)
    operation.get_by_role("button", name="Execute").click()
    responses = operation.locator(".live-responses-table")
    expect(responses.get_by_role("cell", name="200", exact=True)).to_be_visible()
    expect(responses).to_contain_text('"text": "Teal."')
    assert violations == []

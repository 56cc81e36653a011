"""The strict Content-Security-Policy in a real browser: the playground and /docs break nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from playwright.sync_api import ConsoleMessage, Page, expect
from pydantic import BaseModel

from app.guard.security_headers import SecurityHeaders
from app.main import create_app
from app.web import docs
from app.web.templating import ROOT
from tests.conftest import LiveServer, settings_for
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
    page: Page, violations, fake: FakeUpstream, tmp_path
):
    app = create_app(settings_for(fake.base_url, tmp_path))
    app.add_middleware(SecurityHeaders)  # harmless if create_app already has it
    fake.behave(texts=["Red.", "Blue."], chunk_delay=0.01)
    with LiveServer(app) as server:
        page.goto(server.url)
        page.fill("textarea[name=prompt]", "Name a colour.")
        page.get_by_role("button", name="+ Column").click()  # an htmx swap of the form
        expect(page.locator("section.column")).to_have_count(5)
        page.locator("textarea[name=prompt]").press("Control+Enter")  # htmx, then the stream
        expect(page.locator("#status")).to_contain_text("Finished", timeout=15_000)
        page.get_by_role("link", name="History").click()  # the saved run, and its page
        page.get_by_role("link", name="Name a colour.").first.click()
        expect(page.locator("body")).to_contain_text("Red.")
    assert violations == []


class Ask(BaseModel):
    prompt: str


def test_api_docs_render_and_try_it_out_under_the_policy(page: Page, violations):
    app = FastAPI(title="Knobs", docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(docs.router)

    @app.post("/api/compare")
    async def compare(ask: Ask) -> dict[str, str]:
        return {"echo": ask.prompt}

    app.add_middleware(SecurityHeaders)
    with LiveServer(app) as server:
        page.goto(f"{server.url}/docs")
        page.locator(".opblock-summary").first.click()
        page.get_by_role("button", name="Try it out").click()
        page.locator("textarea.body-param__text").fill('{"prompt": "hi"}')
        page.get_by_role("button", name="Execute").click()
        responses = page.locator(".live-responses-table")
        expect(responses.get_by_role("cell", name="200", exact=True)).to_be_visible()
        expect(responses).to_contain_text('"echo": "hi"')
    assert violations == []

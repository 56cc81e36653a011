"""An eval in Chromium, as a person runs one: five pasted cases, a `contains` check, two
presets × three samples on the fake; cells fill while it runs; the tab closes mid-run and the
permalink, reopened, shows it finished with its matrix, intervals and pair sentence; a cell
opens the case's columns. Every eval page is checked by axe-core on the way."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from app.main import create_app
from tests.browser.test_axe import assert_accessible
from tests.conftest import LiveServer, settings_for
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.browser
CASES = "\n".join(f"What colour is thing {n}?" for n in range(1, 6))


@pytest.fixture
def one_case_at_a_time(fake: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    """Two presets × three samples = six requests: one case in flight at a time."""
    settings = settings_for(fake.base_url, tmp_path, eval_parallel=6)
    with LiveServer(create_app(settings)) as server:
        yield server


def test_an_eval_runs_on_after_its_tab_closes(
    browser: Browser, page: Page, one_case_at_a_time: LiveServer, fake: FakeUpstream
):
    server = one_case_at_a_time
    answers = ["It is blue.", "It is grey, mostly.", "Blue.", "Sky blue, I think.", "It is blue."]
    fake.behave(texts=answers, chunk_delay=0.15)
    page.goto(f"{server.url}/evals/new")
    expect(page.locator("#eval-preview")).to_contain_text("requests")
    assert_accessible(page, "the eval form, an example filled in")

    page.get_by_label("One prompt per line").check()
    page.locator("textarea[name=cases]").fill(CASES)
    page.locator("textarea[name=template]").fill("")
    page.locator("select[name=c-0-kind]").select_option("contains")
    page.get_by_label("Check 1 value").fill("blue")
    page.locator("select[name=samples]").select_option("3")
    expect(page.locator("#eval-preview")).to_contain_text("5 cases × 2 presets × 3 samples = 30")
    page.get_by_role("button", name="Run eval").click()

    expect(page).to_have_url(re.compile(r"/evals/[\w-]{22}$"))
    permalink = page.url
    expect(page.locator(".eval-status")).to_contain_text("Running")
    # Cells fill while it runs (htmx polls the results).
    expect(page.locator("td.cell a").first).to_be_visible(timeout=15_000)
    expect(page.locator("td.cell.waiting").first).to_be_visible()
    assert_accessible(page, "an eval while it runs")
    page.close()  # the tab goes; the eval does not

    again = browser.new_page()
    again.goto(permalink)
    expect(again.locator(".eval-status")).to_contain_text("Finished: 30 of 30", timeout=30_000)
    expect(again.locator("td.cell a")).to_have_count(10)
    table = again.locator("table.eval-presets")
    expect(table).to_contain_text(re.compile(r"\d+% \(\d+–\d+%\)"))  # a rate with its interval
    expect(again.locator("ul.pairs li")).to_have_count(1)
    expect(again.locator("ul.pairs li")).to_contain_text(re.compile(r"p = "))
    expect(again.locator("figure.eval-bars svg")).to_be_visible()
    assert_accessible(again, "a finished eval")
    if os.environ.get("KNOBS_SCREENSHOT_EVAL"):
        again.locator("main").screenshot(path=os.environ["KNOBS_SCREENSHOT_EVAL"])

    again.locator("td.cell a").nth(1).click()  # case 1, the second preset
    expect(again).to_have_url(re.compile(r"/cases/0#col-1$"))
    expect(again.locator("section.column")).to_have_count(2)
    expect(again.locator("section.column").first).to_contain_text("It is")
    expect(again.locator("table.check-results td").first).to_have_text(re.compile("pass|fail"))
    assert_accessible(again, "an eval's case, its columns")

    again.goto(f"{server.url}/evals")
    expect(again.locator("table.evals tbody tr")).to_have_count(1)
    assert_accessible(again, "the evals' history")
    again.goto(f"{permalink}/delete")
    expect(again.get_by_role("button", name="Delete")).to_be_visible()
    assert_accessible(again, "deleting an eval, the question first")
    again.close()


def test_the_eval_form_refused_at_its_fields(
    page: Page, live_server: LiveServer, fake: FakeUpstream
):
    page.goto(f"{live_server.url}/evals/new")
    page.get_by_label("JSONL, one case per line").check()
    page.locator("textarea[name=cases]").fill('{"prompt": "fine"}\n{"prompt": ')
    page.locator("select[name=c-0-kind]").select_option("regex")
    page.get_by_label("Check 1 value").fill("(unclosed")
    page.get_by_role("button", name="Run eval").click()
    expect(page.locator("#err-cases")).to_contain_text("Line 2")
    expect(page.locator("#err-c-0-value")).to_be_visible()
    assert_accessible(page, "the eval form refused, errors at the fields")
    assert fake.requests == []

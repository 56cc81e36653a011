"""What differs, in a real browser: pick two samples, see their word diff, live and saved."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.browser
SKY = "The sky is red today and the sea is calm."


def test_two_picked_samples_show_a_word_diff_live_and_saved(
    page: Page, live_server, fake: FakeUpstream
):
    fake.behave(text=SKY, nondeterministic=True)  # "… Variant N.": every answer differs
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "Describe the sky.")
    page.fill("input[name='p-0-temperature']", "0")
    page.select_option("select[name='p-0-logprobs']", "true")
    page.fill("input[name='p-0-top_logprobs']", "3")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#status")).to_contain_text("Finished", timeout=15_000)

    # Within a finished column: its samples' differences, and where their tokens split.
    column = page.locator("#col-0")
    column.get_by_text("Word differences between samples").click()
    expect(column.locator("details.diffs del").first).to_be_visible()
    expect(column.locator("details.diffs ins").first).to_be_visible()
    expect(column.locator(".split")).to_contain_text("sample 1 took")
    column.get_by_text("Token probabilities").first.click()
    token = column.locator(".tokens .tok").first
    token.focus()
    expect(token).to_have_attribute("data-p", "0.50")
    if os.environ.get("KNOBS_SCREENSHOT_SPLIT"):
        column.screenshot(path=os.environ["KNOBS_SCREENSHOT_SPLIT"])

    # Any two samples of any columns, picked below the results.
    review = page.locator("#review")
    review.get_by_label("Sample A", exact=True).select_option("1.1")
    review.get_by_label("Sample B", exact=True).select_option("3.2")
    review.get_by_role("button", name="Show differences").click()
    diff = page.locator("#diff")
    expect(diff).to_contain_text("A = Deterministic · sample 1, B = Balanced · sample 2")
    assert diff.locator("del").count() >= 1 and diff.locator("ins").count() >= 1
    # The marks are readable without colour: drawn brackets, struck and underlined text.
    assert (
        diff.locator("del").first.evaluate("e => getComputedStyle(e, '::before').content") == '"[-"'
    )
    assert (
        diff.locator("ins").first.evaluate("e => getComputedStyle(e).textDecorationLine")
        == "underline"
    )
    if os.environ.get("KNOBS_SCREENSHOT_DIFF"):
        page.locator("#review").screenshot(path=os.environ["KNOBS_SCREENSHOT_DIFF"])

    # The same on the saved run.
    page.get_by_role("link", name="Saved run").click()
    expect(page.locator(".run-meta")).to_contain_text("Saved run")
    review = page.locator("#review")
    review.get_by_label("Sample A", exact=True).select_option("2.1")
    review.get_by_label("Sample B", exact=True).select_option("4.1")
    review.get_by_role("button", name="Show differences").click()
    expect(page.locator("#diff")).to_contain_text("A = Precise · sample 1, B = Creative · sample 1")
    assert page.locator("#diff del").count() >= 1 and page.locator("#diff ins").count() >= 1

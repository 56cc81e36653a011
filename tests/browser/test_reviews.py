"""A blind review in Chromium: two signed-in teammates; one asks for a review of a 4-preset
run, both vote with the keyboard; each saw another order; no review page names a preset, a
knob value or the model; the results show win rates with intervals and the agreement."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from app.access.users import add_user
from app.main import create_app
from tests.browser.test_axe import assert_accessible
from tests.conftest import LiveServer, settings_for
from tests.fake_upstream import FakeUpstream
from tests.test_reviews import PRESETS, leaks

pytestmark = pytest.mark.browser
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


@pytest.fixture
def team(fake: FakeUpstream, tmp_path: Path) -> Iterator[LiveServer]:
    users = tmp_path / "users"
    for name, password in PASSWORDS.items():
        add_user(users, name, password)
    settings = settings_for(fake.base_url, tmp_path, users_file=users)
    with LiveServer(create_app(settings)) as server:
        yield server


def signed_in(browser: Browser, server: LiveServer, name: str) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{server.url}/signin")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("button", name=f"Sign out {name}")).to_be_visible()
    return page


def test_two_teammates_review_a_run_blind_with_the_keyboard(
    browser: Browser, team: LiveServer, fake: FakeUpstream
):
    fake.behave(texts=[f"Answer number {n}, in its own words." for n in range(4)])
    alice = signed_in(browser, team, "alice")
    run = alice.request.post(
        f"{team.url}/api/compare", data={"prompt": "Say hi.", "samples": 1, "presets": PRESETS}
    ).json()
    alice.goto(f"{team.url}/r/{run['id']}")
    alice.get_by_role("button", name="Ask for blind reviews").click()
    expect(alice.locator(".verdict")).to_have_text("No votes yet.")
    link = alice.locator("input.share-link").input_value()
    assert_accessible(alice, "a review's results, before any vote")

    bob = signed_in(browser, team, "bob")
    orders = {}
    for who, page in (("alice", alice), ("bob", bob)):
        page.goto(link)
        expect(page).to_have_url(re.compile(r"/cases/0$"))
        html = page.content()
        assert not leaks(html), (who, leaks(html))
        orders[who] = page.locator(".answer pre.text").all_inner_texts()
        assert_accessible(page, f"a review's case, as {who} sees it")
        page.keyboard.press("2" if who == "alice" else "1")  # picks and votes at once
        expect(page).to_have_url(re.compile(r"/results$"), timeout=15_000)
    assert orders["alice"] != orders["bob"]
    assert sorted(orders["alice"]) == sorted(orders["bob"])

    bob.goto(link + "/cases/0")
    expect(bob.locator("input[name=choice]:checked")).to_have_value("A")
    bob.keyboard.press("u")  # undo: the vote goes, the case is open again
    expect(bob.get_by_role("button", name="Vote", exact=True)).to_be_visible()
    bob.wait_for_load_state("load")  # its keys are wired once the page's script has run
    expect(bob.locator("input[name=choice]:checked")).to_have_count(0)
    bob.keyboard.press("1")
    expect(bob).to_have_url(re.compile(r"/results$"), timeout=15_000)

    alice.reload()
    table = alice.locator("table.review-table")
    expect(table).to_contain_text(re.compile(r"\d+% \(\d+–\d+%\)"))
    expect(alice.get_by_text(re.compile("2 votes from 2 reviewers"))).to_be_visible()
    expect(
        alice.get_by_text(re.compile(r"Krippendorff|agreement|same answer", re.I)).first
    ).to_be_visible()
    assert_accessible(alice, "a review's results")


def test_a_reviewer_without_a_sign_in_names_themselves_first(
    page: Page, live_server: LiveServer, fake: FakeUpstream
):
    fake.behave(texts=["First answer.", "Second answer."])
    run = page.request.post(
        f"{live_server.url}/api/compare",
        data={"prompt": "Say hi.", "samples": 1, "presets": PRESETS[:2]},
    ).json()
    review = page.request.post(f"{live_server.url}/api/runs/{run['id']}/reviews").json()
    page.goto(review["url"])
    expect(page.get_by_label("Your name")).to_be_focused()
    assert_accessible(page, "a review's first page: who is reviewing")
    page.get_by_label("Your name").fill("Zoë")
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_text("Voting as Zoë.")).to_be_visible()
    page.wait_for_load_state("load")
    page.keyboard.press("t")  # two answers: a tie is a choice
    expect(page).to_have_url(re.compile(r"/results$"), timeout=15_000)
    expect(page.locator("table.review-table")).to_contain_text("1")

"""Team access in a real browser: sign in as a user from the users file, run, find the run
under "mine", fail to delete a teammate's; a preset link opened signed out comes back after
sign-in with its form restored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, expect

from app.access.users import add_user
from app.main import create_app
from tests.conftest import LiveServer, settings_for
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.browser
PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


@pytest.fixture
def app(fake: FakeUpstream, tmp_path: Path) -> FastAPI:
    users = tmp_path / "users"
    for name, password in PASSWORDS.items():
        add_user(users, name, password)
    return create_app(settings_for(fake.base_url, tmp_path, users_file=users))


@pytest.fixture
def team(live_server: LiveServer) -> Iterator[LiveServer]:
    yield live_server


def sign_in(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in", exact=True).click()


def run_once(page: Page, prompt: str) -> None:
    page.fill("textarea[name=prompt]", prompt)
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#status")).to_contain_text("Finished", timeout=15_000)


def test_a_teammate_runs_sees_their_runs_and_cannot_delete_anothers(
    browser: Browser, team: LiveServer, fake: FakeUpstream
):
    bob = browser.new_context().new_page()
    bob.goto(team.url)
    sign_in(bob, "bob")
    run_once(bob, "Bob's question")
    bob.context.close()

    page = browser.new_context().new_page()
    page.goto(f"{team.url}/runs")
    sign_in(page, "alice")
    expect(page).to_have_url(f"{team.url}/runs")  # back where she was going
    expect(page.locator("table.runs")).to_have_count(0)  # nothing of hers yet
    page.goto(team.url)
    run_once(page, "Alice's question")

    page.get_by_role("link", name="History").click()
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Alice's question")
    expect(rows.first.get_by_role("button", name="Delete")).to_be_visible()

    page.get_by_role("link", name="Everyone's").click()
    theirs = page.locator("table.runs tbody tr", has_text="Bob's question")
    expect(theirs).to_contain_text("bob")
    expect(theirs.get_by_role("button", name="Delete")).to_have_count(0)
    # Going around the missing button is refused too, and the run stays.
    run_id = theirs.get_attribute("id").removeprefix("run-")  # type: ignore[union-attr]
    page.goto(f"{team.url}/r/{run_id}/delete")
    expect(page.get_by_role("heading", name="Not yours to delete")).to_be_visible()
    refused = page.request.post(f"{team.url}/r/{run_id}/delete", headers={"Origin": team.url})
    assert refused.status == 403
    page.goto(f"{team.url}/r/{run_id}")
    expect(page.locator("main")).to_contain_text("Bob's question")  # teammates read permalinks

    page.get_by_role("button", name="Sign out alice").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{team.url}/runs")
    expect(page).to_have_url(f"{team.url}/signin?next=%2Fruns")
    page.context.close()


def test_a_preset_link_opened_signed_out_is_restored_after_sign_in(page: Page, team: LiveServer):
    presets = "p=Cold;temperature=0&p=Hot;temperature=1.2"
    link = f"{team.url}/?prompt=Name+a+colour.&samples=2&{presets}&v=1"
    page.goto(link)
    sign_in(page, "alice")
    expect(page).to_have_url(link)
    expect(page.locator("textarea[name=prompt]")).to_have_value("Name a colour.")
    expect(page.locator("input[name='p-0-name']")).to_have_value("Cold")
    expect(page.locator("input[name='p-1-temperature']")).to_have_value("1.2")

"""The sweep page in a real browser: points fill in live, the chart, a point's answers, Stop."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.browser
DISTINCT = ".sweep-chart.line .series[data-measure=distinct_share]"


def test_temperature_sweep_fills_in_live_charts_and_shows_a_points_answers(
    page: Page, live_server, fake: FakeUpstream
):
    # Hotter points answer later, so the first rows are done while the last still wait.
    fake.behave(nondeterministic=True, latency_per_temperature=2.5)
    page.goto(f"{live_server.url}/sweep")
    page.fill("textarea[name=prompt]", "Name a colour.")
    # The built-in temperature 0 → 1.2 sweep is filled in; 3 samples per point.
    expect(page.locator("input[name='v-0-values']")).to_have_value("0, 0.3, 0.6, 0.9, 1.2")
    expect(page.locator("#sweep-preview")).to_contain_text("15 requests")
    page.get_by_role("button", name="Run sweep").click()

    expect(page.locator("#point-row-0")).to_have_class(re.compile(r"\bdone\b"))
    # The chart draws the finished points on the whole sweep's axis while the rest run.
    live_dots = page.locator(f"#sweep-chart-live {DISTINCT} circle")
    expect(live_dots.first).to_be_visible()
    expect(page.locator("#sweep-chart-live .tick").filter(has_text="1.2").first).to_be_attached()
    expect(page.locator("#point-row-4")).to_have_class(re.compile(r"\bwaiting\b"))
    expect(page.locator("#sweep-progress")).to_contain_text("of 15 requests done")
    expect(page.locator("#status")).to_contain_text("Finished", timeout=20_000)

    expect(page.locator(f"{DISTINCT} circle")).to_have_count(5)
    expect(page.locator(".sweep-chart svg desc").first).to_contain_text("temperature=1.2")
    expect(page.locator("#sweep-table tbody tr")).to_have_count(5)
    page.locator("#point-row-2 a").click()
    expect(page.locator("#point h2")).to_have_text("Answers at temperature=0.6")
    expect(page.locator("#point .column.chosen .sample")).to_have_count(3)

    # The same on the saved sweep's permalink, clicking the chart's dot this time.
    page.locator("#status a.permalink").click()
    expect(page.locator(f"{DISTINCT} circle")).to_have_count(5)
    page.locator(f"{DISTINCT} a.dot-link").nth(3).click()
    expect(page).to_have_url(re.compile(r"point=3"))
    expect(page.locator("#point h2")).to_have_text("Answers at temperature=0.9")
    expect(page.locator("#point .column.chosen .sample")).to_have_count(3)


def test_stop_ends_a_sweep_and_keeps_what_arrived(page: Page, live_server, fake: FakeUpstream):
    fake.behave(latency_per_temperature=30)  # only the temperature 0 point answers
    page.goto(f"{live_server.url}/sweep")
    page.fill("textarea[name=prompt]", "Name a colour.")
    page.get_by_role("button", name="Run sweep").click()
    expect(page.locator("#point-row-0")).to_have_class(re.compile(r"\bdone\b"))
    page.locator("button.stop").click()
    expect(page.locator("#status")).to_contain_text("Stopped", timeout=10_000)
    expect(page.locator(".sweep-result .warning")).to_contain_text("stopped")
    # Every request of the stopped sweep was closed upstream.
    deadline = time.monotonic() + 5
    while fake.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.in_flight == 0


def test_a_grid_sweep_runs_and_charts_under_the_content_security_policy(
    page: Page, fake: FakeUpstream, live_server
):
    refused: list[str] = []
    page.add_init_script(
        """document.addEventListener("securitypolicyviolation", (e) =>
        console.log(`CSP refused ${e.violatedDirective}: ${e.blockedURI} ${e.sample}`));"""
    )
    page.on("console", lambda m: refused.append(m.text) if "CSP refused" in m.text else None)
    fake.behave(nondeterministic=True)
    page.goto(f"{live_server.url}/sweep")
    page.fill("textarea[name=prompt]", "Name a colour.")
    page.fill("input[name='v-0-values']", "0, 0.6, 1.2")
    page.select_option("select[name='v-1-knob']", "top_k")
    page.fill("input[name='v-1-from']", "1")
    page.fill("input[name='v-1-to']", "41")
    page.fill("input[name='v-1-step']", "20")
    page.select_option("select[name=samples]", "2")
    expect(page.locator("#sweep-preview")).to_contain_text("9 points × 2 samples = 18 requests")
    page.get_by_role("button", name="Run sweep").click()
    expect(page.locator("#status")).to_contain_text("Finished", timeout=20_000)
    expect(page.locator(".sweep-chart.heatmap .cell rect")).to_have_count(9)
    page.locator("#status a.permalink").click()
    expect(page.locator(".sweep-chart.heatmap .cell rect")).to_have_count(9)
    page.get_by_role("link", name="mean answer length").click()
    expect(page.locator(".sweep-chart.heatmap figcaption")).to_contain_text("Mean answer length")
    assert refused == []

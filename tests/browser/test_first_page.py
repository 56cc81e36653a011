"""The first page as a browser gets it: small on the wire, and quiet in the console."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.browser
MAX_FIRST_PAGE_BYTES = 60_000


def test_the_first_page_is_at_most_60_kb_on_the_wire(page: Page, live_server, fake: FakeUpstream):
    page.goto(live_server.url)
    expect(page.locator("section.column")).to_have_count(4)
    page.wait_for_load_state("load")
    # Bytes as transferred (headers and compressed bodies), the page and all it loaded.
    sizes = page.evaluate(
        """() => performance.getEntriesByType("navigation")
              .concat(performance.getEntriesByType("resource"))
              .map(e => [e.name, e.transferSize])"""
    )
    total = sum(size for _, size in sizes)
    assert all(size > 0 for _, size in sizes), sizes  # measured, not served from a cache
    assert total <= MAX_FIRST_PAGE_BYTES, sizes


def test_editing_a_knob_logs_no_console_error(page: Page, live_server, fake: FakeUpstream):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(live_server.url)
    page.fill("input[name='p-1-temperature']", "9")
    page.locator("input[name='p-1-temperature']").blur()
    expect(page.locator("#notes-1")).to_contain_text("between 0 and 2")
    page.fill("input[name='p-1-temperature']", "0.5")
    page.locator("input[name='p-1-temperature']").blur()
    expect(page.locator("#notes-1")).not_to_contain_text("between 0 and 2")
    assert errors == []

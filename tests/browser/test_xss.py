"""Model output and prompts are text: nothing in them runs, in the live page or a saved run."""

from __future__ import annotations

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.browser

# Each payload, if it ever ran, would set window.__xss or open a dialog. The fake streams
# about one word per chunk, so every payload also arrives split across several chunks.
PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2">',
    "<svg onload=window.__xss=3>",
    '<iframe srcdoc="<script>parent.__xss=4</script>"></iframe>',
    '<a href="javascript:window.__xss=5" id="xss-link">click</a>',
    '<div hx-get="/healthz" hx-trigger="load" hx-on::after-request="window.__xss=6">x</div>',
    '<button hx-post="/api/compare" hx-trigger="load">boom</button>',
    "</pre></textarea><script>window.__xss=8</script>",
    '<details open ontoggle="window.__xss=9">',
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=10">',
    "{{ 7*7 }} {% raw %}${7*7}",
    '"><body onload="window.__xss=12">',
    '<object data="javascript:window.__xss=13"></object>',
]


# The live text is replaced by the column's results at the end, so look inside it before
# each column's results arrive: any element in it came from a payload.
COUNT_LIVE_ELEMENTS = """() => {
  window.__liveElements = 0;
  document.addEventListener("htmx:sseBeforeMessage", (event) => {
    if (!event.detail.type.startsWith("c-")) return;
    const made = document.querySelectorAll(".sample.live pre.text *:not(span[hidden])");
    window.__liveElements += made.length;
  });
}"""


def assert_nothing_ran(page: Page, dialogs: list[str]) -> None:
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    assert page.locator("#xss-link, pre.text img, pre.text svg, pre.text iframe").count() == 0


# With app.js the live page applies the stream's text frames itself; without it htmx does.
@pytest.mark.parametrize("app_js", [True, False], ids=["app.js", "htmx alone"])
def test_payloads_stay_text_live_and_saved(page: Page, live_server, fake: FakeUpstream, app_js):
    if not app_js:
        page.route("**/static/app.js", lambda route: route.abort())
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    texts = [" ".join(PAYLOADS[i : i + 4]) for i in range(0, len(PAYLOADS), 4)]
    fake.behave(texts=texts, chunk_delay=0.005)  # over several live frames
    page.goto(live_server.url)
    page.evaluate(COUNT_LIVE_ELEMENTS)
    page.fill("textarea[name=prompt]", PAYLOADS[7] + PAYLOADS[1])
    page.fill("textarea[name=system]", PAYLOADS[0])
    page.fill("input[name='p-0-name']", PAYLOADS[11])
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#status")).to_contain_text("Finished", timeout=15_000)
    page.wait_for_timeout(300)  # give any injected handler a chance to fire
    assert_nothing_ran(page, dialogs)
    assert page.evaluate("window.__liveElements") == 0
    # Which column gets which cycled answer depends on arrival order: read them all.
    shown = "\n".join(page.locator(".output pre.text").all_inner_texts())
    assert "<script>window.__xss=1</script>" in shown and "<svg onload" in shown
    expect(page.locator("textarea[name=prompt]")).to_have_value(PAYLOADS[7] + PAYLOADS[1])
    assert fake.requests[0].body["messages"][1]["content"] == PAYLOADS[7] + PAYLOADS[1]

    page.get_by_role("link", name="Saved run").click()
    expect(page.locator(".run-meta")).to_be_visible()
    page.wait_for_timeout(300)
    assert_nothing_ran(page, dialogs)
    body = page.locator("main").inner_text()
    assert "{{ 7*7 }}" in body  # shown as written: no template ever evaluated it
    assert "<script>window.__xss=1</script>" in body

    page.goto(live_server.url + "/runs")
    assert_nothing_ran(page, dialogs)

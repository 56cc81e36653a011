"""The playground in a real browser: run, watch columns fill, read the flags, press Stop."""

from __future__ import annotations

import os
import time

import pytest
from playwright.sync_api import Page, expect

from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.browser

# Eight different answers, one per request of a 4 × 2 run, so every column varies.
ANSWERS = [
    "top_p keeps only the smallest set of likely tokens whose probabilities add up to p, "
    "then samples from those.",
    "top_p (nucleus sampling) trims the unlikely tail: the model samples only from the tokens "
    "that together make up p of the probability.",
    "With top_p = 0.9 the model ignores the least likely 10% of probability mass when it "
    "picks each next token.",
    "top_p limits sampling to the most probable tokens, cutting off the long tail.",
    "top_p sets a probability budget: tokens are added from most to least likely until the "
    "budget p is spent.",
    "Nucleus sampling (top_p) keeps the head of the distribution and drops the rest.",
    "top_p = 1 considers every token; lower values make answers more focused.",
    "top_p restricts each step to a nucleus of likely tokens whose mass is p.",
]


def wait_idle(fake: FakeUpstream, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while fake.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)


def test_run_streams_columns_and_shows_flags(page: Page, live_server, fake: FakeUpstream):
    fake.behave(texts=ANSWERS, chunk_delay=0.03, fingerprint="fp_3b1c")
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "Explain what top_p does in one sentence.")
    page.fill("input[name='p-0-max_tokens']", "8")
    page.locator("input[name='p-0-max_tokens']").blur()
    expect(page.locator("#notes-0")).to_contain_text("below 32")
    page.locator("textarea[name=prompt]").press("Control+Enter")

    # Columns fill while the answers stream: partial text and live progress.
    expect(page.locator("#status .running")).to_be_visible()
    expect(page.locator("#out-3 .sample.live .text").first).not_to_be_empty()
    expect(page.locator("#out-3 .progress").first).to_contain_text("tokens")
    # Streaming text is not a live region: a screen reader would read out every few words.
    announced = "[aria-live]:not([aria-live=off]), [role=status], [role=log], [role=alert]"
    assert (
        page.locator(".sample.live").evaluate_all(
            f"samples => samples.filter(s => s.closest({announced!r}))"
        )
        == []
    )

    expect(page.locator("#status")).to_contain_text("Finished", timeout=15_000)
    first = page.locator("#col-0")
    expect(first.locator(".flag.truncated")).to_contain_text("cut off at max_tokens=8")
    expect(first.get_by_role("button", name="Rerun with max_tokens=16")).to_be_visible()
    # Temperature 0 yet different answers: the stronger flag.
    expect(first.locator(".flag.unexpected")).to_contain_text("although temperature is 0")
    expect(page.locator("#col-3 .flag.nondeterministic")).to_contain_text("2 distinct of 2")
    expect(page.locator("#col-3 mark.diverge").first).to_be_visible()
    expect(page.locator("#col-3 .stats").first).to_contain_text("stop")

    if os.environ.get("KNOBS_SCREENSHOT"):
        page.screenshot(path=os.environ["KNOBS_SCREENSHOT"], full_page=True)

    # Rerunning the truncated column refills just that column, with max_tokens doubled.
    fake.reset()
    fake.behave(texts=ANSWERS)
    first.get_by_role("button", name="Rerun with max_tokens=16").click()
    expect(page.locator("input[name='p-0-max_tokens']")).to_have_value("16")
    expect(page.locator("#col-0 .flag.truncated")).to_contain_text("max_tokens=16", timeout=10_000)
    assert len(fake.requests) == 2 and fake.requests[0].body["max_tokens"] == 16
    expect(page.locator("#col-3 .flag.nondeterministic")).to_be_visible()  # others untouched


# Before a column's results replace its live text, write down what the live text was.
RECORD_LIVE_TEXT = """() => {
  window.__live = {};
  document.addEventListener("htmx:sseBeforeMessage", (event) => {
    if (!event.detail.type.startsWith("c-")) return;
    for (const text of document.querySelectorAll(`#out-${event.detail.type.slice(2)} pre.text`))
      window.__live[text.id] = text.textContent;
  });
}"""


@pytest.mark.parametrize("app_js", [True, False], ids=["app.js", "htmx alone"])
def test_live_text_arrives_whole_escaped_and_in_order(page: Page, live_server, fake, app_js):
    """Every character, split across chunks and frames, is in the live text in order, as text;
    with app.js (frames applied together) and without it (htmx swaps each one)."""
    if not app_js:
        page.route("**/static/app.js", lambda route: route.abort())
    answer = " ".join(f"<b>{i}</b>&amp;\n" for i in range(150))
    fake.behave(text=answer, chunk_delay=0.002)
    page.goto(live_server.url)
    page.evaluate(RECORD_LIVE_TEXT)
    page.fill("textarea[name=prompt]", "Stream me.")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#status")).to_contain_text("Finished", timeout=15_000)
    live = page.evaluate("window.__live")
    assert len(live) == 8 and set(live.values()) == {answer}
    assert page.locator("pre.text b").count() == 0


def test_a_full_live_box_holds_back_text_until_scrolled(page: Page, live_server, fake):
    """Text well below a full box is kept out of layout; scrolling the box shows it."""
    answer = " ".join(f"word{i}" for i in range(500))
    # Six seconds of answer: the live box must still be there when the test scrolls it,
    # however loaded the machine (the fake keeps to its schedule).
    fake.behave(text=answer, chunk_delay=0.012)
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "Write a lot.")
    page.get_by_role("button", name="Run").click()
    box = page.locator("#text-0-0")
    held = box.locator("span[hidden]")
    expect(held).to_have_count(1)
    box.evaluate("box => { box.scrollTop = box.scrollHeight; }")
    expect(held).to_have_count(0)
    text = box.text_content() or ""
    assert answer.startswith(text) and len(text) > 0
    expect(page.locator("#status")).to_contain_text("Finished", timeout=30_000)
    expect(page.locator("#out-0 pre.text").first).to_have_text(answer)


def test_stop_aborts_the_upstream_requests(page: Page, live_server, fake: FakeUpstream):
    fake.behave(text=" ".join(["slow"] * 400), chunk_delay=0.1)
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "Take your time.")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#out-0 .sample.live .text").first).to_contain_text("slow slow")
    assert fake.in_flight == 8
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#status")).to_contain_text("Stopped", timeout=5_000)
    wait_idle(fake)
    assert fake.in_flight == 0
    expect(page.locator("#col-0 .sample .incomplete").first).to_be_visible()
    expect(page.locator("#col-0 .sample .error").first).to_contain_text("Stopped")
    # What had arrived keeps its stats: TTFT, tokens and total, not "–".
    cells = page.locator("#col-0 .stats tbody tr").first.locator("td")
    tokens, ttft, total = cells.nth(2), cells.nth(3), cells.nth(4)
    expect(tokens).not_to_contain_text("/ –")
    expect(ttft).to_contain_text("ms")
    expect(total).not_to_have_text("–")


def test_columns_can_be_added_and_removed(page: Page, live_server, fake: FakeUpstream):
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "kept while editing")
    page.get_by_role("button", name="+ Nucleus preset").click()
    expect(page.locator("section.column")).to_have_count(5)
    expect(page.locator("input[name='p-4-top_p']")).to_have_value("0.9")
    expect(page.locator("input[name='p-4-temperature']")).to_have_value("")
    page.locator("#col-1").get_by_role("button", name="Remove").click()
    expect(page.locator("section.column")).to_have_count(4)
    expect(page.locator("textarea[name=prompt]")).to_have_value("kept while editing")


def test_invalid_knob_is_refused_at_the_field(page: Page, live_server, fake: FakeUpstream):
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "hello")
    page.fill("input[name='p-2-top_p']", "1.5")
    page.locator("input[name='p-2-top_p']").blur()
    expect(page.locator("#notes-2")).to_contain_text("top_p must be a number between 0 and 1")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#col-2 .knob.invalid")).to_contain_text("between 0 and 1")
    assert fake.requests == []


def test_leaving_the_page_closes_the_upstream_requests(page: Page, live_server, fake):
    fake.behave(hang=True)  # the endpoint never answers: only a disconnect can end this
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "Anyone there?")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#status .running")).to_be_visible()
    deadline = time.monotonic() + 5
    while fake.in_flight < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.in_flight == 8
    page.goto("about:blank")
    wait_idle(fake, seconds=3)
    assert fake.in_flight == 0


def test_preset_link_and_permalink_round_trip(page: Page, live_server, fake: FakeUpstream):
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "Share me ✓")
    page.fill("input[name='p-1-top_k']", "40")
    page.fill("textarea[name='p-2-stop']", "END")
    page.get_by_role("button", name="Copy link").click()
    link = page.locator("input.share-link")
    expect(link).to_be_visible()
    url = link.input_value()
    assert url.startswith(live_server.url + "/?")
    assert page.url == url  # the address bar holds the link too

    fresh = page.context.new_page()
    fresh.goto(url)
    expect(fresh.locator("textarea[name=prompt]")).to_have_value("Share me ✓")
    expect(fresh.locator("input[name='p-1-top_k']")).to_have_value("40")
    expect(fresh.locator("textarea[name='p-2-stop']")).to_have_value("END")
    expect(fresh.locator("input[name='p-0-temperature']")).to_have_value("0")
    assert fake.requests == []  # a link never runs anything by itself

    fresh.get_by_role("button", name="Run").click()
    expect(fresh.locator("#status")).to_contain_text("Finished", timeout=10_000)
    fresh.get_by_role("link", name="Saved run").click()
    expect(fresh.locator(".run-meta")).to_contain_text("Saved run")
    expect(fresh.locator("pre.text").first).to_contain_text("Share me ✓")
    fresh.get_by_role("link", name="Open in playground").click()
    expect(fresh.locator("textarea[name=prompt]")).to_have_value("Share me ✓")
    expect(fresh.locator("input[name='p-1-top_k']")).to_have_value("40")
    fresh.close()


def test_focus_stays_on_the_pressed_button_when_the_form_comes_back(page: Page, live_server, fake):
    """A keyboard or screen reader user who presses Run (or + Column) stays on that button,
    in the form htmx swaps in; the prompt has focus only when the page opens."""
    fake.behave(text="Blue.")
    page.goto(live_server.url)
    expect(page.locator("textarea[name=prompt]")).to_be_focused()
    page.fill("textarea[name=prompt]", "Sky colour?")
    page.get_by_role("button", name="+ Column").focus()
    page.keyboard.press("Enter")
    expect(page.locator("section.column")).to_have_count(5)
    expect(page.get_by_role("button", name="+ Column")).to_be_focused()
    page.locator("button.run").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_contain_text("Finished", timeout=15_000)
    expect(page.locator("button.run")).to_be_focused()


def test_samples_waiting_their_turn_say_queued(page: Page, live_server, fake: FakeUpstream):
    """An endpoint that answers one request at a time (as the embedded model does): the page
    says which samples are still queued while another streams, then every one finishes."""
    fake.limit_slots(1, report=True)
    fake.behave(text=" ".join(["slow"] * 20), chunk_delay=0.05)
    page.goto(live_server.url)
    page.fill("textarea[name=prompt]", "One at a time.")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#text-0-0")).to_contain_text("slow slow")
    expect(page.locator("#progress-3-1")).to_have_text("queued…")
    expect(page.locator("#status")).to_contain_text("Finished", timeout=30_000)
    expect(page.locator("#col-3 .sample").first).to_contain_text("queued")  # the stats say it

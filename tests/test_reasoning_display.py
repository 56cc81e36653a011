"""What a person sees of today's models, through the real app on the fake's dialects: the
three new flags, reasoning folded, refusals, what was changed and exactly what was sent, on
the page without JavaScript, on the saved run, in the exports and in the history."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest
from fastapi.testclient import TestClient

from app.engine.presets import Preset
from tests.fake_upstream import FakeUpstream
from tests.test_pages import form_fields

REASONER = "o3-fake"
REFUSER = "refusing-model"
THOUGHT = "Let me think this through."
ANSWER = "Paris is the capital."
REFUSAL = "I can't help with <that>."
PRESETS = [
    Preset(name="Cold", model=REASONER, temperature=0),  # temperature refused
    Preset(name="Tight", model=REASONER, max_tokens=3),  # the budget goes on reasoning
    Preset(name="Careful", model=REFUSER),
]


@pytest.fixture
def page(client: TestClient, fake: FakeUpstream) -> str:
    """The whole page after a plain form post (no JavaScript), three columns run."""
    fake.behave_for(REASONER, reasoning_model=True, reasoning=THOUGHT, text=ANSWER)
    fake.behave_for(REFUSER, refusal=REFUSAL)
    response = client.post("/", data=form_fields(PRESETS, samples="1"))
    assert response.status_code == 200
    return response.text


def column_html(page: str, index: int) -> str:
    start = page.index(f'id="col-{index}"')
    end = page.find('<section class="column"', start)
    return page[start : end if end > 0 else None]


def pre(block: str, css: str) -> str:
    match = re.search(rf'<pre class="{css}"[^>]*>(.*?)</pre>', block, re.S)
    assert match, f"no <pre class={css!r}>"
    return html.unescape(match.group(1))


def saved_id(page: str) -> str:
    match = re.search(r'href="/r/([\w-]+)">Saved run', page)
    assert match, "the run was not saved"
    return match.group(1)


def assert_shows_what_a_person_needs(page: str, fake: FakeUpstream) -> None:
    cold, tight, careful = (column_html(page, i) for i in range(3))
    # A refused setting: which one, and that the column is not what its name says.
    assert "Setting refused" in cold and "did not take temperature=0" in cold
    assert "not what its name says" in cold
    assert "temperature=0 not accepted by o3-fake: sent without it" in cold
    # Reasoning, folded above the answer, with its token count apart from the answer's.
    fold = re.search(r'<details class="reasoning">\s*<summary>Reasoning \((\d+) tokens\)', cold)
    assert fold and int(fold.group(1)) == 2 * len(THOUGHT.split())
    assert cold.index('class="reasoning"') < cold.index(ANSWER)
    # The budget spent on reasoning, said as such; what was renamed, and why.
    assert "Budget spent on reasoning" in tight and "no tokens left to answer" in tight
    assert "sent as max_completion_tokens=3" in tight
    assert "No answer text: the tokens went to reasoning." in tight
    # A refusal shown as a refusal, its text escaped, not as an empty answer.
    assert "Refused" in careful and "came back as a refusal" in careful
    assert "<strong>Refused:</strong> I can&#39;t help with &lt;that&gt;." in careful
    assert "No answer text" not in careful
    # What was sent: the exact body of a request the fake received, and readable JSON.
    received = {r.raw for r in fake.requests}
    for block in (cold, tight, careful):
        assert "<summary>What was sent</summary>" in block
        exact = pre(block, "json exact")
        assert exact.encode() in received
        assert json.loads(pre(block, "json")) == json.loads(exact)
        assert "$OPENAI_API_KEY" in pre(block, "code")
    assert json.loads(pre(cold, "json exact"))["model"] == REASONER
    assert "temperature" not in json.loads(pre(cold, "json exact"))
    assert json.loads(pre(tight, "json exact"))["max_completion_tokens"] == 3


def test_the_page_shows_flags_reasoning_refusals_and_what_was_sent(page, fake):
    assert_shows_what_a_person_needs(page, fake)
    tight = column_html(page, 1)
    # The rerun at a larger budget works as the Truncated one does, without JavaScript.
    assert 'value="rerun-1-6"' in tight
    assert tight.count("Rerun with max_tokens=6") == 1  # once, though it is truncated too
    assert f"curl -N {fake.base_url}/chat/completions" in pre(tight, "code")
    assert "sk-test-canary-key" not in page


def test_the_budget_rerun_runs_that_column_at_a_larger_budget(client, fake):
    fake.behave_for(REASONER, reasoning_model=True, reasoning=THOUGHT, text=ANSWER)
    data = form_fields(PRESETS[1:2], samples="1", action="rerun-0-6")
    text = client.post("/", data=data).text
    assert fake.requests[-1].body["max_completion_tokens"] == 6
    assert 'name="p-0-max_tokens" value="6"' in text


def test_the_saved_run_shows_the_same(client, page, fake):
    saved = client.get(f"/r/{saved_id(page)}").text
    assert_shows_what_a_person_needs(saved, fake)
    assert "Rerun with" not in saved  # read-only
    assert f"curl -N {fake.base_url}/chat/completions" in saved


def test_the_exports_carry_reasoning_refusals_and_changes(client, page, fake):
    run_id = saved_id(page)
    rows = list(csv.DictReader(io.StringIO(client.get(f"/r/{run_id}.csv").text)))
    cold, tight, careful = rows
    assert cold["reasoning_tokens"] == str(2 * len(THOUGHT.split()))
    assert float(cold["first_token_ms"]) <= float(cold["ttft_ms"])
    assert tight["reasoning_tokens"] == "3" and tight["ttft_ms"] == ""
    assert tight["first_token_ms"] != "" and tight["reasoning_budget"] == "true"
    assert careful["refusal"] == REFUSAL and careful["refused"] == "true"
    assert cold["setting_refused"] == "true" and careful["reasoning_tokens"] == ""
    markdown = client.get(f"/r/{run_id}.md").text
    assert "setting refused" in markdown and "budget spent on reasoning" in markdown
    assert f"{2 * len(THOUGHT.split())} reasoning tok" in markdown
    assert "**refused:** I can't help with &lt;that&gt;." in markdown
    assert "Changed so that the models accept the requests:" in markdown
    assert "- **Cold**: temperature=0 not accepted by o3-fake" in markdown
    assert "- **Tight**: max_tokens=3 not accepted by o3-fake: sent as max_completion" in markdown
    saved = client.get(f"/r/{run_id}.json").json()
    assert [c["sent"] is not None for c in saved["columns"]] == [True] * 3
    assert saved["columns"][2]["samples"][0]["refusal"] == REFUSAL


def test_the_history_counts_the_new_flags(client, page):
    history = client.get("/runs").text
    row = history[history.index(f'id="run-{saved_id(page)}"') :]
    counts = row[: row.index("</td>", row.index('class="flag-counts"'))]
    for shown in ("1 setting refused", "1 refused", "1 budget spent on reasoning", "1 truncated"):
        assert shown in counts

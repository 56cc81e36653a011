"""What differs and why, through the real app: word diffs on the page and the saved run,
agreement, costs (a stated price, an unknown one) and token probabilities at the split."""

from __future__ import annotations

import json
import math
import re

import pytest
from fastapi.testclient import TestClient

from app.engine.presets import Preset
from app.engine.prices import PriceList
from app.engine.probabilities import first_split
from app.engine.results import Usage
from app.main import create_app
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream
from tests.test_pages import form_fields

RED, BLUE = "The sky is red today.", "The sky is blue today."
PRICED = """
[endpoints.priced]
base_url = "{url}"
[endpoints.priced.prices."fake-model*"]
input = 1000.0
output = 2000
"""


def saved_run(client: TestClient, presets: list[dict[str, object]], samples: int = 2) -> dict:
    answer = client.post(
        "/api/compare", json={"prompt": "Sky?", "samples": samples, "presets": presets}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_column_shows_its_samples_word_differences(client, fake: FakeUpstream):
    fake.behave(text=RED, nondeterministic=True)  # "… today. Variant N.", N counting up
    html = client.post("/", data=form_fields([Preset(name="a"), Preset(name="b")])).text
    assert "Word differences between samples" in html
    assert re.search(r"Variant<del> \d+</del><ins> \d+</ins>\.", html)
    assert "1 word inserted, 1 deleted" in html


def test_two_picked_samples_are_diffed_on_the_saved_run(client, fake: FakeUpstream):
    fake.behave(texts=[RED, BLUE])
    run = saved_run(client, [{"name": "a"}, {"name": "b"}], samples=1)
    texts = {c["samples"][0]["text"] for c in run["columns"]}
    assert texts == {RED, BLUE}
    page = client.get(f"/r/{run['id']}").text
    assert '<form class="diff-picker" method="get"' in page  # works without JavaScript
    shown = client.get(f"/r/{run['id']}", params={"a": "1.1", "b": "2.1"}).text
    first = run["columns"][0]["samples"][0]["text"]
    gone, new = ("red", "blue") if first == RED else ("blue", "red")
    assert f"<del> {gone}</del><ins> {new}</ins>" in shown
    fragment = client.get(f"/r/{run['id']}/diff", params={"a": "1.1", "b": "2.1"}).text
    assert fragment.lstrip().startswith('<div id="diff"') and f"<ins> {new}</ins>" in fragment
    wrong = client.get(f"/r/{run['id']}/diff", params={"a": "1.1", "b": "9.9"}).text
    assert "Sample B is not one of this run&#39;s answers" in wrong


# Long answers are looked over in a thread (app/web/comparisons.py), short ones on the loop.
@pytest.mark.parametrize("repeats", [1, 600], ids=["short", "long"])
def test_agreement_is_in_the_api_the_saved_run_and_beside_the_flag(
    client, fake: FakeUpstream, repeats: int
):
    fake.behave(texts=[" ".join(["It is 42."] * repeats), " ".join(["The answer is 42"] * repeats)])
    run = saved_run(client, [{"name": "a"}, {"name": "b"}, {"name": "c"}])
    # Three of each answer in columns of two: some column got both, whatever the order.
    index, column = next(
        (i, c) for i, c in enumerate(run["columns"]) if len({s["text"] for s in c["samples"]}) == 2
    )
    agreement = column["agreement"]
    # Substance is judged on short answers only.
    assert agreement["substance"] is (True if repeats == 1 else None)
    assert 0 < agreement["similarity"] < 1
    assert len(run["agreement"]) == 3 and all(len(row) == 3 for row in run["agreement"])
    saved = client.get(f"/api/runs/{run['id']}").json()
    assert saved["columns"][index]["agreement"] == agreement
    page = client.get(f"/r/{run['id']}").text
    assert "Agreement:" in page
    assert ("agree in substance" in page) is (repeats == 1)
    assert '<table class="agreement-matrix">' in page  # three columns: the matrix


def test_cost_from_a_stated_price_adds_up_and_an_unknown_one_is_a_dash(
    fake: FakeUpstream, tmp_path
):
    endpoints = PRICED.format(url=fake.base_url)
    app = create_app(settings_for(None, tmp_path, endpoints=endpoints))
    fake.behave(text="one two three")
    with TestClient(app) as client:
        run = saved_run(client, [{"name": "known"}, {"name": "unknown", "model": "other-model"}])
        known, unknown = run["columns"]
        for sample in known["samples"]:
            usage = sample["usage"]
            expected = (usage["prompt_tokens"] * 1000 + usage["completion_tokens"] * 2000) / 1e6
            assert math.isclose(sample["cost"], expected)
        assert math.isclose(known["cost"], sum(s["cost"] for s in known["samples"]))
        assert "as the endpoints configuration states" in known["price"]
        assert unknown["cost"] is None and all(s["cost"] is None for s in unknown["samples"])
        assert run["cost"] is None  # a part unknown: the total is not a guess
        only_known = saved_run(client, [{"name": "a"}, {"name": "b"}])
        total = sum(c["cost"] for c in only_known["columns"])
        assert math.isclose(only_known["cost"], total)
        page = client.get(f"/r/{run['id']}").text
        assert "Column cost: <strong>$" in page
        assert (
            "Column cost: <strong>–</strong>" in page and "no price known for other-model" in page
        )
        header, first = client.get(f"/r/{only_known['id']}.csv").text.splitlines()[:2]
        row = dict(zip(header.split(","), first.split(","), strict=True))
        assert math.isclose(float(row["column_cost"]), only_known["columns"][0]["cost"])
        assert math.isclose(float(row["cost"]), only_known["columns"][0]["samples"][0]["cost"])
        markdown = client.get(f"/r/{only_known['id']}.md").text
        assert f"Cost of this comparison: ${only_known['cost']:.6g}" in markdown


def test_the_price_table_knows_a_provider_by_its_url_and_the_embedded_model_is_free():
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=0)
    openai = PriceList(base_url="https://api.openai.com/v1")
    assert (openai.cost(usage, "gpt-4o-mini") or 0) > 0
    assert openai.cost(usage, "no-such-model") is None
    assert PriceList(base_url="http://127.0.0.1:8080/v1").cost(usage, "gpt-4o-mini") is None
    assert PriceList(free=True).cost(Usage(), None) == 0.0
    assert openai.cost(Usage(completion_tokens=5), "gpt-4o-mini") is None  # counts unknown


def test_logprobs_are_sent_only_when_asked_and_shown_at_the_split(client, fake: FakeUpstream):
    fake.behave(text=RED, nondeterministic=True)
    preset = {"name": "probs", "temperature": 0, "logprobs": True, "top_logprobs": 3}
    run = saved_run(client, [preset, {"name": "plain"}])
    asked, plain = (json.loads(c["sent"]) for c in run["columns"])
    assert (asked["logprobs"], asked["top_logprobs"]) == (True, 3)
    assert "logprobs" not in plain and "top_logprobs" not in plain  # unset: not sent
    assert sum("logprobs" in r.body for r in fake.requests) == 2
    probs = run["columns"][0]["samples"][0]["logprobs"]
    assert "".join(t["token"] for t in probs) == run["columns"][0]["samples"][0]["text"]
    assert [a["token"] for a in probs[0]["top"]][1:] == ["alt1", "alt2"]
    assert math.isclose(math.exp(probs[0]["logprob"]), 0.5)
    assert run["columns"][1]["samples"][0]["logprobs"] is None
    page = client.get(f"/r/{run['id']}").text
    assert 'class="tok likely" tabindex="0" data-p="0.50"' in page
    # "The sky is red today. Variant N.": the samples split at the number, token 7.
    said = r"At the split \(token 7\):\s*sample 1 took <code>&#34;\d+.&#34;</code> \(p=0.50\)"

    assert re.search(said, page)


def test_top_logprobs_without_logprobs_is_refused_at_its_field(client, fake: FakeUpstream):
    answer = client.post("/api/compare", json={"prompt": "x", "presets": [{"top_logprobs": 2}]})
    assert answer.status_code == 422
    assert "needs logprobs set to true" in json.dumps(answer.json())
    assert fake.requests == []


def test_a_reasoning_model_that_refuses_logprobs_is_sent_without_them(client, fake: FakeUpstream):
    fake.behave(reasoning_model=True)
    run = saved_run(client, [{"name": "o", "logprobs": True}, {"name": "p"}], samples=1)
    column = run["columns"][0]
    assert column["samples"][0]["error"] is None
    assert any(a["param"] == "logprobs" for a in column["adjustments"])
    assert column["samples"][0]["logprobs"] is None


def test_first_split_names_what_each_sample_took():
    from app.engine.dialects import Alternative, TokenProb

    def tokens(*words: str) -> list[TokenProb]:
        top = [
            Alternative(token=" red", logprob=math.log(0.41)),
            Alternative(token=" blue", logprob=math.log(0.38)),
        ]
        return [
            TokenProb(
                token=w,
                logprob=math.log(0.41 if w == " red" else 0.38 if w == " blue" else 0.9),
                top=top,
            )
            for w in words
        ]

    split = first_split([tokens("The", " sky", " red"), tokens("The", " sky", " blue"), None])
    assert split is not None and split.position == 2
    assert [(t.sample, t.token, round(t.p, 2)) for t in split.taken] == [
        (0, " red", 0.41),
        (1, " blue", 0.38),
    ]
    assert [token for token, _ in split.alternatives] == [" red", " blue"]
    assert first_split([tokens("a"), tokens("a")]) is None
    assert first_split([tokens("a"), tokens("a", "b")]) is None


def test_cached_prompt_tokens_are_priced_as_the_provider_prices_them(fake: FakeUpstream, tmp_path):
    endpoints = PRICED.format(url=fake.base_url) + "cached_input = 100\n"
    usage = {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "total_tokens": 13,
        "prompt_tokens_details": {"cached_tokens": 8},
    }
    fake.behave(text="one two three", usage=usage)
    app = create_app(settings_for(None, tmp_path, endpoints=endpoints))
    with TestClient(app) as client:
        run = saved_run(client, [{"name": "a"}, {"name": "b"}], samples=1)
    sample = run["columns"][0]["samples"][0]
    assert sample["usage"]["cached_tokens"] == 8
    assert math.isclose(sample["cost"], (2 * 1000 + 8 * 100 + 3 * 2000) / 1e6)
    # The price table knows OpenAI's cache price: half the input price for gpt-4o-mini.
    table = PriceList(base_url="https://api.openai.com/v1")
    full = table.cost(Usage(prompt_tokens=1_000_000, completion_tokens=0), "gpt-4o-mini")
    cached = Usage(prompt_tokens=1_000_000, completion_tokens=0, cached_tokens=1_000_000)
    assert full and (table.cost(cached, "gpt-4o-mini") or 0) < full


def test_a_wrong_price_in_the_endpoints_toml_says_what_to_fix():
    from app.engine.endpoints import EndpointConfigError, parse

    toml = PRICED.format(url="http://127.0.0.1:9/v1").replace("input = 1000.0", 'input = "cheap"')
    with pytest.raises(
        EndpointConfigError, match=r"prices for 'fake-model\*': input: .*per million"
    ):
        parse(toml, "KNOBS_ENDPOINTS")
    (endpoint,) = parse(PRICED.format(url="http://127.0.0.1:9/v1"), "KNOBS_ENDPOINTS")
    assert endpoint.prices[0][1].output == 2000


def test_agreeing_samples_show_their_closest_call(client, fake: FakeUpstream):
    fake.behave(text=RED)  # every sample alike: no split, but a nearest one
    preset = {"name": "T0", "temperature": 0, "logprobs": True, "top_logprobs": 2}
    run = saved_run(client, [preset, {"name": "plain"}])
    page = client.get(f"/r/{run['id']}").text
    said = "Closest call (token 1): took <code>&#34;The &#34;</code> (p=0.50) over <code>&#34;alt1"
    assert said in page and "At the split" not in page


def test_the_closest_call_is_the_nearest_tie():
    from app.engine.dialects import Alternative, TokenProb
    from app.engine.probabilities import closest_call

    def token(text: str, p: float, other: str, q: float) -> TokenProb:
        top = [
            Alternative(token=text, logprob=math.log(p)),
            Alternative(token=other, logprob=math.log(q)),
        ]
        return TokenProb(token=text, logprob=math.log(p), top=top)

    close = closest_call([token("a", 0.9, "b", 0.05), token(" red", 0.41, " blue", 0.38)])
    assert close is not None and close.position == 1
    assert (close.taken[0], close.runner_up[0]) == (" red", " blue")
    assert closest_call([TokenProb(token="x", logprob=0.0)]) is None and closest_call(None) is None

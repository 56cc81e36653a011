"""Evals through the real app and the fake endpoint: the API (202, wait, 422 at the field),
the figures against the answers the fake gave, Stop and Resume (only the missing requests),
the form without JavaScript, the permalink, a case's columns, the exports and the history."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.engine.presets import Preset
from app.main import create_app
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream
from tests.test_pages import form_fields

PRESETS = [{"name": "Precise", "temperature": 0}, {"name": "Creative", "temperature": 1}]


def eval_body(cases: int = 5, samples: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "cases": [{"prompt": f"Question {i}?", "expected": "42"} for i in range(cases)],
        "checks": [{"kind": "final_number"}],
        "presets": PRESETS,
        "samples": samples,
        **extra,
    }


def wait_for(client: TestClient, eval_id: str, status: str, seconds: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        shown = client.get(f"/api/evals/{eval_id}").json()
        if shown["status"] == status:
            return shown
        time.sleep(0.05)
    raise AssertionError(f"eval {eval_id} never {status}: {shown['status']} {shown['progress']}")


def test_waited_eval_reports_what_the_answers_say(client: TestClient, fake: FakeUpstream):
    fake.behave(texts=["The answer is 42.", "It is 41."])  # alternate: about half pass
    answer = client.post("/api/evals", json=eval_body(wait=True))
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["status"] == "finished"
    assert shown["progress"]["done"] == shown["progress"]["total"] == 30
    assert len(fake.requests) == 30
    # Every figure is what the stored answers say, whatever order the fake answered in.
    for figures in shown["presets"]:
        cells = [row["cells"][figures["index"]] for row in shown["cases"]]
        samples = [s for cell in cells for s in cell["samples"]]
        passed = [s["text"].endswith("42.") for s in samples]
        assert [s["passed"] for s in samples] == passed
        assert figures["passes"] == sum(passed) and figures["trials"] == 15
        low, high = figures["interval"]
        assert low <= figures["pass_rate"] <= high
        assert figures["pass_all_k"] <= figures["pass_at_k"]
    (pair,) = shown["pairs"]
    assert pair["a"] == "Precise" and pair["b"] == "Creative"
    assert "(p = " in pair["sentence"]
    if not pair["distinguishable"]:
        assert "not distinguishable on these 5 cases" in pair["sentence"]


def test_an_eval_answers_202_and_runs_on_without_its_client(client: TestClient, fake: FakeUpstream):
    fake.behave(text="42", chunk_delay=0.02)
    started = client.post("/api/evals", json=eval_body(cases=4, samples=2))
    assert started.status_code == 202
    body = started.json()
    assert body["status"] == "running" and body["url"].endswith(f"/evals/{body['id']}")
    shown = wait_for(client, body["id"], "finished")
    assert all(f["pass_rate"] == 1.0 for f in shown["presets"])
    # Showing it again applies the checks again and sends nothing.
    sent = len(fake.requests)
    client.get(f"/api/evals/{body['id']}")
    client.get(f"/evals/{body['id']}")
    assert len(fake.requests) == sent == 16


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"checks": [{"kind": "nope"}]}, "checks[0].kind", "is not a check"),
        ({"checks": [{"kind": "regex", "value": "("}]}, "checks[0].value", "regular expression"),
        ({"checks": [{"kind": "schema", "value": {"type": 5}}]}, "checks[0].value", "Schema"),
        (
            {"cases": [{"vars": {"city": "Oslo"}}], "template": "Weather in {{city}} on {{day}}?"},
            "cases[0].vars",
            "{{day}}",
        ),
        ({"cases": [{"prompt": "Hi"}]}, "cases[0].expected", "no expected answer"),
        ({"samples": 10, "cases": [{"prompt": "x", "expected": "1"}] * 200}, "samples", "at most"),
    ],
)
def test_problems_are_refused_at_their_field_before_any_request(
    client: TestClient, fake: FakeUpstream, change: dict[str, Any], field: str, words: str
):
    answer = client.post("/api/evals", json={**eval_body(), **change})
    assert answer.status_code == 422, answer.text
    detail = {d["field"]: d["msg"] for d in answer.json()["detail"]}
    assert field in detail, detail
    assert words.lower() in detail[field].lower()
    assert fake.requests == []


def test_a_conversation_case_is_sent_as_its_turns(client: TestClient, fake: FakeUpstream):
    fake.behave(text="Paris")
    turns = [
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome"},
        {"role": "user", "content": "And of France?"},
    ]
    body = {
        "system": "Answer with one word.",
        "cases": [{"messages": turns, "checks": [{"kind": "equals", "value": "paris"}]}],
        "presets": PRESETS[:1],
        "samples": 1,
        "wait": True,
    }
    shown = client.post("/api/evals", json=body).json()
    assert shown["presets"][0]["passes"] == 1
    (request,) = fake.requests
    assert request.body["messages"] == [
        {"role": "system", "content": "Answer with one word."},
        *turns,
    ]


def test_stop_keeps_finished_cells_and_resume_sends_only_the_missing(
    fake: FakeUpstream, tmp_path: Path
):
    # One case at a time (2 presets x 2 samples = 4 requests in flight), each a while.
    fake.behave(text=" ".join(["42"] * 20), chunk_delay=0.03)
    settings = settings_for(fake.base_url, tmp_path, eval_parallel=4)
    with TestClient(create_app(settings)) as client:
        stop_then_resume(client, fake)


def stop_then_resume(client: TestClient, fake: FakeUpstream) -> None:
    eval_id = client.post("/api/evals", json=eval_body(cases=6, samples=2)).json()["id"]
    deadline = time.monotonic() + 30
    while client.get(f"/api/evals/{eval_id}").json()["progress"]["done"] < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert client.post(f"/api/evals/{eval_id}/stop").status_code == 200
    stopped = wait_for(client, eval_id, "stopped")
    kept = stopped["progress"]["done"]
    assert 4 <= kept < 24 and kept % 2 == 0  # whole cells only
    sent = len(fake.requests)
    assert client.post(f"/api/evals/{eval_id}/resume").status_code == 200
    finished = wait_for(client, eval_id, "finished")
    assert finished["progress"]["done"] == 24
    assert len(fake.requests) - sent == 24 - kept
    assert client.post(f"/api/evals/{eval_id}/resume").status_code == 409


def test_the_form_runs_without_javascript_and_the_permalink_shows_it(
    client: TestClient, fake: FakeUpstream
):
    fake.behave(text="The answer is 5.")
    fields = form_fields([Preset(name="Cold", temperature=0), Preset(name="Warm", temperature=1)])
    fields.pop("prompt")
    fields |= {
        "form": "csv",
        "cases": "question,expected\n2 + 3,5\n1 + 1,2",
        "template": "What is {{question}}?",
        "c-0-kind": "final_number",
        "samples": "1",
        "action": "run",
    }
    answer = client.post("/evals/new", data=fields, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    link = answer.headers["location"]
    eval_id = link.rsplit("/", 1)[1]
    wait_for(client, eval_id, "finished")
    page = client.get(link).text
    assert "Finished: 4 of 4 samples." in page
    assert "50% (" in page  # a pass rate always comes with its interval
    assert "not distinguishable on these 2 cases" in page
    assert f'href="/evals/{eval_id}/cases/0' in page
    case = client.get(f"/evals/{eval_id}/cases/1").text
    assert "What is 1 + 1?" in case and case.count('class="column"') == 2
    assert "Cold" in case and "Warm" in case and ">fail<" in case
    again = client.get(f"/evals/new?again={eval_id}").text
    assert "What is {{question}}?" in again and 'value="Warm"' in again


def test_the_form_says_what_is_wrong_where_it_is(client: TestClient, fake: FakeUpstream):
    fields = form_fields([Preset(name="Cold", temperature=0)])
    fields.pop("prompt")
    fields |= {
        "form": "jsonl",
        "cases": '{"prompt": "fine"}\n{"prompt": ',
        "c-0-kind": "regex",
        "c-0-value": "(unclosed",
        "action": "run",
    }
    page = client.post("/evals/new", data=fields)
    assert page.status_code == 422
    html = unescape(page.text)
    assert re.search(r'id="err-cases">Line 2', html)
    assert re.search(r'id="err-c-0-value">[^<]*RE2', html)
    assert "(unclosed" in html and '{"prompt": "fine"}' in html  # kept as typed
    assert fake.requests == []


def test_exports_history_and_delete(client: TestClient, fake: FakeUpstream):
    fake.behave(texts=["42", "no"])
    body = eval_body(
        cases=2, samples=2, checks=[{"kind": "final_number"}, {"kind": "max_words", "value": 3}]
    )
    eval_id = client.post("/api/evals", json={**body, "wait": True}).json()["id"]
    rows = list(csv.DictReader(io.StringIO(client.get(f"/evals/{eval_id}.csv").text)))
    assert len(rows) == 2 * 2 * 2
    assert len({r["check_1"] for r in rows}) == 1 and "last number" in rows[0]["check_1"]
    for row in rows:
        number_ok = row["text"] == "42"
        assert row["check_1_passed"] == ("true" if number_ok else "false")
        assert row["check_2_passed"] == "true"
        assert row["passed"] == row["check_1_passed"]
    markdown = client.get(f"/evals/{eval_id}.md").text
    assert "| Precise |" in markdown and "95% interval" in markdown
    assert json.loads(client.get(f"/evals/{eval_id}.json").text)["id"] == eval_id
    assert f"/evals/{eval_id}" in client.get("/evals").text
    assert client.delete(f"/api/evals/{eval_id}").status_code == 204
    assert client.get(f"/api/evals/{eval_id}").status_code == 404


def test_the_playground_carries_its_columns_to_the_eval_form(client: TestClient):
    fields = form_fields([Preset(name="Cold", temperature=0.1), Preset(name="Hot", top_p=0.5)])
    fields["action"] = "eval"
    answer = client.post("/", data=fields, follow_redirects=False)
    assert answer.status_code == 303
    page = client.get(answer.headers["location"]).text
    assert 'value="Cold"' in page and 'value="Hot"' in page and "Name a colour." in page
    htmx = client.post("/", data=fields, headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/evals/new?")


def test_a_shutdown_leaves_the_eval_interrupted_and_resumable(fake: FakeUpstream, tmp_path: Path):
    fake.behave(text=" ".join(["42"] * 40), chunk_delay=0.05)
    settings = settings_for(fake.base_url, tmp_path, eval_parallel=4)
    with TestClient(create_app(settings)) as first:
        eval_id = first.post("/api/evals", json=eval_body(cases=4, samples=2)).json()["id"]
        time.sleep(0.3)
    with TestClient(create_app(settings)) as second:
        shown = second.get(f"/api/evals/{eval_id}").json()
        assert shown["status"] == "interrupted"
        assert "Resume" in second.get(f"/evals/{eval_id}").text
        fake.behave(text="42")
        assert second.post(f"/api/evals/{eval_id}/resume").status_code == 200
        assert wait_for(second, eval_id, "finished")["presets"][0]["pass_rate"] == 1.0


def test_presets_are_added_and_removed_on_the_form(client: TestClient):
    fields = form_fields([Preset(name="Cold", temperature=0), Preset(name="Hot", temperature=1)])
    page = client.post("/evals/new", data={**fields, "action": "add"}).text
    assert 'value="Preset 3"' in page
    page = client.post("/evals/new", data={**fields, "action": "remove-0"}).text
    assert 'value="Cold"' not in page and 'value="Hot"' in page


def test_a_sweep_carries_its_points_to_the_eval_form_as_presets(client: TestClient):
    fields = {
        "prompt": "Name a colour.",
        "samples": "2",
        "v-0-knob": "temperature",
        "v-0-values": "0, 0.6, 1.2",
        "action": "eval",
    }
    answer = client.post("/sweep", data=fields, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = client.get(answer.headers["location"]).text
    for value in ("0", "0.6", "1.2"):
        assert f'value="temperature={value}"' in page
    too_many = client.post(
        "/sweep", data={**fields, "v-0-values": "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8"}
    )
    assert "at most 8 presets" in unescape(too_many.text)

"""Sweeps through the real app and the fake endpoint: the API, the form, the saved sweep."""

from __future__ import annotations

import csv
import io
import re

from fastapi.testclient import TestClient

from app.engine.knobs import MAX_SWEEP_POINTS, MAX_SWEEP_REQUESTS
from app.main import create_app
from app.web.comparisons import NOT_SAVED
from tests.conftest import settings_for
from tests.fake_upstream import FakeUpstream
from tests.outages import read_only
from tests.test_access import sign_in, team, users_file  # noqa: F401 - signed-in teams


def sweep(client: TestClient, **body):
    body.setdefault("prompt", "Name a colour.")
    body.setdefault("samples", 3)
    body.setdefault("vary", [{"knob": "temperature", "values": [0, 0.5, 1.0]}])
    return client.post("/api/sweep", json=body)


def test_api_sweep_runs_one_preset_per_point_through_the_fanout(client, fake: FakeUpstream):
    fake.behave(nondeterministic=True)
    response = sweep(client, base={"max_tokens": 32, "top_p": 0.9})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["values"] for p in body["points"]] == [
        {"temperature": 0.0},
        {"temperature": 0.5},
        {"temperature": 1.0},
    ]
    sent = sorted(r.body["temperature"] for r in fake.requests)
    assert sent == [0, 0, 0, 0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    assert {r.body["max_tokens"] for r in fake.requests} == {32}  # the base preset's knobs
    assert {r.body["top_p"] for r in fake.requests} == {0.9}
    point = body["points"][0]
    assert len(point["column"]["samples"]) == 3
    assert point["column"]["flags"]["distinct"] == 3
    assert point["stats"]["distinct_share"] == 1.0
    saved = client.get(body["url"])
    assert saved.status_code == 200
    assert "temperature=0.5" in saved.text


def test_api_sweep_grid_of_two_knobs(client, fake: FakeUpstream):
    vary = [
        {"knob": "temperature", "values": [0, 0.5, 1]},
        {"knob": "top_k", "values": [1, 10, 40]},
    ]
    body = sweep(client, samples=1, vary=vary).json()
    assert len(body["points"]) == 9
    assert body["points"][1]["values"] == {"temperature": 0.0, "top_k": 10}
    page = client.get(f"/sweeps/{body['id']}")
    assert page.status_code == 200
    assert page.text.count('<g class="cell">') == 9
    assert "by temperature (rows) and top_k (columns)" in page.text


def test_api_sweep_refuses_bad_ranges_at_the_field(client, fake: FakeUpstream):
    response = sweep(client, vary=[{"knob": "temperature", "values": [0, 2.5]}])
    assert response.status_code == 422
    fields = {e["field"]: e["msg"] for e in response.json()["detail"]}
    assert fields == {"vary[0].values": "temperature must be a number between 0 and 2; 2.5 is not."}
    response = sweep(client, samples=11, vary=[{"knob": "stop", "values": ["x"]}])
    fields = {e["field"]: e["msg"] for e in response.json()["detail"]}
    assert fields["samples"] == "Samples per point must be a whole number between 1 and 10."
    assert fields["vary[0].knob"].startswith("'stop' cannot be swept")
    assert not fake.requests


def test_api_sweep_caps_points_requests_and_tokens(client, fake: FakeUpstream):
    many = [i / 100 for i in range(MAX_SWEEP_POINTS + 1)]
    response = sweep(client, vary=[{"knob": "temperature", "values": many}])
    assert response.status_code == 422
    points = MAX_SWEEP_POINTS
    response = sweep(client, samples=10, vary=[{"knob": "temperature", "values": many[:points]}])
    fields = {e["field"]: e["msg"] for e in response.json()["detail"]}
    assert f"at most {MAX_SWEEP_REQUESTS}" in fields["samples"]
    # 30 × 4 requests at an unset max_tokens (counted as 4,096) is over the token cap.
    response = sweep(client, samples=4, vary=[{"knob": "temperature", "values": many[:points]}])
    fields = {e["field"]: e["msg"] for e in response.json()["detail"]}
    assert "KNOBS_MAX_TOKENS_PER_COMPARISON" in fields["base.max_tokens"]
    assert not fake.requests


def test_form_without_javascript_runs_to_the_end_and_links_the_saved_sweep(client, fake):
    form = {
        "prompt": "Name a colour.",
        "samples": "2",
        "v-0-knob": "temperature",
        "v-0-from": "0",
        "v-0-to": "1.2",
        "v-0-step": "0.3",
        "p-0-max_tokens": "16",
    }
    page = client.post("/sweep", data=form)
    assert page.status_code == 200, page.text
    assert len(fake.requests) == 10
    assert page.text.count('class="dot') >= 5
    found = re.search(r'href="/sweeps/([\w-]+)"', page.text)
    assert found, page.text
    sweep_id = found.group(1)
    saved = client.get(f"/sweeps/{sweep_id}?point=2")
    assert "Answers at temperature=0.6" in saved.text
    assert client.get(f"/sweeps/{sweep_id}/points/4").status_code == 200
    history = client.get("/sweeps")
    assert f"/sweeps/{sweep_id}" in history.text


def test_form_refuses_a_bad_range_beside_its_field(client, fake):
    form = {"prompt": "Hi", "v-0-knob": "temperature", "v-0-from": "0", "v-0-to": "3"}
    page = client.post("/sweep", data=form)
    assert page.status_code == 422
    assert "temperature must be a number between 0 and 2; 3 is not." in page.text
    form = {"prompt": "Hi", "v-0-knob": "temperature", "v-0-values": "0, 1", "p-0-top_p": "7"}
    page = client.post("/sweep", data=form)
    assert "top_p must be a number between 0 and 1" in page.text
    assert not fake.requests


def test_preview_says_requests_and_tokens_before_running(client, fake):
    form = {"v-0-knob": "max_tokens", "v-0-values": "16, 32, 64", "samples": "4"}
    page = client.post("/sweep/preview", data=form)
    assert "12 requests" in page.text
    assert "448 tokens" in page.text  # (16 + 32 + 64) × 4
    page = client.post("/sweep/preview", data={**form, "v-0-values": "16, 0"})
    assert "max_tokens must be a whole number between 1 and 32768; 0 is not." in page.text
    assert not fake.requests


def test_exports_parse_back(client, fake: FakeUpstream):
    fake.behave(nondeterministic=True)
    body = sweep(client, samples=2).json()
    exported = client.get(f"/sweeps/{body['id']}.json").json()
    assert [p["values"] for p in exported["points"]] == [p["values"] for p in body["points"]]
    assert exported["points"][2]["column"]["samples"][1]["text"]
    rows = list(csv.DictReader(io.StringIO(client.get(f"/sweeps/{body['id']}.csv").text)))
    assert len(rows) == 3 * 2
    assert [r["temperature"] for r in rows] == ["0", "0", "0.5", "0.5", "1", "1"]
    texts = [p["column"]["samples"][s]["text"] for p in body["points"] for s in range(2)]
    assert [r["text"] for r in rows] == texts


def test_link_restores_the_form_without_running(client, fake):
    body = sweep(client, system="Be brief.", base={"max_tokens": 48}).json()
    page = client.get(f"/sweeps/{body['id']}")
    found = re.search(r'href="(/sweep\?[^"]+)"', page.text)
    assert found, page.text
    link = found.group(1).replace("&amp;", "&")
    requests = len(fake.requests)
    form = client.get(link)
    assert form.status_code == 200
    assert len(fake.requests) == requests
    assert 'value="0, 0.5, 1"' in form.text
    assert "Be brief." in form.text
    assert 'name="p-0-max_tokens" value="48"' in form.text


def test_builtin_sweeps_are_one_click_away(client, fake):
    page = client.post("/sweep", data={"prompt": "Hi", "action": "builtin-2"})
    assert 'value="16, 32, 64, 128, 256, 512"' in page.text
    assert "Hi</textarea>" in page.text
    assert not fake.requests


def test_htmx_sweep_streams_points_progress_and_the_chart(client, fake):
    form = {"prompt": "Hi", "samples": "2", "v-0-knob": "temperature", "v-0-values": "0, 1"}
    page = client.post("/sweep", data=form, headers={"HX-Request": "true"})
    assert page.status_code == 200
    found = re.search(r'sse-connect="/sweep/([\w-]+)/events"', page.text)
    assert found, page.text
    assert "0 of 4 requests done" in page.text
    events = client.get(f"/sweep/{found.group(1)}/events").text
    assert events.count("event: progress") == 4
    assert "4 of 4 requests done" in events
    assert "event: p-0" in events and "event: p-1" in events
    # The chart is drawn as the points finish, one dot per point per line so far.
    charts = [f for f in events.split("\n\n") if f.startswith("event: chart")]
    assert len(charts) == 2
    assert [c.count('class="dot') for c in charts] == [4, 8]  # two lines, then both points
    assert events.rstrip().split("\n\n")[-1].startswith("event: done")
    assert "Saved sweep" in events and '<polyline points="' in events
    # A second claim of the same token gets the ended message, and runs nothing again.
    again = client.get(f"/sweep/{found.group(1)}/events").text
    assert "ended or expired" in again
    assert len(fake.requests) == 4


def test_api_sweep_is_documented(client):
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/api/sweep"]["post"]
    assert "fan-out" in operation["description"]
    assert {"200", "422", "429"} <= set(operation["responses"])
    body = schema["components"]["schemas"]["SweepRequest"]["properties"]
    assert body["samples"]["maximum"] == 10
    vary = schema["components"]["schemas"]["Vary"]["properties"]
    assert "temperature" in vary["knob"]["enum"] and "stop" not in vary["knob"]["enum"]


def test_values_without_a_knob_are_not_dropped_silently(client, fake):
    form = {"prompt": "Hi", "v-0-knob": "temperature", "v-0-values": "0, 1", "v-1-values": "5"}
    page = client.post("/sweep", data=form)
    assert page.status_code == 422
    assert "Choose the knob these values are for, or clear them." in page.text
    assert not fake.requests


def test_with_the_database_down_the_answers_still_come_back_not_saved(fake: FakeUpstream, tmp_path):
    app = create_app(settings_for(fake.base_url, tmp_path))
    with TestClient(app) as client, read_only(tmp_path):
        answered = sweep(client, samples=1)
        assert answered.status_code == 200
        body = answered.json()
        assert (body["id"], body["url"], body["not_saved"]) == (None, None, NOT_SAVED)
        form = {"prompt": "Hi", "samples": "1", "v-0-knob": "top_k", "v-0-values": "1, 2"}
        # The live view cannot be held either: the sweep runs to the end instead.
        page = client.post("/sweep", data=form, headers={"HX-Request": "true"})
        assert page.status_code == 200 and "sse-connect" not in page.text
        assert NOT_SAVED in page.text and "Answers at every point" in page.text
        assert 'class="permalink"' not in page.text


def test_a_sweep_is_deleted_after_asking(client, fake):
    sweep_id = sweep(client, samples=1).json()["id"]
    asked = client.get(f"/sweeps/{sweep_id}/delete")
    assert asked.status_code == 200 and "This cannot be undone." in asked.text
    gone = client.post(f"/sweeps/{sweep_id}/delete", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/sweeps"
    assert client.get(f"/sweeps/{sweep_id}").status_code == 404
    assert client.post(f"/sweeps/{sweep_id}/delete").status_code == 404


def test_with_sign_in_a_sweep_is_its_authors_to_delete(team: TestClient):  # noqa: F811
    sign_in(team, "bob")
    bobs = sweep(team, samples=1).json()["id"]
    sign_in(team, "alice")
    alices = sweep(team, samples=1).json()["id"]
    listed = team.get("/sweeps").text
    assert f'action="/sweeps/{alices}/delete"' in listed
    assert f'action="/sweeps/{bobs}/delete"' not in listed  # no Delete button on bob's sweep
    assert team.get(f"/sweeps/{bobs}").status_code == 200  # permalinks are for teammates
    assert team.get(f"/sweeps/{bobs}/delete").status_code == 403
    assert team.post(f"/sweeps/{bobs}/delete").status_code == 403
    assert team.post(f"/sweeps/{alices}/delete", follow_redirects=False).status_code == 303
    sign_in(team, "root")  # an admin deletes anyone's
    assert team.post(f"/sweeps/{bobs}/delete", follow_redirects=False).status_code == 303
    assert team.get(f"/sweeps/{bobs}").status_code == 404

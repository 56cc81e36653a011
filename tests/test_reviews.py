"""Blind reviews through the real app: asked for on a run, a sweep and an eval; reviewers'
pages that name nothing of the settings; one vote per reviewer and case, changeable; coming
back to the first case not judged; ties only between two; a closed review; the API; the
results beside an eval's pass rates; and two replicas on one PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2
from fastapi.testclient import TestClient

from app.main import create_app
from tests import postgres
from tests.conftest import LiveServer, settings_for
from tests.fake_upstream import FakeUpstream

PRESETS = [
    {"name": "Alpha", "temperature": 0.37, "model": "fake-model"},
    {"name": "Bravo", "temperature": 1.13, "model": "fake-model"},
    {"name": "Charlie", "top_p": 0.61, "model": "fake-model"},
    {"name": "Delta", "top_k": 17, "model": "fake-model"},
]
# What must never reach a reviewer before they ask to see it.
SECRETS = ("Alpha", "Bravo", "Charlie", "Delta", "0.37", "1.13", "0.61", "17", "fake-model")
SECRET_WORDS = ("temperature", "top_p", "top_k", "tokens", "latency", "cost", "ms<", "$")


def leaks(html: str) -> list[str]:
    found = [s for s in SECRETS if s in html]
    return found + [w for w in SECRET_WORDS if w in html.lower()]


def an_eval(client: TestClient, cases: int = 5) -> str:
    body = {
        "cases": [{"prompt": f"Describe thing {n}."} for n in range(cases)],
        "presets": PRESETS,
        "samples": 2,
        "wait": True,
    }
    return client.post("/api/evals", json=body).json()["id"]


def letters_in(html: str) -> list[str]:
    return re.findall(r'name="choice" value="([A-H])"', html)


def answer_texts(html: str) -> list[str]:
    return re.findall(r'<pre class="text">(Answer [^<]*)</pre>', html)


def as_reviewer(client: TestClient, name: str) -> None:
    client.cookies.set("knobs_reviewer", name)


def test_a_review_of_a_run_names_nothing_and_orders_differ(client: TestClient, fake: FakeUpstream):
    fake.behave(texts=[f"Answer number {n}." for n in range(8)])
    run = client.post(
        "/api/compare", json={"prompt": "Say hi.", "samples": 1, "presets": PRESETS}
    ).json()
    asked = client.post(f"/r/{run['id']}/reviews", follow_redirects=False)
    assert asked.status_code == 303
    review_id = asked.headers["location"].split("/")[2]
    assert f"/reviews/{review_id}" in client.get(f"/r/{run['id']}").text
    assert "1 review" in client.get("/runs").text

    name_page = client.get(f"/reviews/{review_id}").text
    assert 'name="name"' in name_page and not leaks(name_page)
    seen = {}
    for reviewer in ("ann", "ben"):
        as_reviewer(client, reviewer)
        page = client.get(f"/reviews/{review_id}/cases/0").text
        assert not leaks(page), leaks(page)
        assert not leaks(client.get(f"/reviews/{review_id}/cases/0?all=1").text)
        seen[reviewer] = answer_texts(page)
        assert sorted(seen[reviewer]) == sorted(
            s["text"] for c in run["columns"] for s in c["samples"]
        )
    assert seen["ann"] != seen["ben"]  # reviewers 1 and 2 of a block never share an order


def test_leaving_after_two_cases_comes_back_to_the_third_and_a_changed_vote_replaces(
    client: TestClient, fake: FakeUpstream
):
    fake.behave(texts=[f"Answer {n}" for n in range(8)])
    eval_id = an_eval(client)
    review = client.post(f"/api/evals/{eval_id}/reviews").json()
    as_reviewer(client, "cat")
    for case in (0, 1):
        assert (
            client.post(
                f"/reviews/{review['id']}/cases/{case}",
                data={"choice": "A"},
                follow_redirects=False,
            ).status_code
            == 303
        )
    back = client.get(f"/reviews/{review['id']}", follow_redirects=False)
    assert back.headers["location"].endswith("/cases/2")
    client.post(f"/reviews/{review['id']}/cases/1", data={"choice": "C", "note": "on reflection"})
    votes = client.get(f"/reviews/{review['id']}.csv").text.strip().splitlines()[1:]
    assert len(votes) == 2 and votes[-1].endswith("on reflection")
    page = client.get(f"/reviews/{review['id']}/cases/1").text
    assert 'value="C" checked' in page and "Change my vote" in page
    # Until every case is judged, the results (which name the presets) wait.
    early = client.get(f"/reviews/{review['id']}/results", follow_redirects=False)
    assert early.status_code == 200  # no sign-in: everyone administers this Knobs
    assert "Alpha" in early.text


def test_ties_only_between_two_and_a_closed_review_takes_no_votes(
    client: TestClient, fake: FakeUpstream
):
    fake.behave(texts=["one", "two"])
    run = client.post(
        "/api/compare", json={"prompt": "x", "samples": 1, "presets": PRESETS[:2]}
    ).json()
    review = client.post(f"/api/runs/{run['id']}/reviews").json()
    shown = client.get(f"/api/reviews/{review['id']}/cases/0").json()
    assert shown["tie_allowed"] and sorted(shown["answers"]) == ["A", "B"]
    assert (
        client.post(
            f"/api/reviews/{review['id']}/votes", json={"case": 0, "choice": "tie"}
        ).status_code
        == 204
    )
    assert (
        client.post(
            f"/api/reviews/{review['id']}/votes", json={"case": 0, "choice": "C"}
        ).status_code
        == 422
    )
    results = client.get(f"/api/reviews/{review['id']}").json()
    assert [p["ties"] for p in results["presets"]] == [1, 1]
    client.post(f"/reviews/{review['id']}/close")
    refused = client.post(f"/api/reviews/{review['id']}/votes", json={"case": 0, "choice": "A"})
    assert refused.status_code == 422 and "closed" in refused.json()["detail"]

    wide = client.post(
        "/api/sweep",
        json={
            "prompt": "x",
            "samples": 1,
            "vary": [{"knob": "temperature", "values": [0, 0.2, 0.4, 0.6, 0.8, 1, 1.2, 1.4, 1.6]}],
        },
    ).json()
    too_wide = client.post(f"/api/sweeps/{wide['id']}/reviews")
    assert too_wide.status_code == 422 and "at most 8" in too_wide.json()["detail"]


def test_an_eval_shows_peoples_preference_beside_its_pass_rates(
    client: TestClient, fake: FakeUpstream
):
    fake.behave(texts=[f"Answer {n}" for n in range(8)])
    eval_id = an_eval(client, cases=3)
    review = client.post(f"/api/evals/{eval_id}/reviews").json()
    for reviewer in ("dan", "eve"):
        as_reviewer(client, reviewer)
        for case in range(3):
            shown = client.get(f"/api/reviews/{review['id']}/cases/{case}").json()
            assert sorted(shown["answers"]) == ["A", "B", "C", "D"]
            assert (
                client.post(
                    f"/api/reviews/{review['id']}/votes", json={"case": case, "choice": "B"}
                ).status_code
                == 204
            )
    results = client.get(f"/api/reviews/{review['id']}").json()
    assert results["votes"] == 6 and results["reviewers"] == 2
    exported = client.get(f"/evals/{eval_id}.json").json()["reviews"]
    assert [len(r["votes"]) for r in exported] == [6]
    assert {v["picked"] for v in exported[0]["votes"]} <= {p["name"] for p in PRESETS}
    assert results["agreement"]["cases"] == 3
    page = client.get(f"/evals/{eval_id}").text
    assert "What people preferred" in page and "Win rate (95% interval)" in page


def test_votes_through_one_replica_results_through_another(fake: FakeUpstream, tmp_path: Path):
    fake.behave(texts=[f"Answer {n}" for n in range(8)])
    with postgres.fresh_schema(postgres.server_url()) as url:
        a, b = (
            create_app(settings_for(fake.base_url, tmp_path / n, database_url=url)) for n in "ab"
        )
        with LiveServer(a) as one, LiveServer(b) as two, httpx2.Client(timeout=30) as http:
            run = http.post(
                f"{one.url}/api/compare", json={"prompt": "x", "samples": 1, "presets": PRESETS}
            ).json()
            review = http.post(f"{one.url}/api/runs/{run['id']}/reviews").json()
            for reviewer, server in (("fay", one), ("gus", two)):
                http.cookies.set("knobs_reviewer", reviewer)
                shown = http.get(f"{server.url}/api/reviews/{review['id']}/cases/0").json()
                winner = next(letter for letter, texts in shown["answers"].items() if texts)
                voted = http.post(
                    f"{server.url}/api/reviews/{review['id']}/votes",
                    json={"case": 0, "choice": winner},
                )
                assert voted.status_code == 204
            results = http.get(f"{two.url}/api/reviews/{review['id']}").json()
            assert results["votes"] == 2 and results["reviewers"] == 2
            assert sum(p["wins"] for p in results["presets"]) == 2

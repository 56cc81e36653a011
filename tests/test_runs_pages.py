"""Saved-run pages over HTTP: permalink, history, delete, exports parsed back, bad ids."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.engine.presets import KNOBS, Preset
from app.storage.exports import CSV_FIELDS
from app.storage.saved import SavedRun
from app.storage.store import RunStore
from app.web.sharelink import decode
from tests.conftest import services
from tests.sample_runs import column, make_run, sample

XSS = "<script>alert(1)</script>"


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """The real app (on the fake endpoint); the runs are put straight into its store."""
    with TestClient(app, follow_redirects=False) as client:
        yield client


@pytest.fixture
def store(client: TestClient) -> RunStore:
    return services(client).store


@pytest.fixture
def run_id(store: RunStore) -> str:
    return store.save(make_run())


def test_the_permalink_shows_the_run_escaped(client: TestClient, store: RunStore):
    hostile = Preset(name=XSS, model=XSS, temperature=0.5, stop=[XSS])
    run = make_run(prompt=XSS, columns=[column(hostile, [sample(XSS), sample(XSS + "!")])])
    run.system = XSS
    run_id = store.save(run)
    page = client.get(f"/r/{run_id}")
    assert page.status_code == 200
    assert "alert(1)" in page.text and "<script>alert" not in page.text
    assert page.text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert "Nondeterministic" in page.text  # the flags partial rendered
    assert "Sample 1" in page.text and "Sample 2" in page.text
    assert "Rerun with" not in page.text  # read-only: nothing on this page runs anything


def test_the_permalink_links_to_the_playground_and_exports(client: TestClient, run_id: str):
    text = client.get(f"/r/{run_id}").text
    link = re.search(r'href="(/\?[^"]*)">Open in playground', text)
    assert link is not None
    href = html.unescape(link.group(1))
    decoded = decode(href.removeprefix("/?"))
    run = SavedRun.model_validate(client.get(f"/api/runs/{run_id}").json())
    assert decoded.problems == []
    assert (decoded.prompt, decoded.system, decoded.samples) == (run.prompt, run.system, 2)
    assert decoded.presets == [c.preset for c in run.columns]
    assert f'data-copy="http://testserver/r/{run_id}"' in text
    for suffix in (".json", ".csv", ".md", "/delete"):
        assert f'href="/r/{run_id}{suffix}"' in text


def test_history_lists_newest_first_with_flag_counts(client: TestClient, store: RunStore):
    ids = [store.save(make_run(prompt=f"prompt number {i}")) for i in range(30)]
    first = client.get("/runs").text
    assert "30 saved runs" in first and "Page 1 of 2" in first
    listed = re.findall(r'<tr id="run-([\w-]+)"', first)
    assert listed == ids[::-1][:25]
    assert "prompt number 29" in first and "Deterministic, Creative" in first
    assert "1 truncated" in first and "1 nondeterministic" in first
    assert 'rel="next" href="/runs?page=2"' in first
    second = client.get("/runs?page=2").text
    assert re.findall(r'<tr id="run-([\w-]+)"', second) == ids[::-1][25:]
    for odd in ("0", "-1", "abc", "²", "9" * 40):
        assert client.get(f"/runs?page={odd}").status_code == 200
    assert "No saved runs on this page" in client.get("/runs?page=99").text


def test_delete_asks_first_without_javascript(client: TestClient, run_id: str):
    found = re.search(r"<form [^>]*>", client.get("/runs").text, re.S)
    assert found is not None
    row_form = found.group(0)
    assert f'action="/r/{run_id}/delete"' in row_form and 'method="get"' in row_form
    assert "hx-confirm=" in row_form and f'hx-post="/r/{run_id}/delete"' in row_form
    confirm = client.get(f"/r/{run_id}/delete")
    assert "Delete this run?" in confirm.text
    assert f'<form method="post" action="/r/{run_id}/delete">' in confirm.text
    assert client.get(f"/r/{run_id}").status_code == 200  # asking deleted nothing
    done = client.post(f"/r/{run_id}/delete")
    assert (done.status_code, done.headers["location"]) == (303, "/runs")
    assert client.get(f"/r/{run_id}").status_code == 404
    assert client.post(f"/r/{run_id}/delete").status_code == 404


def test_delete_through_htmx_removes_the_row(client: TestClient, run_id: str):
    done = client.post(f"/r/{run_id}/delete", headers={"HX-Request": "true"})
    assert (done.status_code, done.text) == (200, "")
    assert client.get(f"/api/runs/{run_id}").status_code == 404


def test_the_api_reads_and_deletes(client: TestClient, run_id: str):
    got = client.get(f"/api/runs/{run_id}")
    assert got.status_code == 200 and got.json()["id"] == run_id
    assert got.json() == client.get(f"/r/{run_id}.json").json()
    assert client.delete(f"/api/runs/{run_id}").status_code == 204
    gone = client.delete(f"/api/runs/{run_id}")
    assert gone.status_code == 404 and "No saved run" in gone.json()["detail"]


def test_the_json_export_is_the_saved_run(client: TestClient, store: RunStore, run_id: str):
    exported = client.get(f"/r/{run_id}.json")
    assert exported.headers["content-type"] == "application/json"
    assert SavedRun.model_validate(exported.json()) == store.get(run_id)


def test_the_csv_export_parses_back(client: TestClient, store: RunStore, run_id: str):
    exported = client.get(f"/r/{run_id}.csv")
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="knobs-{run_id}.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert tuple(rows[0]) == CSV_FIELDS
    assert [(r["column"], r["preset"], r["sample"]) for r in rows] == [
        ("1", "Deterministic", "1"),
        ("1", "Deterministic", "2"),
        ("2", "Creative", "1"),
        ("2", "Creative", "2"),
    ]
    creative = rows[3]
    assert {k.name: creative[k.name] for k in KNOBS} == {
        "temperature": "1",
        "top_p": "",
        "top_k": "",
        "max_tokens": "64",
        "frequency_penalty": "",
        "presence_penalty": "",
        "seed": "",
        "stop": '["\\n\\n", "END"]',
        "reasoning_effort": "",
        "verbosity": "",
        "logprobs": "",
        "top_logprobs": "",
    }
    assert creative["text"] == "Another, cut" and creative["finish_reason"] == "length"
    assert (creative["prompt_tokens"], creative["completion_tokens"]) == ("9", "3")
    assert (creative["ttft_ms"], creative["latency_ms"]) == ("81.5", "1234.25")
    assert creative["truncated"] == "true" and creative["nondeterministic"] == "true"
    assert creative["distinct"] == "2" and rows[0]["first_divergence"] == ""
    assert rows[0]["run_id"] == run_id and rows[0]["error"] == ""


def test_the_csv_export_defuses_formulas(client: TestClient, store: RunStore):
    run = make_run(columns=[column(Preset(name="=cmd()"), [sample("-1+1"), sample("@x")])])
    rows = list(csv.DictReader(io.StringIO(client.get(f"/r/{store.save(run)}.csv").text)))
    assert [r["text"] for r in rows] == ["'-1+1", "'@x"]
    assert rows[0]["preset"] == "'=cmd()"


def md_rows(text: str) -> list[list[str]]:
    """The table's body rows: cells split on unescaped pipes, then unescaped back."""
    lines = text.splitlines()
    rows = []
    for line in lines[lines.index("| --- " * 6 + "|") + 1 :]:
        cells, cell, chars = [], "", iter(line.removeprefix("| "))
        for char in chars:
            if char == "\\":
                cell += next(chars)  # \\ or \|
            elif char == "|":
                cells.append(html.unescape(cell.strip().replace("<br>", "\n")))
                cell = ""
            else:
                cell += char
        rows.append(cells)
    return rows


def test_the_markdown_export_parses_back(client: TestClient, store: RunStore):
    tricky = "a | b\nsecond line with <b>tag</b> and \\ backslash\\"
    columns = [*make_run().columns, column(Preset(name="Odd | name"), [sample(tricky)])]
    run_id = store.save(make_run(prompt="Why | not?\n```\ncode\n```", columns=columns))
    exported = client.get(f"/r/{run_id}.md")
    assert exported.headers["content-type"] == "text/plain; charset=utf-8"
    text = exported.text
    assert text.startswith("# Knobs run: Why \\| not? ``` code ```\n")
    assert "````text\nWhy | not?\n```\ncode\n```\n````" in text
    assert f"[permalink](http://testserver/r/{run_id})" in text
    rows = md_rows(text)
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("Deterministic", "1, 2", "Same."),
        ("Creative", "1", "One answer."),
        ("Creative", "2", "Another, cut"),
        ("Odd | name", "1", tricky),
    ]
    assert rows[0][1] == "temperature=0" and rows[0][2] == "repeatable: 2 identical"
    assert rows[1][1] == 'temperature=1, max_tokens=64, stop=["\\n\\n", "END"]'
    assert rows[1][2] == "truncated 1/2, nondeterministic: 2 distinct of 2"
    assert rows[2][5].startswith("#2 length · 9/3 tok · TTFT 82 ms · 1.23 s")


BAD_PATHS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f",
    "%00",
    "a" * 5000,
    "%22%27%3E%3Cscript%3E",
    "A" * 22,
    "A" * 65,
]


@pytest.mark.parametrize("bad", BAD_PATHS)
@pytest.mark.parametrize("suffix", ["", ".csv", ".md", "/delete"])
def test_bad_ids_get_the_friendly_page(client: TestClient, run_id: str, bad: str, suffix: str):
    # `/r/../` is redirected to `/r/..` first, like any path with a trailing slash, which a
    # client (httpx as a browser) resolves to `/`: the playground, not an error.
    page = client.get(f"/r/{bad}{suffix}", follow_redirects=True)
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text
    if page.url.path != "/":
        assert page.status_code == 404 and "Not found" in page.text


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_bad_ids_under_api_get_json(client: TestClient, run_id: str, bad: str):
    for response in (
        client.get(f"/api/runs/{bad}", follow_redirects=True),
        client.delete(f"/api/runs/{bad}", follow_redirects=True),
        client.get(f"/r/{bad}.json", follow_redirects=True),
    ):
        assert response.status_code == 404
        assert set(response.json()) == {"detail"}
    assert client.post(f"/r/{bad}/delete").status_code == 404

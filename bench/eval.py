"""The eval case: POST /api/evals (20 cases × 4 presets × 3 samples @ 300 ms) against the floor.

An eval keeps KNOBS_EVAL_PARALLEL requests in flight (default 24: two cases of 12 at a time),
so its wall time should be that of its 240 requests sent 24 at a time. Knobs' side is one
POST /api/evals with `"wait": true`, timed from sending it to reading the finished eval (its
figures computed), Knobs at every default setting. The floor is the very chat requests Knobs
sent, sent straight to the fake by a bare httpx2 client with at most as many in flight, each
read to its [DONE]. Answers differ, as real presets' do: the fake cycles through several, and
half of them pass the eval's check.

    .venv/bin/python -m bench.eval               # 20 × 4 × 3 @ 300 ms, 5 rounds
    .venv/bin/python -m bench.eval --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx2

from app.settings import Settings
from bench.fanout import PRESETS, SYSTEM, answer, floor_request
from bench.serve import ROOT, FakeProcess, free_port, knobs_command, knobs_env, stop, wait_ready

TARGET = 1.2
DEFAULTS = Settings.model_fields
PARALLEL: int = DEFAULTS["eval_parallel"].default
# Answers that differ from their first words and in length, as presets' answers do; the
# check (contains "top_p") passes on half of them.
OPENINGS = ("In short,", "Put simply,", "Briefly:", "To answer:", "Well,", "So:")


def answers(words: int) -> list[str]:
    texts = []
    for n, opening in enumerate(OPENINGS):
        body = answer(words - 4 + 2 * n)
        texts.append(f"{opening} {body}" if n % 2 else f"{opening} {body.replace('Top_p', 'p')}")
    return texts


def eval_body(cases: int, presets: int, samples: int) -> dict[str, Any]:
    chosen = [PRESETS[i % len(PRESETS)] for i in range(presets)]
    return {
        "system": SYSTEM,
        "template": "Question {{n}}: how do temperature and top_p change what a model writes?",
        "cases": [{"vars": {"n": str(i + 1)}} for i in range(cases)],
        "checks": [{"kind": "contains", "value": "Top_p"}, {"kind": "not_truncated"}],
        "presets": [{"name": p.name, **p.knobs()} for p in chosen],
        "samples": samples,
        "wait": True,
    }


async def knobs_once(
    client: httpx2.AsyncClient, url: str, body: dict[str, Any], total: int
) -> float:
    started = time.perf_counter()
    response = await client.post(f"{url}/api/evals", json=body)
    wall = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"Knobs answered {response.status_code}: {response.text[:300]}")
    shown = response.json()
    if shown["status"] != "finished" or shown["progress"]["done"] != total:
        raise RuntimeError(f"the eval ended {shown['status']} at {shown['progress']}")
    errors = [s["error"] for row in shown["cases"] for c in row["cells"] for s in c["samples"]]
    if any(errors):
        raise RuntimeError(f"a sample failed: {next(e for e in errors if e)}")
    return wall


async def floor_once(client: httpx2.AsyncClient, url: str, bodies: list[dict[str, Any]]) -> float:
    gate = asyncio.Semaphore(PARALLEL)

    async def one(body: dict[str, Any]) -> None:
        async with gate:
            _ttft, _latency, lines = await floor_request(client, url, body)
            if lines < 4:
                raise RuntimeError(f"the floor read {lines} data lines")

    started = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    return time.perf_counter() - started


async def measure(
    args: argparse.Namespace, fake: FakeProcess, url: str, proc: Any
) -> tuple[list[float], list[float]]:
    body = eval_body(args.cases, args.presets, args.samples)
    total = args.cases * args.presets * args.samples
    settings = Settings()
    timeout = httpx2.Timeout(600, connect=settings.connect_timeout)
    pool = httpx2.Limits(max_connections=PARALLEL, max_keepalive_connections=PARALLEL)
    async with (
        httpx2.AsyncClient(timeout=timeout) as user,
        httpx2.AsyncClient(timeout=timeout, limits=pool) as bare,
    ):
        await asyncio.to_thread(wait_ready, url, proc)
        fake.ask("reset")
        await knobs_once(user, url, body, total)  # the warm-up: models listed, pool opened
        bodies = fake.ask("stats")["bodies"]
        if len(bodies) != total:
            raise RuntimeError(f"Knobs sent {len(bodies)} chat requests, not {total}")
        chat = f"{fake.base_url}/chat/completions"
        await floor_once(bare, chat, bodies)
        knobs, floor = [], []
        for i in range(args.rounds):
            for side in ("knobs", "floor") if i % 2 == 0 else ("floor", "knobs"):
                fake.ask("reset")
                if side == "knobs":
                    knobs.append(await knobs_once(user, url, body, total))
                else:
                    floor.append(await floor_once(bare, chat, bodies))
                await asyncio.sleep(0.2)
    return knobs, floor


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--presets", type=int, default=4, choices=range(1, 9))
    parser.add_argument("--samples", type=int, default=3, choices=range(1, 11))
    parser.add_argument("--latency", type=float, default=0.3, help="seconds before the first chunk")
    parser.add_argument("--chunks", type=int, default=50, help="words in the answers, about")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per side")
    parser.add_argument("--check", action="store_true", help=f"exit 1 above {TARGET}")
    args = parser.parse_args(argv)
    total = args.cases * args.presets * args.samples
    print(
        f"Knobs eval bench: POST /api/evals, {args.cases} cases × {args.presets} presets × "
        f"{args.samples} samples = {total} streaming requests, {PARALLEL} in flight "
        f"(KNOBS_EVAL_PARALLEL's default); fake endpoint in its own process: "
        f"{args.latency * 1000:g} ms to first chunk, answers of about {args.chunks} words that "
        f"differ; {args.rounds} measured rounds after a warm-up, interleaved"
    )
    fake = FakeProcess({"latency": args.latency, "texts": answers(args.chunks)})
    try:
        with tempfile.TemporaryDirectory(prefix="knobs-eval-") as data_dir:
            port = free_port()
            log_path = Path(data_dir) / "knobs.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    knobs_command(port),
                    cwd=ROOT,
                    env=knobs_env(fake, data_dir, {}),
                    stdout=log,
                    stderr=log,
                )
            try:
                knobs, floor = asyncio.run(measure(args, fake, f"http://127.0.0.1:{port}", proc))
            except BaseException:
                print(f"--- Knobs' log ---\n{log_path.read_text()[-3000:]}", file=sys.stderr)
                raise
            finally:
                stop(proc)
    finally:
        fake.stop()
    k, f = statistics.median(knobs), statistics.median(floor)
    ratio = k / f
    print(f"knobs  median {k:.3f} s  (min {min(knobs):.3f}, max {max(knobs):.3f})")
    print(f"floor  median {f:.3f} s  (min {min(floor):.3f}, max {max(floor):.3f})")
    verdict = "OK" if ratio <= TARGET else "over target"
    print(f"ratio knobs / floor (medians): {ratio:.3f}  (target <= {TARGET:.2f}: {verdict})")
    if args.check and ratio > TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()

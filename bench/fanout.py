"""What a user waits for: POST /api/compare to Knobs over HTTP, against the floor.

Three processes on 127.0.0.1: the fake OpenAI-compatible endpoint (tests/fake_upstream.py),
Knobs (`uvicorn --factory app.main:create_app`, one worker, every setting at its default, the
fake as its endpoint) and this one, the client. Knobs' side is one POST /api/compare, timed from
sending it to having read the whole JSON answer, as an API client or the page waits for it. The
floor is the same streaming chat requests Knobs sent the fake, sent straight to it all at once
by a bare httpx2 client, timed to the last [DONE]: the fastest this machine does the same
upstream work. Their ratio is what Knobs adds.

    .venv/bin/python -m bench.fanout                      # 8 presets x 3 samples @ 300 ms
    .venv/bin/python -m bench.fanout --chunk-delay 0.01   # with 10 ms between chunks
    .venv/bin/python -m bench.fanout --profile knobs.prof # Knobs under cProfile
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx2

from app.engine.presets import MAX_PRESETS, CompareRequest, Preset
from app.settings import Settings
from bench.serve import (
    ROOT,
    FakeProcess,
    cpu_seconds,
    free_port,
    knobs_command,
    knobs_env,
    stop,
    wait_ready,
)
from tests.fake_upstream import split_chunks

TARGET = 1.10
MOST_SAMPLES: int = CompareRequest.model_json_schema()["properties"]["samples"]["maximum"]
DEFAULTS = Settings.model_fields
SYSTEM = "You are a concise assistant. Answer in one short paragraph."
PROMPT = "In a few sentences: how do temperature and top_p change what a language model writes?"
# A plausible answer; the fake streams it one word (one chunk, one token) at a time.
ANSWER = (
    "Temperature rescales the model's probabilities before a token is drawn: low values "
    "sharpen them so the likeliest word nearly always wins, while high values flatten them "
    "and let rarer words through. Top_p instead keeps only the smallest set of candidates "
    "whose probabilities add up to p and samples from those. Both trade predictability for "
    "variety, so change one at a time and compare several samples of each setting before "
    "you decide which one reads better for your task."
)
PRESETS = (
    Preset(name="Deterministic", temperature=0),
    Preset(name="Precise", temperature=0.2),
    Preset(name="Balanced", temperature=0.7),
    Preset(name="Creative", temperature=1.0),
    Preset(name="Nucleus", top_p=0.9),
    Preset(name="Top-k", temperature=0.8, top_k=40),
    Preset(name="Seeded", temperature=0.8, seed=42),
    Preset(
        name="Penalised",
        temperature=0.7,
        frequency_penalty=0.5,
        presence_penalty=0.3,
        max_tokens=1024,
    ),
)


# How presets' answers differ: each opens its own way and runs its own length, so the analysis
# after the last token (agreement, word differences) works as it does on real answers.
OPENINGS = ("In short,", "Put simply,", "Briefly:", "To answer that:", "Well,", "So:", "First,")


def answers(words: int, same: bool = False) -> list[str]:
    """The answers the fake cycles through: one (--same-answers), or several that differ from
    their first word and in length (±10%), as different presets' do."""
    if same:
        return [answer(words)]
    texts = []
    for n, opening in enumerate(OPENINGS):
        length = max(1, words + (n - len(OPENINGS) // 2) * max(1, words // 30))
        texts.append(f"{opening} {answer(length - 1)}" if length > 1 else opening)
    return texts


def answer(words: int) -> str:
    """The first `words` words of ANSWER (repeated when more are asked for)."""
    pool = ANSWER.split()
    return " ".join(pool[i % len(pool)] for i in range(words))


def compare_body(presets: int, samples: int) -> dict[str, Any]:
    """The JSON of one POST /api/compare: the first `presets` of PRESETS (cycled)."""
    chosen = [PRESETS[i % len(PRESETS)] for i in range(presets)]
    return {
        "system": SYSTEM,
        "prompt": PROMPT,
        "samples": samples,
        "presets": [{"name": p.name, **p.knobs()} for p in chosen],
    }


@dataclass(frozen=True)
class Run:
    """One comparison: wall time, CPU per process, and per request its TTFT and latency."""

    wall: float
    cpu: dict[str, float]  # s: knobs, endpoint, client
    ttft: list[float]
    latency: list[float]
    max_in_flight: int


@dataclass
class Side:
    name: str
    runs: list[Run]

    def walls(self) -> list[float]:
        return [r.wall for r in self.runs]

    def per_request(self, field: str) -> list[float]:
        return [value for r in self.runs for value in getattr(r, field)]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def floor_request(
    client: httpx2.AsyncClient, url: str, body: dict[str, Any]
) -> tuple[float, float, int]:
    """One streaming request, read line by line until [DONE]: (ttft, latency, data lines)."""
    started = time.perf_counter()
    first: float | None = None
    lines = 0
    async with client.stream("POST", url, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            lines += 1
            first = first or time.perf_counter()
            if line[5:].strip() == "[DONE]":
                break
    ended = time.perf_counter()
    return (first or ended) - started, ended - started, lines


class Processes:
    """The pids whose CPU time a run reports: Knobs', the fake's, and this one."""

    def __init__(self, knobs: int, endpoint: int) -> None:
        self.pids = {"knobs": knobs, "endpoint": endpoint}

    def cpu(self) -> dict[str, float]:
        used = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return {**used, "client": time.process_time()}

    def since(self, before: dict[str, float]) -> dict[str, float]:
        return {name: value - before[name] for name, value in self.cpu().items()}


async def knobs_once(
    client: httpx2.AsyncClient,
    url: str,
    body: dict[str, Any],
    expected: Sequence[str],
    fake: FakeProcess,
    processes: Processes,
    path: str = "/api/compare",
    n_requests: int | None = None,
) -> Run:
    before = processes.cpu()
    started = time.perf_counter()
    response = await client.post(f"{url}{path}", json=body)
    wall = time.perf_counter() - started
    cpu = processes.since(before)
    if response.status_code != 200:
        raise RuntimeError(f"Knobs answered {response.status_code}: {response.text[:300]}")
    answer = response.json()
    # A comparison's columns, or a sweep's (bench/sweep.py): one per point.
    columns = answer["columns"] if "columns" in answer else [p["column"] for p in answer["points"]]
    samples = [s for column in columns for s in column["samples"]]
    if len(samples) != (n_requests or len(body["presets"]) * body["samples"]):
        raise RuntimeError(f"Knobs returned {len(samples)} samples")
    for s in samples:
        if s["error"] or s["text"] not in expected or s["ttft_ms"] is None:
            raise RuntimeError(f"a sample went wrong: error={s['error']!r} {s['text'][:40]!r}")
    return Run(
        wall=wall,
        cpu=cpu,
        ttft=[s["ttft_ms"] / 1000 for s in samples],
        latency=[s["latency_ms"] / 1000 for s in samples],
        max_in_flight=fake.ask("stats")["max_in_flight"],
    )


async def floor_once(
    client: httpx2.AsyncClient,
    bodies: list[dict[str, Any]],
    expected_lines: set[int],
    fake: FakeProcess,
    processes: Processes,
) -> Run:
    url = f"{fake.base_url}/chat/completions"
    before = processes.cpu()
    started = time.perf_counter()
    results = await asyncio.gather(*(floor_request(client, url, b) for b in bodies))
    wall = time.perf_counter() - started
    cpu = processes.since(before)
    for _, _, lines in results:
        if lines not in expected_lines:
            raise RuntimeError(f"floor read {lines} data lines, expected {expected_lines}")
    return Run(
        wall=wall,
        cpu=cpu,
        ttft=[r[0] for r in results],
        latency=[r[1] for r in results],
        max_in_flight=fake.ask("stats")["max_in_flight"],
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f}"


def report(sides: list[Side], args: argparse.Namespace, n_requests: int) -> float:
    knobs, floor = sides
    print()
    print(
        f"{'':6} {'wall median':>12} {'min':>6} {'max':>6}   {'CPU: knobs':>10} {'endpoint':>8}"
        f" {'client':>6}   {'TTFT p50':>8} {'p95':>6}   {'latency p50':>11} {'p95':>6}"
        f"   {'in flight':>9}"
    )
    for side in sides:
        walls = side.walls()
        cpu = {name: statistics.median(r.cpu[name] for r in side.runs) for name in side.runs[0].cpu}
        ttft, latency = side.per_request("ttft"), side.per_request("latency")
        in_flight = min(r.max_in_flight for r in side.runs)
        knobs_cpu = ms(cpu["knobs"]) if side is knobs else "-"
        print(
            f"{side.name:6} {statistics.median(walls):10.3f} s {min(walls):6.3f} {max(walls):6.3f}"
            f"   {knobs_cpu:>10} {ms(cpu['endpoint']):>8} {ms(cpu['client']):>6}"
            f"   {ms(percentile(ttft, 50)):>8} {ms(percentile(ttft, 95))}"
            f"   {ms(percentile(latency, 50)):>11} {ms(percentile(latency, 95))}"
            f"   {in_flight:>4} / {n_requests}"
        )
    print(
        "(wall and its min/max in s, from sending the request(s) to reading the last byte;\n"
        " CPU = median ms of CPU time per comparison of each process (/proc; ~10 ms steps);\n"
        " TTFT and latency in ms over every upstream request of the measured rounds: Knobs' as\n"
        " /api/compare reports them, from when the request holds a slot; in flight = the\n"
        " fewest requests the endpoint had at once at its peak, over the rounds)"
    )
    k, f = statistics.median(knobs.walls()), statistics.median(floor.walls())
    ratio = k / f
    verdict = "OK" if ratio <= TARGET else "over target"
    print(
        f"knobs - floor: {(k - f) * 1000:+.1f} ms per comparison, "
        f"{(k - f) * 1000 / n_requests:+.2f} ms per upstream request"
    )
    print(f"ratio knobs / floor (medians): {ratio:.3f}  (target <= {TARGET:.2f}: {verdict})")
    delay = f", {args.chunk_delay * 1000:g} ms/chunk" if args.chunk_delay else ""
    print()
    print(
        f"POST {getattr(args, 'path', '/api/compare')} {args.presets}×{args.samples} "
        f"@{args.latency * 1000:g} ms{delay}, "
        f"default settings: knobs {k:.3f} s, floor {f:.3f} s, ratio {ratio:.2f}"
    )
    return ratio


def describe(args: argparse.Namespace, n_requests: int, chunks: int) -> None:
    concurrency = DEFAULTS["concurrency_per_endpoint"].default
    waves = -(-n_requests // concurrency)
    print(
        f"Knobs fan-out bench: POST {getattr(args, 'path', '/api/compare')}, "
        f"{args.presets} presets (or points) × {args.samples} "
        f"samples = {n_requests} streaming requests; fake endpoint in its own process: "
        f"{args.latency * 1000:g} ms to first chunk, {chunks} chunks, "
        f"{args.chunk_delay * 1000:g} ms between chunks"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, Python "
        f"{platform.python_version()}, uvicorn {version('uvicorn')}, httpx2 {version('httpx2')}, "
        f"openai {version('openai')}"
    )
    print(
        f"Knobs at its default settings: concurrency_per_endpoint = {concurrency}, so the "
        f"{n_requests} requests go out {'at once' if waves == 1 else f'in {waves} waves'}; "
        "the floor sends them all at once"
    )
    print(
        f"{args.rounds} measured rounds after 1 warm-up each, Knobs and floor interleaved "
        "(order alternates)"
    )


async def measure(
    args: argparse.Namespace, fake: FakeProcess, url: str, proc: subprocess.Popen[bytes]
) -> list[Side]:
    texts = answers(args.chunks, getattr(args, "same_answers", False))
    body = getattr(args, "body", None) or compare_body(args.presets, args.samples)
    path = getattr(args, "path", "/api/compare")
    n_requests = args.presets * args.samples
    # Every chunk, the finish chunk, the usage chunk and [DONE].
    expected_lines = {len(split_chunks(text)) + 3 for text in texts}
    processes = Processes(proc.pid, fake.pid)
    # The floor's pool holds every request at once, with Knobs' timeouts.
    settings = Settings()
    timeout = httpx2.Timeout(settings.request_timeout, connect=settings.connect_timeout)
    pool = httpx2.Limits(max_connections=n_requests, max_keepalive_connections=n_requests)
    async with (
        httpx2.AsyncClient(timeout=timeout) as user,
        httpx2.AsyncClient(timeout=timeout, limits=pool) as bare,
    ):
        await asyncio.to_thread(wait_ready, url, proc)
        knobs, floor = Side("knobs", []), Side("floor", [])
        bodies: list[dict[str, Any]] = []

        async def once(side: Side, measured: bool) -> None:
            fake.ask("reset")
            if side is knobs:
                run = await knobs_once(user, url, body, texts, fake, processes, path, n_requests)
            else:
                run = await floor_once(bare, bodies, expected_lines, fake, processes)
            if measured:
                side.runs.append(run)
            await asyncio.sleep(0.05)  # let the processes settle between runs

        # The warm-up lists the models (Knobs caches them) and opens the connections; the
        # floor then sends exactly the chat requests Knobs sent.
        fake.ask("reset")
        await once(knobs, measured=False)
        bodies = fake.ask("stats")["bodies"]
        if len(bodies) != n_requests:
            raise RuntimeError(f"Knobs sent {len(bodies)} chat requests, not {n_requests}")
        print(f"the floor sends Knobs' {n_requests} request bodies, e.g. {json.dumps(bodies[0])}")
        await once(floor, measured=False)
        for i in range(args.rounds):
            for side in (knobs, floor) if i % 2 == 0 else (floor, knobs):
                await once(side, measured=True)
    return [knobs, floor]


def bench(args: argparse.Namespace) -> float:
    texts = answers(args.chunks, getattr(args, "same_answers", False))
    n_requests = args.presets * args.samples
    describe(args, n_requests, len(split_chunks(texts[0])))
    kind = "identical answers" if len(texts) == 1 else f"{len(texts)} answers that differ"
    print(f"the fake answers with {kind} (cycled per request)")
    fake = FakeProcess({"latency": args.latency, "chunk_delay": args.chunk_delay, "texts": texts})
    try:
        with tempfile.TemporaryDirectory(prefix="knobs-fanout-") as data_dir:
            port = free_port()
            log_path = Path(data_dir) / "knobs.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    knobs_command(port, args.profile),
                    cwd=ROOT,
                    env=knobs_env(fake, data_dir, {}),
                    stdout=log,
                    stderr=log,
                )
            try:
                sides = asyncio.run(measure(args, fake, f"http://127.0.0.1:{port}", proc))
            except BaseException:
                print(f"--- Knobs' log ---\n{log_path.read_text()[-3000:]}", file=sys.stderr)
                raise
            finally:
                stop(proc)
    finally:
        fake.stop()
    if args.profile:
        print(
            f"cProfile of the Knobs process, start-up and warm-up included: {args.profile} "
            "(the profiler slows Knobs down: its times below are inflated)"
        )
    return report(sides, args, n_requests)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--presets", type=int, default=8, choices=range(1, MAX_PRESETS + 1))
    parser.add_argument("--samples", type=int, default=3, choices=range(1, MOST_SAMPLES + 1))
    parser.add_argument("--latency", type=float, default=0.3, help="seconds before the first chunk")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--chunks", type=int, default=50, help="words (chunks) in the answer")
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds per side")
    parser.add_argument(
        "--same-answers",
        action="store_true",
        help="every request gets the same answer (default: answers that differ, as presets')",
    )
    parser.add_argument("--profile", type=Path, metavar="FILE", help="run Knobs under cProfile")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 when the ratio is above {TARGET}"
    )
    args = parser.parse_args(argv)
    # Every comparison comes from 127.0.0.1, and Knobs keeps its default rate limit.
    most_rounds = DEFAULTS["rate_limit_per_minute"].default - 1
    if args.chunks < 1 or not 1 <= args.rounds <= most_rounds:
        parser.error(
            f"--chunks: at least 1; --rounds: 1-{most_rounds} (Knobs' default rate limit, "
            "KNOBS_RATE_LIMIT_PER_MINUTE, counts the warm-up too)"
        )
    ratio = bench(args)
    if args.check and ratio > TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Fan-out overhead: Knobs' run_comparison against the same requests from a bare HTTP client.

Both sides send the same streaming chat requests, all at once, to the fake endpoint
(tests/fake_upstream.py) running in this process. The bare side (one shared httpx2 client,
reading lines until [DONE]) is the floor on this machine; Knobs' time over it is what the
SDK, the fan-out queue and the result bookkeeping cost.

    .venv/bin/python -m bench.fanout                      # 8 presets x 3 samples @ 300 ms
    .venv/bin/python -m bench.fanout --chunk-delay 0.01   # with 10 ms between chunks
    .venv/bin/python -m bench.fanout --profile knobs.prof # cProfile the measured Knobs runs
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx2

from app.engine.endpoints import Upstreams
from app.engine.fanout import run_comparison
from app.engine.presets import MAX_PRESETS, CompareRequest, Preset, request_params
from app.engine.sample import messages_for
from app.engine.upstream import NO_KEY, Endpoint, Upstream
from app.settings import Settings
from tests.fake_upstream import FakeUpstream, split_chunks

TARGET = 1.10
DEFAULT_CONCURRENCY = Settings.model_fields["concurrency_per_endpoint"].default
# What Knobs asks for when a preset names no model: the first model the endpoint lists.
MODEL = "fake-model"
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


def answer(words: int) -> str:
    """The first `words` words of ANSWER (repeated when more are asked for)."""
    pool = ANSWER.split()
    return " ".join(pool[i % len(pool)] for i in range(words))


@dataclass(frozen=True)
class Run:
    """One fan-out: wall time, and per request its time to first token and its latency."""

    wall: float
    cpu: float  # CPU time of this (the client's) thread; the fake serves from another
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


def floor_bodies(request: CompareRequest) -> list[dict[str, Any]]:
    """The JSON bodies Knobs sends for `request`, in preset x sample order."""
    bodies = []
    for preset in request.presets:
        params, extra = request_params(preset)
        body = {
            "model": preset.model or MODEL,
            "messages": messages_for(request),
            "stream": True,
            "stream_options": {"include_usage": True},
            **params,
            **extra,
        }
        bodies.extend([body] * request.samples)
    return bodies


def canonical(bodies: Sequence[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(b, sort_keys=True) for b in bodies)


async def knobs_once(
    upstream: Upstream, request: CompareRequest, fake: FakeUpstream, expected: str
) -> Run:
    started, cpu = time.perf_counter(), time.thread_time()
    comparison = await run_comparison(request, Upstreams.of(upstream))
    wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
    samples = [s for column in comparison.columns for s in column.samples]
    if len(samples) != len(request.presets) * request.samples:
        raise RuntimeError(f"Knobs returned {len(samples)} samples")
    for s in samples:
        if s.error or s.text != expected or s.ttft_ms is None:
            raise RuntimeError(f"Knobs sample went wrong: error={s.error!r} text={s.text[:40]!r}")
    return Run(
        wall=wall,
        cpu=cpu,
        ttft=[(s.ttft_ms or 0.0) / 1000 for s in samples],
        latency=[(s.latency_ms or 0.0) / 1000 for s in samples],
        max_in_flight=fake.max_in_flight,
    )


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


async def floor_once(
    client: httpx2.AsyncClient,
    url: str,
    bodies: list[dict[str, Any]],
    fake: FakeUpstream,
    expected_lines: int,
) -> Run:
    started, cpu = time.perf_counter(), time.thread_time()
    results = await asyncio.gather(*(floor_request(client, url, b) for b in bodies))
    wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
    for _, _, lines in results:
        if lines != expected_lines:
            raise RuntimeError(f"floor read {lines} data lines, expected {expected_lines}")
    return Run(
        wall=wall,
        cpu=cpu,
        ttft=[r[0] for r in results],
        latency=[r[1] for r in results],
        max_in_flight=fake.max_in_flight,
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f}"


def report(sides: list[Side], args: argparse.Namespace, n_requests: int) -> float:
    knobs, floor = sides
    print()
    print(
        f"{'':8} {'wall median':>12} {'min':>7} {'max':>7}   {'client CPU':>10}"
        f"   {'TTFT p50':>8} {'p95':>6}   {'latency p50':>11} {'p95':>6}   {'in flight':>9}"
    )
    for side in sides:
        walls = side.walls()
        cpu = statistics.median(r.cpu for r in side.runs)
        ttft, latency = side.per_request("ttft"), side.per_request("latency")
        in_flight = min(r.max_in_flight for r in side.runs)
        print(
            f"{side.name:8} {statistics.median(walls):10.3f} s {min(walls):7.3f} {max(walls):7.3f}"
            f"   {ms(cpu):>8} ms"
            f"   {ms(percentile(ttft, 50)):>8} {ms(percentile(ttft, 95))}"
            f"   {ms(percentile(latency, 50)):>11} {ms(percentile(latency, 95))}"
            f"   {in_flight:>4} / {n_requests}"
        )
    print(
        "(wall and its min/max in s; client CPU = median CPU time of the client's thread per\n"
        " comparison; TTFT and latency in ms over every request of every measured round, from\n"
        " the request's start (Knobs': once it holds a concurrency slot, as Knobs reports them);\n"
        " in flight = the fewest requests the fake had at once at its peak, over the rounds)"
    )
    k, f = statistics.median(knobs.walls()), statistics.median(floor.walls())
    ratio = k / f
    verdict = "OK" if ratio <= TARGET else "over target"
    print(
        f"knobs - floor: {(k - f) * 1000:+.1f} ms per comparison, "
        f"{(k - f) * 1000 / n_requests:+.2f} ms per request"
    )
    print(f"ratio knobs / floor (medians): {ratio:.3f}  (target <= {TARGET:.2f}: {verdict})")
    delay = f", {args.chunk_delay * 1000:g} ms/chunk" if args.chunk_delay else ""
    if args.concurrency < n_requests:
        delay += f", concurrency {args.concurrency}"
    print()
    print(
        f"fan-out {args.presets}×{args.samples} @{args.latency * 1000:g} ms{delay}: "
        f"knobs {k:.3f} s, floor {f:.3f} s, ratio {ratio:.2f}"
    )
    return ratio


async def bench(args: argparse.Namespace) -> float:
    text = answer(args.chunks)
    chunks = split_chunks(text)
    request = CompareRequest(
        system=SYSTEM,
        prompt=PROMPT,
        samples=args.samples,
        presets=[PRESETS[i % len(PRESETS)] for i in range(args.presets)],
    )
    n_requests = args.presets * args.samples
    behaviour = {"latency": args.latency, "chunk_delay": args.chunk_delay, "text": text}
    print(
        f"Knobs fan-out bench: {args.presets} presets × {args.samples} samples = {n_requests} "
        f"streaming requests; fake endpoint in this process: {args.latency * 1000:g} ms to "
        f"first chunk, {len(chunks)} chunks, {args.chunk_delay * 1000:g} ms between chunks"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"httpx2 {version('httpx2')}, openai {version('openai')}"
    )

    def waves(limit: int) -> str:
        n = -(-n_requests // limit)
        return "all at once" if n == 1 else f"in {n} waves"

    print(
        f"Knobs' concurrency_per_endpoint = {args.concurrency}: it sends the {n_requests} "
        f"requests {waves(args.concurrency)} (Knobs' default, {DEFAULT_CONCURRENCY}, would send "
        f"them {waves(DEFAULT_CONCURRENCY)}); the floor always sends them all at once"
    )
    print(
        f"{args.rounds} measured rounds after 1 warm-up each, Knobs and floor interleaved "
        "(order alternates); wall time = start of fan-out to last [DONE]"
    )

    fake = FakeUpstream().start()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(concurrency_per_endpoint=args.concurrency, data_dir=Path(data_dir))
        # Presets name no model, so Knobs looks it up once (cached for a minute, in the warm-up).
        upstream = Upstream(Endpoint("fake", fake.base_url), settings)
        # The floor: one shared client, Knobs' timeouts, a pool big enough for every request
        # at once whatever --concurrency says (the floor has no concurrency limit).
        pool = max(n_requests, args.concurrency)
        client = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {NO_KEY}"},
            timeout=httpx2.Timeout(settings.request_timeout, connect=settings.connect_timeout),
            limits=httpx2.Limits(max_connections=pool, max_keepalive_connections=pool),
        )
        url = f"{fake.base_url}/chat/completions"
        bodies = floor_bodies(request)
        # Every chunk, the finish chunk, the usage chunk and [DONE].
        expected_lines = len(chunks) + 3
        knobs, floor = Side("knobs", []), Side("floor", [])
        profiler = cProfile.Profile() if args.profile else None

        async def once(side: Side, measured: bool) -> None:
            fake.reset()
            fake.behave(**behaviour)
            if side is knobs:
                if profiler and measured:
                    profiler.enable()
                try:
                    run = await knobs_once(upstream, request, fake, text)
                finally:
                    if profiler:
                        profiler.disable()
            else:
                run = await floor_once(client, url, bodies, fake, expected_lines)
            if measured:
                side.runs.append(run)
            await asyncio.sleep(0.05)  # let the fake's thread settle between runs

        try:
            await once(knobs, measured=False)
            sent = canonical([r.body for r in fake.requests])
            await once(floor, measured=False)
            if sent != canonical(bodies):
                raise RuntimeError("the floor's request bodies differ from Knobs'")
            for i in range(args.rounds):
                order = (knobs, floor) if i % 2 == 0 else (floor, knobs)
                for side in order:
                    await once(side, measured=True)
        finally:
            await client.aclose()
            await upstream.aclose()
            fake.stop()

    if profiler:
        profiler.dump_stats(args.profile)
        print(
            f"cProfile of the {args.rounds} measured Knobs runs: {args.profile} "
            "(the profiler slows Knobs down: its times below are inflated)"
        )
    return report([knobs, floor], args, n_requests)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--presets", type=int, default=8, choices=range(1, MAX_PRESETS + 1))
    parser.add_argument("--samples", type=int, default=3, choices=range(1, 6))
    parser.add_argument("--latency", type=float, default=0.3, help="seconds before the first chunk")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--chunks", type=int, default=50, help="words (chunks) in the answer")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per side")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help=f"Knobs' concurrency_per_endpoint (default here 32; Knobs' own default "
        f"is {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the measured Knobs runs")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 when the ratio is above {TARGET}"
    )
    args = parser.parse_args(argv)
    if args.chunks < 1 or args.rounds < 1:
        parser.error("--chunks and --rounds must be at least 1")
    ratio = asyncio.run(bench(args))
    if args.check and ratio > TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()

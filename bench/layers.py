"""Where Knobs' CPU per upstream request goes: the same burst of streams through each layer.

`bench.load` measures Knobs whole, over HTTP. This splits what it spends per upstream request
by layer, each run in this one process against the fake endpoint (tests/fake_upstream.py, in a
process of its own) with 256 streams at a time, as `bench.load` raises the limit to:

    bare      httpx2 alone, reading each stream line by line (bench.load's floor)
    parsed    httpx2 alone, each stream's chunks parsed as Knobs parses them (StreamReader)
    sdk       the openai SDK's plain POST as Knobs makes it (Upstream.post_chat), and the same
              parsing
    upstream  app.engine.upstream.Upstream.stream_chat: the body built, what the model
              refuses left out, the retry loop and its deadline, around the SDK
    fanout    app.engine.fanout.run_comparison: comparisons of 4 presets x 2 samples, each
              sample a task, its events through one queue, every column's flags

Each layer includes the ones above it; the step from one to the next is what that layer adds.
The web layer (HTTP in and out, validation, the rate limit, looking the columns over, the save)
is what `bench.load`'s figure adds to `fanout`'s.

    .venv/bin/python -m bench.layers                   # every layer, 2 rounds each
    .venv/bin/python -m bench.layers --layers sdk fanout --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2

from app.engine.dialects import StreamReader
from app.engine.endpoints import Upstreams
from app.engine.fanout import run_comparison
from app.engine.presets import CompareRequest, Preset
from app.engine.upstream import Endpoint, Upstream
from app.settings import Settings
from bench.fanout import answer, compare_body, floor_request
from bench.serve import FakeProcess

LAYERS = ("bare", "parsed", "sdk", "upstream", "fanout")
AT_ONCE = 256  # streams at a time: bench.load's KNOBS_CONCURRENCY_PER_ENDPOINT
MODEL = "fake-model"
MESSAGES = [{"role": "user", "content": "In a few sentences: what does top_p do?"}]
BODY = {"model": MODEL, "messages": MESSAGES, "stream": True, "temperature": 0.5}
BODY |= {"stream_options": {"include_usage": True}}
PRESETS, SAMPLES = 4, 2  # the fan-out's comparisons, as bench.load's

One = Callable[[], Awaitable[Any]]


def layer(name: str, base_url: str) -> tuple[One, int]:
    """One unit of work through `name`, and how many upstream requests it makes."""
    if name in ("bare", "parsed"):
        url = f"{base_url}/chat/completions"
        limits = httpx2.Limits(max_connections=AT_ONCE, max_keepalive_connections=AT_ONCE)
        client = httpx2.AsyncClient(limits=limits, timeout=60)
        if name == "bare":
            return (lambda: floor_request(client, url, BODY)), 1
        return (lambda: parsed(client, url)), 1
    settings = Settings(concurrency_per_endpoint=AT_ONCE)
    upstream = Upstream(Endpoint("bench", base_url, models=(MODEL,)), settings)
    if name == "sdk":
        return (lambda: through_the_sdk(upstream)), 1
    if name == "upstream":
        preset = Preset(model=MODEL, temperature=0.5)
        return (lambda: drain(upstream.stream_chat(preset, MESSAGES))), 1
    request = CompareRequest.model_validate(compare_body(PRESETS, SAMPLES))
    upstreams = Upstreams.of(upstream)
    return (lambda: run_comparison(request, upstreams)), PRESETS * SAMPLES


async def parsed(http: httpx2.AsyncClient, url: str) -> None:
    reader = StreamReader()
    async with http.stream("POST", url, json=BODY) as response:
        async for data in response.aiter_bytes():
            reader.feed_bytes(data)
    reader.finish()


async def through_the_sdk(upstream: Upstream) -> None:
    reader = StreamReader()
    response = await upstream.post_chat(BODY)
    try:
        async for data in response.aiter_bytes():
            reader.feed_bytes(data)
    finally:
        await response.aclose()
    reader.finish()


async def drain(stream: Any) -> None:
    async for _ in stream:
        pass


async def burst(one: One, units: int, at_once: int) -> tuple[float, float]:
    """`units` of work, `at_once` at a time: (wall s, CPU s of this process)."""
    gate = asyncio.Semaphore(at_once)

    async def gated() -> None:
        async with gate:
            await one()

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(gated() for _ in range(units)))
    return time.perf_counter() - started, time.process_time() - cpu


async def measure(name: str, base_url: str, args: argparse.Namespace) -> list[float]:
    """CPU ms per upstream request through `name`, one figure per round."""
    one, per_unit = layer(name, base_url)
    units = args.requests // per_unit
    at_once = max(1, AT_ONCE // per_unit)  # upstream requests in flight, whatever the layer
    await burst(one, at_once, at_once)  # warm-up: connections opened, models listed
    figures = []
    for _ in range(args.rounds):
        _, cpu = await burst(one, units, at_once)
        figures.append(cpu / (units * per_unit) * 1000)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--layers", nargs="+", choices=LAYERS, default=list(LAYERS))
    parser.add_argument("--requests", type=int, default=1600, help="upstream requests a round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=30, help="words (chunks) in the answer")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds before the first chunk")
    args = parser.parse_args()
    fake = FakeProcess({"latency": args.latency, "chunk_delay": 0.0, "text": answer(args.chunks)})
    print(
        f"CPU of this process per upstream request, {args.requests:,} requests a round, "
        f"{AT_ONCE} in flight, {args.chunks} chunks each @{args.latency * 1000:g} ms; "
        "each layer includes those above it"
    )
    try:
        before = None
        for name in args.layers:
            figures = asyncio.run(measure(name, fake.base_url, args))
            median = statistics.median(figures)
            step = "" if before is None else f"  ({median - before:+.2f} ms)"
            rounds = ", ".join(f"{f:.2f}" for f in figures)
            print(f"{name:>9}: {median:.2f} ms per request{step}   rounds: {rounds}")
            before = median
    finally:
        fake.stop()


if __name__ == "__main__":
    main()

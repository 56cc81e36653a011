"""The default comparison (4 built-in presets × 2 samples) on the bundled model, under several
ways of running llama-cpp-python's server on this machine's cores.

    .venv/bin/python -m bench.embedded --rounds 3

Each way is started once, warmed up with one short request, then the rounds run interleaved
(one comparison per way per round), through Knobs' own fan-out. Every preset gets a fixed seed,
so each way generates the same answers and the wall times compare. Ways:

- `before`: one process, one generation thread (llama-cpp-python's default: half the cores),
  all 8 requests sent at once; the server queues 7 of them where Knobs cannot see.
- `after`: the same server, Knobs sending one request at a time (the embedded endpoint's
  `parallel = 1`), so the wait is measured as queued.
- `1 process, 2 threads`: the same, generating on both cores.
- `2 processes, 1 thread each`: two servers; columns 1–2 go to one, 3–4 to the other.

A request that takes longer than --timeout seconds fails its way's round (reported, not fatal).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from app.engine.endpoints import Upstreams
from app.engine.fanout import run_comparison
from app.engine.presets import CompareRequest, builtin_presets
from app.engine.upstream import Endpoint
from app.ops.embedded import EmbeddedServer, find_model_file
from app.settings import Settings

PROMPT = "What is the capital of France?"


class ThreadedServer(EmbeddedServer):
    """The embedded server with a given number of generation threads."""

    def __init__(self, model: Path, log: Path, threads: int) -> None:
        super().__init__(model, log)
        self.threads = threads

    def command(self) -> list[str]:
        return [*super().command(), "--n_threads", str(self.threads)]


@dataclass
class Way:
    name: str
    threads: int
    processes: int
    parallel: int | None = 1
    servers: list[EmbeddedServer] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint(f"e{i}", s.base_url, parallel=self.parallel)
            for i, s in enumerate(self.servers)
        ]


def request_for(way: Way) -> CompareRequest:
    presets = []
    for index, preset in enumerate(builtin_presets()):
        endpoint = f"e{index * way.processes // 4}"
        presets.append(preset.model_copy(update={"seed": index + 1, "endpoint": endpoint}))
    return CompareRequest(prompt=PROMPT, samples=2, presets=presets)


async def one_round(way: Way, settings: Settings) -> None:
    upstreams = Upstreams.from_configs(way.endpoints(), settings)
    try:
        began = time.perf_counter()
        comparison = await run_comparison(request_for(way), upstreams)
        wall = time.perf_counter() - began
    finally:
        await upstreams.aclose()
    samples = [s for c in comparison.columns for s in c.samples]
    failed = [s.error for s in samples if s.error]
    if failed:
        way.failures.append(failed[0])
        print(f"  {way.name}: failed after {wall:.1f} s: {failed[0]}", flush=True)
        return
    way.walls.append(wall)
    way.tokens.append(sum(s.usage.completion_tokens or 0 for s in samples))
    ttfts = [s.ttft_ms or 0 for s in samples]
    print(
        f"  {way.name}: {wall:.2f} s, {way.tokens[-1]} tokens, "
        f"TTFT {min(ttfts):.0f}–{max(ttfts):.0f} ms",
        flush=True,
    )


async def main(rounds: int, request_timeout: float, only: str | None = None) -> None:
    model = find_model_file()
    ways = [
        Way("before: all 8 sent at once", 1, 1, parallel=None),
        Way("after: one at a time", 1, 1),
        Way("1 process, 2 threads", 2, 1),
        Way("2 processes, 1 thread each", 1, 2),
    ]
    if only:
        ways = [ways[int(n) - 1] for n in only.split(",")]
    settings = Settings(openai_base_url=None, request_timeout=request_timeout)
    with tempfile.TemporaryDirectory() as data:
        try:
            for way in ways:
                for n in range(way.processes):
                    log = Path(data) / f"{way.threads}-{way.processes}-{n}.log"
                    started = ThreadedServer(model, log, way.threads)
                    way.servers.append(started)
                    await started.start(120)
            for way in ways:  # warm-up, not timed: the first request loads the weights
                warm = CompareRequest(prompt="Hi", samples=1, presets=builtin_presets()[:1])
                upstreams = Upstreams.from_configs(way.endpoints(), settings)
                await run_comparison(warm, upstreams)
                await upstreams.aclose()
            for n in range(rounds):
                print(f"round {n + 1}", flush=True)
                for way in ways:
                    await one_round(way, settings)
        finally:
            for way in ways:
                for server in way.servers:
                    await server.stop()
    print(f"{'way':<30} {'wall (median)':>14} {'walls':>22} {'tokens':>12} {'tok/s':>7}")
    for way in ways:
        if not way.walls:
            print(f"{way.name:<30} every round failed: {way.failures[0]}")
            continue
        wall = statistics.median(way.walls)
        walls = ", ".join(f"{w:.1f}" for w in way.walls)
        tokens = statistics.median(way.tokens)
        print(f"{way.name:<30} {wall:>12.2f} s {walls:>22} {tokens:>12.0f} {tokens / wall:>7.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--only", help="comma-separated way numbers to run (1-4)")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.timeout, args.only))

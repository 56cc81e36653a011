"""The default comparison (4 built-in presets × 2 samples) on the bundled model, under several
ways of running llama-cpp-python's server on this machine's cores.

    .venv/bin/python -m bench.embedded --rounds 3

Each way is started once, warmed up with one short request, then the rounds run interleaved
(one comparison per way per round), through Knobs' own fan-out. Every preset gets a fixed seed,
so each way generates the same answers and the wall times compare. Ways:

- `1 process, 1 thread`: what Knobs runs today (llama-cpp-python's default is half the cores
  for generation); the server answers one request at a time.
- `1 process, 2 threads`: the same, generating on both cores.
- `2 processes, 1 thread each`: two servers; columns 1–2 go to one, 3–4 to the other.
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

PROMPT = "Explain what a hash table is."


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
    servers: list[EmbeddedServer] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)


def request_for(way: Way) -> CompareRequest:
    presets = []
    for index, preset in enumerate(builtin_presets()):
        endpoint = f"e{index * way.processes // 4}"
        presets.append(preset.model_copy(update={"seed": index + 1, "endpoint": endpoint}))
    return CompareRequest(prompt=PROMPT, samples=2, presets=presets)


async def one_round(way: Way, settings: Settings) -> None:
    endpoints = [Endpoint(f"e{i}", s.base_url) for i, s in enumerate(way.servers)]
    upstreams = Upstreams.from_configs(endpoints, settings)
    try:
        began = time.perf_counter()
        comparison = await run_comparison(request_for(way), upstreams)
        way.walls.append(time.perf_counter() - began)
    finally:
        await upstreams.aclose()
    samples = [s for c in comparison.columns for s in c.samples]
    failed = [s.error for s in samples if s.error]
    if failed:
        raise SystemExit(f"{way.name}: {failed[0]}")
    way.tokens.append(sum(s.usage.completion_tokens or 0 for s in samples))


async def main(rounds: int) -> None:
    model = find_model_file()
    ways = [
        Way("1 process, 1 thread (today)", 1, 1),
        Way("1 process, 2 threads", 2, 1),
        Way("2 processes, 1 thread each", 1, 2),
    ]
    settings = Settings(openai_base_url=None)
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
                endpoints = [Endpoint(f"e{i}", s.base_url) for i, s in enumerate(way.servers)]
                upstreams = Upstreams.from_configs(endpoints, settings)
                await run_comparison(warm, upstreams)
                await upstreams.aclose()
            for _ in range(rounds):
                for way in ways:
                    await one_round(way, settings)
        finally:
            for way in ways:
                for server in way.servers:
                    await server.stop()
    print(f"{'way':<30} {'wall (median)':>14} {'walls':>22} {'tokens':>12} {'tok/s':>7}")
    for way in ways:
        wall = statistics.median(way.walls)
        walls = ", ".join(f"{w:.1f}" for w in way.walls)
        tokens = statistics.median(way.tokens)
        print(f"{way.name:<30} {wall:>12.2f} s {walls:>22} {tokens:>12.0f} {tokens / wall:>7.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args().rounds))

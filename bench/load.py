"""Load: a burst of concurrent POST /api/compare against Knobs served by uvicorn in its own process.

Three processes: this one (the client), Knobs (`python -m uvicorn --factory app.main:create_app`, so
its memory can be read from /proc/PID/status) and the fake OpenAI-compatible endpoint
(tests/fake_upstream.py). One httpx2 client sends every comparison at once and reports errors,
completion times, wall time, the endpoint's peak requests in flight and Knobs' peak memory. Then, as
a floor, the same client sends the same upstream requests straight to the endpoint, as many at once
as Knobs may. Everything listens on 127.0.0.1; the run stops by itself (--timeout bounds each
phase).

    .venv/bin/python -m bench.load                   # 200 comparisons x 4 presets x 2 samples
    .venv/bin/python -m bench.load --default-limits  # Knobs' own limits: most of them get 429
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx2

from app.engine.presets import MAX_PRESETS
from app.settings import Settings
from bench.fanout import answer, compare_body, floor_request, percentile
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

LIMITS = ("max_inflight_comparisons", "rate_limit_per_minute", "concurrency_per_endpoint")
DEFAULTS: dict[str, int] = {name: Settings.model_fields[name].default for name in LIMITS}
MAX_CONCURRENCY = 256  # the most KNOBS_CONCURRENCY_PER_ENDPOINT accepts (app/settings.py)
WARMUPS = 1  # comparisons before the burst: the model list gets cached, connections opened
POLL = 0.01  # seconds between looks at Knobs' /proc/PID/status and the endpoint's in-flight count


@dataclass
class Outcome:
    """One comparison as the client saw it."""

    status: int  # 0: no HTTP answer
    seconds: float  # from sending the request to having read the whole answer
    samples: int = 0
    sample_errors: list[str] = field(default_factory=list)
    wrong_text: int = 0  # samples without an error whose text is not the endpoint's answer
    incomplete: int = 0
    failure: str | None = None  # the transport error, when there was no HTTP answer


@dataclass
class Burst:
    """What one burst measured."""

    outcomes: list[Outcome]
    wall: float  # s, from the first request sent to the last answer read
    upstream_done: float  # s into the burst when the endpoint last had a request in flight
    cpu: dict[str, float]  # s of CPU used during the burst: knobs, endpoint, client
    max_in_flight: int  # the endpoint's peak of requests in flight
    upstream_bodies: list[dict[str, Any]]  # the chat requests the endpoint received
    rss: dict[str, int | None]  # KiB: started, warm, peak (VmHWM), sampled, after


@dataclass
class Floor:
    """The same upstream requests sent straight to the endpoint by a bare client."""

    wall: float
    concurrency: int
    max_in_flight: int
    cpu: dict[str, float]  # endpoint, client


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, ... of `pid` in KiB; empty where /proc cannot be read."""
    values = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if rest.strip().endswith("kB"):
                values[key] = int(rest.split()[0])
    return values


def mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def waves(streams: int, limit: int) -> str:
    n = -(-streams // limit)
    return "all at once" if n == 1 else f"in ~{n} waves"


def limits_for(args: argparse.Namespace) -> dict[str, int]:
    """The limits the Knobs process runs with, by setting name."""
    if args.default_limits:
        return dict(DEFAULTS)
    return {
        "max_inflight_comparisons": max(args.comparisons, DEFAULTS["max_inflight_comparisons"]),
        "rate_limit_per_minute": max(2 * args.comparisons, DEFAULTS["rate_limit_per_minute"]),
        "concurrency_per_endpoint": args.concurrency,
    }


def explain_limits(args: argparse.Namespace, limits: dict[str, int], streams: int) -> None:
    inflight, rate, concurrency = (limits[name] for name in LIMITS)
    if args.default_limits:
        print(
            f"Knobs' default limits: KNOBS_MAX_INFLIGHT_COMPARISONS={inflight}, "
            f"KNOBS_RATE_LIMIT_PER_MINUTE={rate}, KNOBS_CONCURRENCY_PER_ENDPOINT={concurrency}."
        )
        print(
            f"  At most {inflight} comparisons run at once and one address starts at most {rate} "
            f"a minute: the rest of a burst of {args.comparisons} gets 429 with Retry-After, "
            "as designed."
        )
        return
    print("Limits raised for the burst (Knobs' defaults in brackets), and why:")
    print(
        f"  KNOBS_MAX_INFLIGHT_COMPARISONS={inflight} [{DEFAULTS['max_inflight_comparisons']}]: "
        f"all {args.comparisons} comparisons may run at once; with the default, all but "
        f"{DEFAULTS['max_inflight_comparisons']} of a burst get 429"
    )
    print(
        f"  KNOBS_RATE_LIMIT_PER_MINUTE={rate} [{DEFAULTS['rate_limit_per_minute']}]: every "
        f"comparison comes from one address, 127.0.0.1, and the warm-up counts too"
    )
    print(
        f"  KNOBS_CONCURRENCY_PER_ENDPOINT={concurrency} [{DEFAULTS['concurrency_per_endpoint']}]"
        f": the {streams:,} streams go {waves(streams, concurrency)} (with the default: "
        f"{waves(streams, DEFAULTS['concurrency_per_endpoint'])}); {MAX_CONCURRENCY} is the most "
        "the setting accepts"
    )
    print("  (everything else, KNOBS_UPSTREAM_RETRIES=2 included, is Knobs' default)")


async def compare(
    client: httpx2.AsyncClient, url: str, body: dict[str, Any], expected: str
) -> Outcome:
    started = time.perf_counter()
    try:
        response = await client.post(f"{url}/api/compare", json=body)
    except httpx2.TransportError as error:
        return Outcome(0, time.perf_counter() - started, failure=type(error).__name__)
    outcome = Outcome(response.status_code, time.perf_counter() - started)
    if response.status_code != 200:
        return outcome
    for column in response.json()["columns"]:
        for sample in column["samples"]:
            outcome.samples += 1
            if sample["error"]:
                outcome.sample_errors.append(sample["error"])
            elif sample["text"] != expected:
                outcome.wrong_text += 1
            outcome.incomplete += bool(sample["incomplete"])
    return outcome


async def watch(pid: int, fake: FakeProcess, seen: dict[str, float], stop: asyncio.Event) -> None:
    """Until `stop`: the highest VmRSS of `pid` in seen["rss"], and in seen["upstream_busy"]
    the last time (perf_counter) the endpoint had a request in flight."""
    while not stop.is_set():
        seen["rss"] = max(seen["rss"], proc_status(pid).get("VmRSS", 0))
        if fake.ask("in_flight"):
            seen["upstream_busy"] = time.perf_counter()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL)


async def burst(
    args: argparse.Namespace,
    fake: FakeProcess,
    url: str,
    proc: subprocess.Popen[bytes],
    body: dict[str, Any],
    text: str,
) -> Burst:
    """Wait for Knobs, warm it up, then send every comparison at once, watching its memory."""
    # A pool for every comparison at once: the client must not be what queues them.
    pool = httpx2.Limits(max_connections=args.comparisons, max_keepalive_connections=32)
    timeout = httpx2.Timeout(args.timeout, connect=30)
    async with httpx2.AsyncClient(limits=pool, timeout=timeout) as client:
        await asyncio.to_thread(wait_ready, url, proc)
        pid = proc.pid
        rss: dict[str, int | None] = {"started": proc_status(pid).get("VmRSS")}
        for _ in range(WARMUPS):
            warm = await compare(client, url, body, text)
            if warm.status != 200 or warm.sample_errors or warm.wrong_text:
                raise RuntimeError(f"the warm-up comparison went wrong: {warm}")
        await asyncio.sleep(0.2)
        rss["warm"] = proc_status(pid).get("VmRSS")
        fake.ask("reset")
        seen = {"rss": 0.0, "upstream_busy": 0.0}
        done = asyncio.Event()
        watcher = asyncio.create_task(watch(pid, fake, seen, done))
        print(f"Knobs is ready (pid {pid}); sending {args.comparisons} comparisons at once...")
        cpu = {"knobs": cpu_seconds(pid), "endpoint": cpu_seconds(fake.pid)}
        cpu["client"] = time.process_time()
        started = time.perf_counter()
        try:
            requests = (compare(client, url, body, text) for _ in range(args.comparisons))
            outcomes = await asyncio.wait_for(asyncio.gather(*requests), args.timeout)
        finally:
            done.set()
            await watcher
        wall = time.perf_counter() - started
        cpu["knobs"] = cpu_seconds(pid) - cpu["knobs"]
        cpu["endpoint"] = cpu_seconds(fake.pid) - cpu["endpoint"]
        cpu["client"] = time.process_time() - cpu["client"]
        rss.update(peak=proc_status(pid).get("VmHWM"), sampled=int(seen["rss"]) or None)
        await asyncio.sleep(0.5)
        rss["after"] = proc_status(pid).get("VmRSS")
    stats = fake.ask("stats")
    return Burst(
        outcomes=outcomes,
        wall=wall,
        upstream_done=max(0.0, seen["upstream_busy"] - started),
        cpu=cpu,
        max_in_flight=stats["max_in_flight"],
        upstream_bodies=stats["bodies"],
        rss=rss,
    )


async def floor(
    args: argparse.Namespace, fake: FakeProcess, bodies: list[dict[str, Any]], lines: int
) -> Floor:
    """Knobs' upstream requests from a bare client, as many at once as Knobs may send."""
    fake.ask("reset")
    concurrency = args.concurrency
    pool = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    url = f"{fake.base_url}/chat/completions"

    async def one(client: httpx2.AsyncClient, body: dict[str, Any]) -> int:
        async with gate:
            return (await floor_request(client, url, body))[2]

    print(f"floor: the same {len(bodies):,} requests straight to the endpoint...")
    async with httpx2.AsyncClient(limits=pool, timeout=args.timeout) as client:
        cpu = {"endpoint": cpu_seconds(fake.pid), "client": time.process_time()}
        started = time.perf_counter()
        requests = (one(client, body) for body in bodies)
        read = await asyncio.wait_for(asyncio.gather(*requests), args.timeout)
        wall = time.perf_counter() - started
        cpu["endpoint"] = cpu_seconds(fake.pid) - cpu["endpoint"]
        cpu["client"] = time.process_time() - cpu["client"]
    if any(n != lines for n in read):
        raise RuntimeError(f"the floor read {set(read)} data lines per stream, not {lines}")
    return Floor(wall, concurrency, fake.ask("stats")["max_in_flight"], cpu)


def report(args: argparse.Namespace, result: Burst, base: Floor | None) -> int:
    """Print the figures; return the number of errors (a 429 is not one: it is a limit)."""
    outcomes, rss = result.outcomes, result.rss
    per_comparison = args.presets * args.samples
    statuses = Counter(o.status for o in outcomes)
    ok = [o for o in outcomes if o.status == 200]
    refused = statuses.get(429, 0)
    other = [o for o in outcomes if o.status not in (200, 429)]
    sample_errors = Counter(e for o in ok for e in o.sample_errors)
    wrong = sum(o.wrong_text for o in ok)
    missing = sum(per_comparison - o.samples for o in ok)
    errors = len(other) + sum(sample_errors.values()) + wrong + missing
    print()
    print(f"answers by status (0 = no HTTP answer): {dict(sorted(statuses.items()))}")
    print(f"  200: {len(ok)}   429 (refused by the limits): {refused}   other: {len(other)}")
    for o in other[:5]:
        print(f"    e.g. status {o.status} after {ms(o.seconds)} {o.failure or ''}")
    print(
        f"samples in the 200s: {sum(o.samples for o in ok):,} of {len(ok) * per_comparison:,}; "
        f"with an error: {sum(sample_errors.values())}, wrong text: {wrong}, "
        f"incomplete: {sum(o.incomplete for o in ok)}, missing: {missing}"
    )
    for message, count in sample_errors.most_common(3):
        print(f"    {count} x {message[:160]}")
    times = [o.seconds for o in ok]
    if times:
        print(
            "completion time per comparison (the 200s, send to answer read): "
            f"p50 {ms(percentile(times, 50))}, p95 {ms(percentile(times, 95))}, "
            f"max {ms(max(times))} (min {ms(min(times))})"
        )
    if refused:
        refusals = [o.seconds for o in outcomes if o.status == 429]
        print(f"the 429s came back in: p50 {ms(percentile(refusals, 50))}, max {ms(max(refusals))}")
    cpu = result.cpu
    print(
        f"wall time: {result.wall:.2f} s (the endpoint's last request ended at "
        f"~{result.upstream_done:.2f} s); CPU used meanwhile: Knobs {cpu['knobs']:.2f} s, "
        f"endpoint {cpu['endpoint']:.2f} s, client {cpu['client']:.2f} s"
    )
    print(
        f"endpoint: {len(result.upstream_bodies):,} chat requests (expected "
        f"{len(ok) * per_comparison:,}; more would be retries), at most "
        f"{result.max_in_flight} in flight at once"
    )
    if result.upstream_bodies:
        per_request = cpu["knobs"] / len(result.upstream_bodies) * 1000
        print(f"Knobs' CPU per upstream request: {per_request:.2f} ms (target ≤ 2.5 ms)")
    peak = max(rss["peak"] or 0, rss["sampled"] or 0) or None
    print(
        f"Knobs' memory (RSS): {mib(rss['started'])} after start-up, {mib(rss['warm'])} after "
        f"the warm-up; peak {mib(peak)} (VmHWM {mib(rss['peak'])}, highest seen polling every "
        f"{POLL * 1000:g} ms {mib(rss['sampled'])}); {mib(rss['after'])} after the burst"
    )
    if base:
        print(
            f"floor: {len(result.upstream_bodies):,} requests, {base.concurrency} at once, "
            f"from a bare httpx2 client: {base.wall:.2f} s (at most {base.max_in_flight} in "
            f"flight; CPU: endpoint {base.cpu['endpoint']:.2f} s, client "
            f"{base.cpu['client']:.2f} s); Knobs' wall / floor = {result.wall / base.wall:.2f} "
            "(target ≤ 1.25)"
        )
    limits = "default limits" if args.default_limits else "raised limits"
    delay = f", {args.chunk_delay * 1000:g} ms/chunk" if args.chunk_delay else ""
    latency = (
        f"p50 {percentile(times, 50):.2f} s, p95 {percentile(times, 95):.2f} s, "
        f"max {max(times):.2f} s; "
        if times
        else ""
    )
    vs_floor = f" (floor {base.wall:.2f} s)" if base else ""
    print()
    print(
        f"load {args.comparisons}×({args.presets}×{args.samples}) @{args.latency * 1000:g} ms, "
        f"{args.chunks} chunks{delay}, {limits}: {len(ok)} ok, {refused} × 429, "
        f"{errors} errors; {latency}wall {result.wall:.2f} s{vs_floor}; upstream max in flight "
        f"{result.max_in_flight}; Knobs RSS {mib(rss['warm'])} -> peak {mib(peak)}"
    )
    return errors


def run(args: argparse.Namespace) -> int:
    """The whole bench; returns the number of errors."""
    text = answer(args.chunks)
    body = compare_body(args.presets, args.samples)
    streams = args.comparisons * args.presets * args.samples
    limits = limits_for(args)
    print(
        f"Knobs load bench: {args.comparisons} concurrent POST /api/compare, each {args.presets} "
        f"presets × {args.samples} samples = {streams:,} upstream streams; fake endpoint: "
        f"{args.latency * 1000:g} ms to first chunk, {len(split_chunks(text))} chunks, "
        f"{args.chunk_delay * 1000:g} ms between chunks"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"uvicorn {version('uvicorn')}, httpx2 {version('httpx2')}, openai {version('openai')}; "
        "processes: client (this one), Knobs (`uvicorn --factory app.main:create_app`, "
        "1 worker), fake endpoint; "
        f"load average {os.getloadavg()[0]:.2f} (other work on the machine skews the figures)"
    )
    explain_limits(args, limits, streams)

    behaviour = {"latency": args.latency, "chunk_delay": args.chunk_delay, "text": text}
    fake = FakeProcess(behaviour)
    base: Floor | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="knobs-load-") as data_dir:
            log_path = args.knobs_log or Path(data_dir) / "knobs.log"
            port = free_port()
            env = knobs_env(fake, data_dir, {} if args.default_limits else limits)
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    knobs_command(port), cwd=ROOT, env=env, stdout=log, stderr=log
                )
            try:
                url = f"http://127.0.0.1:{port}"
                result = asyncio.run(burst(args, fake, url, proc, body, text))
            except BaseException:
                print(f"--- Knobs' log ---\n{log_path.read_text()[-3000:]}", file=sys.stderr)
                raise
            finally:
                stop(proc)
        if not args.default_limits and not args.no_floor:
            # Every chunk, the finish chunk, the usage chunk and [DONE].
            lines = len(split_chunks(text)) + 3
            base = asyncio.run(floor(args, fake, result.upstream_bodies, lines))
    finally:
        fake.stop()
    return report(args, result, base)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--comparisons", type=int, default=200, help="sent all at once")
    parser.add_argument("--presets", type=int, default=4, choices=range(1, MAX_PRESETS + 1))
    parser.add_argument("--samples", type=int, default=2, choices=range(1, 6))
    parser.add_argument("--latency", type=float, default=0.3, help="seconds before the first chunk")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--chunks", type=int, default=30, help="words (chunks) in the answer")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=MAX_CONCURRENCY,
        help=f"KNOBS_CONCURRENCY_PER_ENDPOINT with raised limits (1-{MAX_CONCURRENCY}; "
        f"default here {MAX_CONCURRENCY}, Knobs' own {DEFAULTS['concurrency_per_endpoint']})",
    )
    parser.add_argument(
        "--default-limits",
        action="store_true",
        help="run Knobs with its default limits, to see the 429s a burst gets",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-client floor")
    parser.add_argument(
        "--knobs-log", type=Path, help="keep Knobs' log (one line per comparison) in this file"
    )
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds the burst (or the floor) may take"
    )
    args = parser.parse_args(argv)
    if args.comparisons < 1 or args.chunks < 1 or not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--comparisons and --chunks: at least 1; --concurrency: 1-{MAX_CONCURRENCY}")
    if run(args):
        sys.exit(1)  # errors; 429s are not errors, they are the limits at work


if __name__ == "__main__":
    main()

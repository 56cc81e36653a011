"""The embedded model as a newcomer meets it: the default comparison through POST /api/compare.

Knobs is started as `make run` starts it (uvicorn, every setting at its default, no endpoint
configured: the embedded llama-server), and the default comparison — the four built-in presets
× 2 samples, "Explain what top_p does in one paragraph." — is posted --rounds times. Reported:
the wall time, the longest single answer (its latency), wall ÷ longest, every sample's TTFT and
queued time.

    .venv/bin/python -m bench.embedded                 # the default comparison, 3 rounds
    .venv/bin/python -m bench.embedded --stream        # one stream: through Knobs vs straight
    .venv/bin/python -m bench.embedded --stream --busy # the same with one core kept busy
    KNOBS_EMBEDDED_THREADS=2 .venv/bin/python -m bench.embedded --stream --busy

--stream sends one long answer (max_tokens 200, temperature 0.8, a fixed seed) through Knobs
and then the same request straight to the embedded server (its port is in Knobs' log), and
prints each one's tokens/second. --busy keeps one core busy (a spinning process) meanwhile:
what Knobs itself, or anything else, does to llama.cpp's threads on a small machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

from app.engine.presets import builtin_presets
from bench.serve import ROOT, free_port, knobs_command, stop

PROMPT = "Explain what top_p does in one paragraph."
STREAM_PROMPT = "Write a short story about a lighthouse keeper and a storm."
READY_SECONDS = 180


def spin() -> None:
    while True:
        pass


def knobs_env(data_dir: str) -> dict[str, str]:
    import os  # noqa: PLC0415

    ours = ("KNOBS_", "OPENAI_", "DATABASE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env["KNOBS_DATA_DIR"] = data_dir
    # A bench chooses only what the command line asks for: the thread count, if given.
    if "KNOBS_EMBEDDED_THREADS" in os.environ:
        env["KNOBS_EMBEDDED_THREADS"] = os.environ["KNOBS_EMBEDDED_THREADS"]
    return env


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("Knobs exited at start-up")
        try:
            if httpx2.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("Knobs did not come up")


def comparison(client: httpx2.Client, url: str) -> dict[str, Any]:
    began = time.perf_counter()
    presets = [p.model_dump(exclude_none=True) for p in builtin_presets()]
    body = {"prompt": PROMPT, "samples": 2, "presets": presets}
    answer = client.post(f"{url}/api/compare", json=body)
    wall = time.perf_counter() - began
    answer.raise_for_status()
    samples = [s for c in answer.json()["columns"] for s in c["samples"]]
    failed = [s["error"] for s in samples if s["error"]]
    if failed:
        raise RuntimeError(f"a sample failed: {failed[0]}")
    longest = max(s["latency_ms"] for s in samples) / 1000
    return {
        "wall": wall,
        "longest": longest,
        "ttft": [s["ttft_ms"] / 1000 for s in samples],
        "queued": [(s["queued_ms"] or 0) / 1000 for s in samples],
    }


def stream_body(model: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": [{"role": "user", "content": STREAM_PROMPT}],
        "max_tokens": 200,
        "temperature": 0.8,
        "seed": 7,
        "stream": True,
    }
    return body | ({"model": model} if model else {})


def straight(client: httpx2.Client, base_url: str) -> float:
    """Tokens per second of one stream sent straight to the server, as a bare client reads it."""
    began = time.perf_counter()
    first: float | None = None
    tokens = 0
    with client.stream("POST", f"{base_url}/chat/completions", json=stream_body()) as response:
        for line in response.iter_lines():
            if not line.startswith("data:") or line.endswith("[DONE]"):
                continue
            delta = json.loads(line[5:])["choices"]
            if delta and delta[0]["delta"].get("content"):
                tokens += 1
                first = first or time.perf_counter()
    ended = time.perf_counter()
    return (tokens - 1) / (ended - (first or began)) if tokens > 1 else 0.0


def through_knobs(client: httpx2.Client, url: str) -> float:
    preset = {"name": "Story", "temperature": 0.8, "seed": 7, "max_tokens": 200}
    body = {"prompt": STREAM_PROMPT, "samples": 1, "presets": [preset]}
    answer = client.post(f"{url}/api/compare", json=body)
    answer.raise_for_status()
    sample = answer.json()["columns"][0]["samples"][0]
    return float(sample["tokens_per_second"] or 0.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stream", action="store_true", help="one stream's tok/s, two ways")
    parser.add_argument("--busy", action="store_true", help="keep one core busy meanwhile")
    args = parser.parse_args(argv)
    burner = None
    with tempfile.TemporaryDirectory(prefix="knobs-embedded-") as data:
        port = free_port()
        log_path = Path(data) / "knobs.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                knobs_command(port), cwd=ROOT, env=knobs_env(data), stdout=log, stderr=log
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_up(url, proc)
            server_log = (Path(data) / "embedded-server.log").read_text(errors="replace")
            threads = re.search(r"n_threads = (\d+)", server_log)
            print(f"embedded llama-server: {threads.group(1) if threads else '?'} threads")
            if args.busy:
                burner = multiprocessing.Process(target=spin, daemon=True)
                burner.start()
                print("one core kept busy by a spinning process")
            with httpx2.Client(timeout=300) as client:
                warm = {"prompt": "Hi", "samples": 1, "presets": [{"max_tokens": 4}]}
                client.post(f"{url}/api/compare", json=warm)
                if args.stream:
                    knobs_log = log_path.read_text(errors="replace")
                    found = re.search(r"embedded model ready at (\S+)", knobs_log)
                    if found is None:
                        raise RuntimeError("the embedded server's address is not in the log")
                    rates = [
                        (through_knobs(client, url), straight(client, found.group(1)))
                        for _ in range(args.rounds)
                    ]
                    via = statistics.median(r[0] for r in rates)
                    bare = statistics.median(r[1] for r in rates)
                    print(
                        f"one stream, tok/s: through Knobs {via:.1f}, straight {bare:.1f}, "
                        f"ratio {via / bare:.2f}  (medians of {args.rounds})"
                    )
                    return
                runs = [comparison(client, url) for _ in range(args.rounds)]
        finally:
            if burner is not None:
                burner.kill()
            stop(proc)
    for n, run in enumerate(runs, 1):
        print(
            f"round {n}: {run['wall']:.2f} s, longest answer {run['longest']:.2f} s "
            f"({run['wall'] / run['longest']:.2f}×), TTFT {min(run['ttft']):.2f}–"
            f"{max(run['ttft']):.2f} s, queued at most {max(run['queued']):.2f} s"
        )
    wall = statistics.median(r["wall"] for r in runs)
    ratio = statistics.median(r["wall"] / r["longest"] for r in runs)
    ttft = statistics.median(max(r["ttft"]) for r in runs)
    print(
        f"default 4×2 comparison, medians of {len(runs)}: {wall:.2f} s, {ratio:.2f}× its "
        f"longest answer, slowest TTFT {ttft:.2f} s"
    )


if __name__ == "__main__":
    main()

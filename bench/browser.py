"""The live page against the API: how far the browser falls behind a fast endpoint.

Knobs is served by uvicorn on 127.0.0.1 in a process of its own at its default settings (as
`make run` serves it), the fake OpenAI-compatible endpoint (tests/fake_upstream.py) in another,
and Debian's Chromium is driven by Playwright from this one. For each rate, one comparison of
8 presets x 5 samples is timed two ways, in alternating order: in the page, from the click on
Run to the frame that shows "Finished", and through POST /api/compare, from sending to having
read the answer. It also reports the CPU each process used per run: all share the machine, so
what the browser uses, the endpoint and Knobs cannot.

    .venv/bin/python -m bench.browser                     # 100 and 1,000 tok/s per stream
    .venv/bin/python -m bench.browser --rates 20 400 --rounds 3
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx2
from playwright.sync_api import Browser, sync_playwright

from app.engine.presets import MAX_PRESETS
from app.web.sharelink import encode
from bench.fanout import PRESETS, PROMPT, SYSTEM, answer
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
from tests.browser.conftest import ARGS, CHROMIUM
from tests.fake_upstream import split_chunks

TARGET = 1.15
SIDES = ("page", "API")
# Who used the CPU during a run: Chromium (with Playwright's driver and this client), Knobs
# and the fake endpoint.
USERS = ("browser", "Knobs", "endpoint")
# Idle: under 5 % of a core over a quarter of a second.
IDLE_WINDOW, IDLE_SHARE = 0.25, 0.05
# In the page: the click on Run starts the clock; after each htmx swap the status line is read,
# and the clock stops on the first frame drawn after it says "Finished" (no polling: a loop of
# animation frames would cost the page the very time being measured). On the way, the stages
# (STAGES): the form's POST sent and answered, the event stream open, its first frame, the
# first column's results, the last frame.
CLOCK = """() => {
  const clock = window.__clock = {start: null, end: null, seen: false, stages: {}};
  const mark = (name, again) => {
    if (clock.start !== null && !clock.seen && (again || !(name in clock.stages)))
      clock.stages[name] = performance.now() - clock.start;
  };
  document.addEventListener("click", (event) => {
    if (clock.start === null && event.target.closest("button.run")) clock.start = performance.now();
  }, true);
  document.addEventListener("htmx:beforeSend", () => mark("sent"));
  document.addEventListener("htmx:afterRequest", () => mark("answered"));
  document.addEventListener("htmx:sseOpen", () => mark("opened"));
  // Before the message: static/app.js takes text frames over, and htmx then reports no more.
  document.addEventListener("htmx:sseBeforeMessage", (event) => {
    mark("first");
    if (event.detail.type.startsWith("c-")) mark("results");
    mark("last", true);
  });
  document.addEventListener("htmx:afterSwap", () => {
    const status = document.getElementById("status");
    if (clock.start === null || clock.seen || !status?.textContent.includes("Finished in")) return;
    mark("swapped");
    clock.seen = true;
    requestAnimationFrame(() => { clock.end = performance.now(); });
  });
}"""
# The page's stages, in the order they happen, as the report names them.
STAGES = {
    "sent": "POST sent",
    "answered": "POST answered",
    "opened": "stream open",
    "first": "first frame",
    "results": "first column's results",
    "last": "last frame",
    "swapped": "Finished swapped in",
}


@dataclass(frozen=True)
class Run:
    seconds: float
    cpu: dict[str, float]  # seconds of CPU used during the run, by USERS
    stages: dict[str, float] | None = None  # s from the click, by STAGES (the page only)


@dataclass
class Rate:
    """The rounds at one rate, and the tokens/s per stream the API reported."""

    tokens_per_second: float  # asked of the fake, per stream
    runs: dict[str, list[Run]]  # by SIDES
    measured_rate: list[float]

    def seconds(self, side: str) -> list[float]:
        return [run.seconds for run in self.runs[side]]

    def lags(self) -> list[float]:
        """Per round: how much later the page said Finished than the API answered, in s."""
        return [p - a for p, a in zip(self.seconds("page"), self.seconds("API"), strict=True)]

    def ratios(self) -> list[float]:
        return [p / a for p, a in zip(self.seconds("page"), self.seconds("API"), strict=True)]


def request_body(samples: int) -> dict[str, Any]:
    return {
        "system": SYSTEM,
        "prompt": PROMPT,
        "samples": samples,
        "presets": [{"name": p.name, **p.knobs()} for p in PRESETS[:MAX_PRESETS]],
    }


class CpuClock:
    """CPU seconds used by each of USERS between two readings of /proc."""

    def __init__(self, fake_pid: int, knobs_pid: int) -> None:
        self.fake_pid = fake_pid
        self.knobs_pid = knobs_pid

    def read(self) -> dict[int, float]:
        """CPU seconds so far of this process and of every process under it, by pid."""
        me = os.getpid()
        used = {pid: cpu_seconds(pid) for pid in [me, *descendants(me)]}
        return {pid: seconds for pid, seconds in used.items() if not math.isnan(seconds)}

    def wait_until_idle(self, most: float = 5.0) -> None:
        """Until the browser has used under IDLE_SHARE of a core for IDLE_WINDOW seconds.
        After loading a page Chromium prepares a spare renderer process for the next tab:
        a third of a second of CPU or more, which a person never sees (they read the page
        before pressing Run), but which a click at once puts into the timed run."""
        deadline = time.monotonic() + most
        while time.monotonic() < deadline:
            before = self.read()
            time.sleep(IDLE_WINDOW)
            if self.since(before)["browser"] < IDLE_SHARE * IDLE_WINDOW:
                return

    def since(self, before: dict[int, float]) -> dict[str, float]:
        # A process that ended in between is left out: its last figure cannot be read.
        used = {pid: seconds - before.get(pid, 0.0) for pid, seconds in self.read().items()}
        knobs, endpoint = used.pop(self.knobs_pid, math.nan), used.pop(self.fake_pid, math.nan)
        return {"browser": sum(used.values()), "Knobs": knobs, "endpoint": endpoint}


def descendants(root: int) -> list[int]:
    """The processes under `root` (children, theirs, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone, or not a process
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def time_page(
    browser: Browser, link: str, cpu: CpuClock, timeout: float, at_once: bool = False
) -> Run:
    """From the click on Run to the first frame that shows "Finished"."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(link)
        page.evaluate(CLOCK)
        if not at_once:
            cpu.wait_until_idle()  # as a person reads the page before pressing Run
        before = cpu.read()
        page.locator("button.run").click()
        page.wait_for_function(
            "() => window.__clock.end !== null", timeout=timeout * 1000, polling=100
        )
        used = cpu.since(before)  # before the tab closes and its renderer with it
        start, end, stages = page.evaluate(
            "[window.__clock.start, window.__clock.end, window.__clock.stages]"
        )
        shown = page.locator("#status").inner_text()
        failed = page.locator(".sample.failed").count()
        if errors or failed or "Saved run" not in shown:
            raise RuntimeError(f"the page run went wrong: {errors=} {failed=} status={shown!r}")
        return Run(float(end - start) / 1000, used, {k: v / 1000 for k, v in stages.items()})
    finally:
        context.close()


def time_api(
    client: httpx2.Client, body: dict[str, Any], text: str, cpu: CpuClock
) -> tuple[Run, list[float]]:
    """POST /api/compare until its answer is read, and the tokens/s each sample reported."""
    before = cpu.read()
    started = time.perf_counter()
    response = client.post("/api/compare", json=body)
    seconds = time.perf_counter() - started
    used = cpu.since(before)
    if response.status_code != 200:
        raise RuntimeError(f"/api/compare answered {response.status_code}: {response.text[:300]}")
    samples = [s for column in response.json()["columns"] for s in column["samples"]]
    if any(s["error"] or s["text"] != text for s in samples):
        raise RuntimeError("an API sample has an error or text other than the endpoint's")
    return Run(seconds, used), [s["tokens_per_second"] for s in samples if s["tokens_per_second"]]


def measure(browser: Browser, args: argparse.Namespace, tokens_per_second: float) -> Rate:
    text = answer(args.words)
    behaviour = {"latency": args.latency, "chunk_delay": 1 / tokens_per_second, "text": text}
    fake = FakeProcess(behaviour)
    result = Rate(tokens_per_second, {side: [] for side in SIDES}, [])
    knobs: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="knobs-browser-") as data_dir:
            port = free_port()
            # At the defaults: nothing set but the endpoint, and quiet logs for the figures.
            env = knobs_env(fake, data_dir, {})
            knobs = subprocess.Popen(knobs_command(port), cwd=ROOT, env=env)
            url = f"http://127.0.0.1:{port}"
            cpu = CpuClock(fake.pid, knobs.pid)
            body = request_body(args.samples)
            presets = PRESETS[:MAX_PRESETS]
            with httpx2.Client(base_url=url, timeout=args.timeout) as client:
                wait_ready(url, knobs, 180)
                link = f"{url}/?{encode(SYSTEM, PROMPT, args.samples, presets)}"
                # One warm-up of each: the model list gets cached, connections opened.
                time_page(browser, link, cpu, args.timeout)
                time_api(client, body, text, cpu)
                for i in range(args.rounds):
                    for side in SIDES if i % 2 == 0 else SIDES[::-1]:
                        if side == "page":
                            run = time_page(browser, link, cpu, args.timeout, args.at_once)
                        else:
                            run, rates = time_api(client, body, text, cpu)
                            result.measured_rate.append(statistics.median(rates))
                        result.runs[side].append(run)
                        time.sleep(0.2)  # let the fake and Knobs settle between runs
    finally:
        if knobs is not None:
            stop(knobs)
        fake.stop()
    return result


def report(args: argparse.Namespace, rates: list[Rate]) -> bool:
    """Print the figures; True when every rate is within the target."""
    print()
    print(
        f"{'tok/s asked':>11} {'measured':>9} {'page':>8} {'API':>8} {'ratio':>6} {'range':>12}"
        f" {'page − API':>11}"
    )
    ok = True
    for r in rates:
        ratios = r.ratios()
        ratio = statistics.median(ratios)
        ok = ok and ratio <= TARGET
        print(
            f"{r.tokens_per_second:>11,g} {statistics.median(r.measured_rate):>9,.0f} "
            f"{statistics.median(r.seconds('page')):>6.2f} s "
            f"{statistics.median(r.seconds('API')):>6.2f} s "
            f"{ratio:>6.2f} {min(ratios):>5.2f}–{max(ratios):.2f}"
            f" {statistics.median(r.lags()) * 1000:>8.0f} ms"
        )
    print(
        "(medians over the rounds; measured = the median tokens/s per stream that the API\n"
        " reported; ratio = page ÷ API per round, its median and range; page − API = how\n"
        " much later the page says Finished than the API answers, the median of the rounds)"
    )
    print()
    print_stages(rates)
    print()
    print(f"CPU seconds per run (medians): {', '.join(USERS)}")
    for r in rates:
        for side in SIDES:
            used = [statistics.median(run.cpu[user] for run in r.runs[side]) for user in USERS]
            print(
                f"{r.tokens_per_second:>11,g} {side:>4}: "
                + ", ".join(f"{user} {s:.2f}" for user, s in zip(USERS, used, strict=True))
            )
    print()
    for r in rates:
        print(
            f"browser {MAX_PRESETS}×{args.samples}, {args.words} tokens "
            f"@{r.tokens_per_second:g} tok/s: page {statistics.median(r.seconds('page')):.2f} s, "
            f"API {statistics.median(r.seconds('API')):.2f} s, ratio "
            f"{statistics.median(r.ratios()):.2f}, page − API "
            f"{statistics.median(r.lags()) * 1000:.0f} ms"
        )
    return ok


def print_stages(rates: list[Rate]) -> None:
    """Where the page's time goes: each stage's median from the click, beside the API's time,
    and the step from the one before it."""
    print("the page's stages, median ms from the click on Run (+ step from the stage before):")
    for r in rates:
        api = statistics.median(r.seconds("API"))
        cells, before = [], 0.0
        for key, name in STAGES.items():
            times = [run.stages[key] for run in r.runs["page"] if run.stages and key in run.stages]
            if not times:
                continue
            at = statistics.median(times)
            cells.append(f"{name} {at * 1000:,.0f} (+{(at - before) * 1000:,.0f})")
            before = at
        drawn = statistics.median(r.seconds("page"))
        cells.append(f"drawn {drawn * 1000:,.0f} (+{(drawn - before) * 1000:,.0f})")
        print(f"{r.tokens_per_second:>11,g}: " + "; ".join(cells) + f" | API {api * 1000:,.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 1000])
    parser.add_argument("--words", type=int, default=1000, help="tokens per answer")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.0, help="s before the first chunk")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0, help="s one run may take")
    parser.add_argument("--check", action="store_true", help=f"exit 1 above {TARGET}×")
    parser.add_argument(
        "--at-once",
        action="store_true",
        help="press Run as soon as the page has loaded, not once the browser is idle",
    )
    args = parser.parse_args()
    n_words = len(split_chunks(answer(args.words)))
    print(
        f"Knobs browser bench: {MAX_PRESETS} presets × {args.samples} samples, {n_words} tokens "
        f"per answer, {args.latency * 1000:g} ms to the first; {args.rounds} rounds per rate "
        "after one warm-up, page and API interleaved (order alternates)"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, Chromium "
        f"({CHROMIUM}) via playwright {version('playwright')}; load average "
        f"{os.getloadavg()[0]:.2f} (other work on the machine skews the figures)"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            rates = [measure(browser, args, rate) for rate in args.rates]
        finally:
            browser.close()
    ok = report(args, rates)
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())

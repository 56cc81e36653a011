"""Notes that say when a comparison's timings do not compare across its columns, in words a
newcomer understands. Pure: finished columns in, sentences out; the page and the saved run
show them under the run's status."""

from __future__ import annotations

import statistics

from app.engine.results import Column

# A wait shorter than this is noise, not worth a sentence.
QUEUED_NOTE_MS = 500.0
# Columns on one endpoint whose typical TTFT differs by more than this factor, although
# nothing waited in Knobs' line, suggest a queue inside the server.
TTFT_SPREAD = 5.0
# Below this, TTFT differences are the noise of a fast endpoint, not a queue.
TTFT_FLOOR_MS = 200.0


def timing_notes(columns: list[Column]) -> list[str]:
    """Why the timings of these columns may mislead, if they may; else nothing."""
    notes = []
    endpoints = list(dict.fromkeys(c.endpoint or "default" for c in columns))
    if len(endpoints) > 1:
        notes.append(
            f"These columns ran on different endpoints ({', '.join(endpoints)}). Their TTFT "
            "and tok/s also reflect each endpoint's hardware, load and distance, not only the "
            "settings: compare speeds between columns on the same endpoint."
        )
    longest = max((s.queued_ms or 0 for c in columns for s in c.samples), default=0)
    if longest >= QUEUED_NOTE_MS:
        notes.append(
            f"Some requests waited up to {longest / 1000:.1f} s for their turn, because the "
            "endpoint answers only so many at once. That wait is shown as “queued” and left "
            "out of TTFT, total and tok/s, so those still compare across columns; requests "
            "took turns across columns (every column's first sample, then the second …)."
        )
    for endpoint in endpoints:
        notes += _server_queue(
            endpoint, [c for c in columns if (c.endpoint or "default") == endpoint]
        )
    return notes


def _inside_wait(columns: list[Column]) -> float:
    """The longest time a request spent at the endpoint before it began on the prompt, by
    the endpoint's own timings (TTFT less its prompt time; network included); 0 unknown."""
    return max(
        (
            s.ttft_ms - s.prompt_ms
            for c in columns
            for s in c.samples
            if s.ttft_ms is not None and s.prompt_ms is not None
        ),
        default=0.0,
    )


def _server_queue(endpoint: str, columns: list[Column]) -> list[str]:
    """A note when one endpoint queued requests itself, where Knobs' clock cannot see: by
    its own timings where it sends them, else when TTFT differs widely between columns
    although nothing waited in Knobs' line."""
    inside = _inside_wait(columns)
    if inside >= QUEUED_NOTE_MS:
        return [
            f"By its own timings, endpoint {endpoint} kept some requests waiting up to "
            f"{inside / 1000:.1f} s before it began on them: it takes fewer at once than Knobs "
            "sent, and that wait counts as their TTFT here. Give it parallel = (the number it "
            "takes at once) in the endpoints TOML; docs/speed.md explains."
        ]
    samples = [s for c in columns for s in c.samples]
    # Knobs' own line, or the endpoint's timings, already tell: no guessing from the spread.
    if any(s.queued_ms or s.prompt_ms is not None for s in samples):
        return []
    typical = [
        statistics.median(ttfts)
        for c in columns
        if (ttfts := [s.ttft_ms for s in c.samples if s.ttft_ms is not None])
    ]
    if len(typical) < 2 or max(typical) < TTFT_FLOOR_MS:
        return []
    spread = max(typical) / max(min(typical), 1.0)
    if spread < TTFT_SPREAD:
        return []
    return [
        f"Time to first token differs up to {spread:.0f}× between columns on endpoint "
        f"{endpoint}, although no request waited for its turn in Knobs. The endpoint may "
        "answer fewer requests at once than Knobs sent and queue the rest itself, which "
        "counts as TTFT here. If so, give it parallel = (the number it takes at once) in the "
        "endpoints TOML; docs/speed.md explains."
    ]

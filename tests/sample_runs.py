"""Saved runs made up for tests: real flags from real analysis, no endpoint needed."""

from __future__ import annotations

from app.engine.analysis import SampleView, analyze
from app.engine.presets import Preset
from app.engine.results import Column, Sample, Usage
from app.storage.saved import SavedRun, models_of


def sample(text: str = "Hello.", **fields: object) -> Sample:
    fields.setdefault("finish_reason", "stop")
    fields.setdefault("usage", Usage(prompt_tokens=9, completion_tokens=3, total_tokens=12))
    fields.setdefault("ttft_ms", 81.5)
    fields.setdefault("latency_ms", 1234.25)
    fields.setdefault("tokens_per_second", 33.3)
    fields.setdefault("system_fingerprint", "fp_one")
    fields.setdefault("model", "fake-model")
    return Sample(text=text, **fields)  # type: ignore[arg-type]


def column(preset: Preset, samples: list[Sample]) -> Column:
    views = [
        SampleView(s.text, s.finish_reason, s.system_fingerprint, s.error is None) for s in samples
    ]
    return Column(preset=preset, samples=samples, flags=analyze(views, preset.expects_repeatable()))


def make_run(prompt: str = "Explain top_p.", columns: list[Column] | None = None) -> SavedRun:
    """Two presets: a repeatable one and one that varies and was cut off once."""
    columns = columns or [
        column(Preset(name="Deterministic", temperature=0), [sample("Same."), sample("Same.")]),
        column(
            Preset(name="Creative", temperature=1.0, max_tokens=64, stop=["\n\n", "END"]),
            [sample("One answer."), sample("Another, cut", finish_reason="length")],
        ),
    ]
    run = SavedRun(
        system="Be brief.", prompt=prompt, samples=2, columns=columns, endpoints=["fake"]
    )
    run.models = models_of(run)
    return run

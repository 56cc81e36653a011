"""What an eval's answers add up to, honest about chance: pure, from the stored cells.

Checks are applied here, each time an eval is shown, never stored: changing the checks of a
finished eval costs no request. A trial (one sample of one case under one preset) passes when
every check of its case passes; a case with no checks has no pass rate, only its stability
(distinct answers, agreement, truncation). The figures:
- per preset: the pass rate over every trial with its 95% Wilson interval; pass@k (at least
  one of k samples passes) and pass^k (all k pass), each the unbiased estimator averaged over
  cases, at k = the samples per case; truncation; tokens; cost; latency;
- per pair of presets, paired by case: a sign test on which did better on each case (exact;
  McNemar's test when there is one sample per case), its p-value adjusted for the number of
  pairs (Holm), and one sentence that names a better preset only when the test says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from app.engine.evals import stats
from app.engine.evals.checks import Answer, Check, describe, passes
from app.engine.evals.definition import EvalRequest
from app.engine.flags import flag_kinds
from app.engine.prices import total
from app.engine.results import Column, Sample

SIGNIFICANCE = 0.05
Cells = Mapping[tuple[int, int], Column]  # (case, preset) -> its answers


class SampleResult(BaseModel):
    text: str
    finish_reason: str | None = None
    error: str | None = None
    passed: bool | None = Field(description="every check passed; null when the case has none")
    checks: list[bool] = Field(description="each check's result, in the case's order")
    completion_tokens: int | None = None
    latency_ms: float | None = None
    cost: float | None = None


class Cell(BaseModel):
    """One case under one preset: k of n passed, and whether its samples agreed."""

    preset: int
    passes: int | None = Field(description="samples that passed every check; null: no checks")
    trials: int
    distinct: int = Field(description="distinct answers among the samples")
    agreed: bool = Field(description="every sample gave the same answer")
    flags: list[str] = Field(description="what Knobs flags on these samples (docs/results.md)")
    samples: list[SampleResult]


class CaseRow(BaseModel):
    case: int
    label: str
    expected: str | None = None
    checks: list[str] = Field(description="each check in one line")
    cells: list[Cell | None] = Field(description="per preset; null until it has run")


class PresetFigures(BaseModel):
    preset: str
    index: int
    pass_rate: float | None = Field(description="passed trials / trials; null: nothing checked")
    interval: tuple[float, float] | None = Field(description="95% Wilson interval of pass_rate")
    passes: int
    trials: int
    k: int = Field(description="samples per case, the k of pass@k and pass^k")
    pass_at_k: float | None = Field(description="at least one of k samples passes, per case")
    pass_all_k: float | None = Field(description="all k samples pass, per case")
    cases_all_passed: int
    checked_cases: int
    truncation_rate: float | None
    mean_answer_tokens: float | None
    cost: float | None = Field(description="US dollars; null when any price is unknown")
    latency_median_ms: float | None
    latency_p95_ms: float | None
    samples: int = Field(description="samples answered so far, failed ones included")


class Pair(BaseModel):
    a: str
    b: str
    better: int = Field(description="cases on which a passed more samples than b")
    worse: int
    same: int
    p_value: float = Field(description="two-sided exact sign test, paired by case")
    p_adjusted: float = Field(description="adjusted for the number of pairs compared (Holm)")
    distinguishable: bool
    sentence: str


class Figures(BaseModel):
    presets: list[PresetFigures]
    cases: list[CaseRow]
    pairs: list[Pair]


def answer_of(sample: Sample) -> Answer:
    return Answer(sample.text, sample.finish_reason, sample.refusal is not None, sample.error)


def cell_of(preset: int, column: Column, checks: Sequence[Check], expected: str | None) -> Cell:
    results = []
    for sample in column.samples:
        outcomes = [passes(check, answer_of(sample), expected) for check in checks]
        results.append(
            SampleResult(
                text=sample.text,
                finish_reason=sample.finish_reason,
                error=sample.error,
                passed=all(outcomes) if checks else None,
                checks=outcomes,
                completion_tokens=sample.usage.completion_tokens,
                latency_ms=sample.latency_ms,
                cost=sample.cost,
            )
        )
    answered = sum(s.error is None for s in column.samples)
    distinct = len({s.text for s in column.samples if s.error is None})
    return Cell(
        preset=preset,
        passes=sum(bool(r.passed) for r in results) if checks else None,
        trials=len(results),
        distinct=distinct,
        agreed=answered == len(results) and distinct <= 1,
        flags=flag_kinds(column.flags, answered),
        samples=results,
    )


def figures(eval: EvalRequest, cells: Cells) -> Figures:
    names = [p.title(i) for i, p in enumerate(eval.presets)]
    rows = []
    for case_index, case in enumerate(eval.cases):
        checks = eval.checks_for(case_index)
        row_cells: list[Cell | None] = []
        for preset in range(len(eval.presets)):
            column = cells.get((case_index, preset))
            row_cells.append(
                None if column is None else cell_of(preset, column, checks, case.expected)
            )
        rows.append(
            CaseRow(
                case=case_index,
                label=case.label() if case.prompt or case.messages else _label(eval, case_index),
                expected=case.expected,
                checks=[describe(c) for c in checks],
                cells=row_cells,
            )
        )
    presets = [_preset_figures(i, names[i], eval, rows, cells) for i in range(len(names))]
    return Figures(presets=presets, cases=rows, pairs=_pairs(names, rows))


def _label(eval: EvalRequest, case: int) -> str:
    text = " ".join((eval.prompt_of(case) or eval.cases[case].label()).split())
    return text if len(text) <= 80 else text[:79] + "…"


def _preset_figures(
    index: int, name: str, eval: EvalRequest, rows: list[CaseRow], cells: Cells
) -> PresetFigures:
    ran = [row.cells[index] for row in rows if row.cells[index] is not None]
    mine = [cell for cell in ran if cell is not None]
    checked = [cell for cell in mine if cell.passes is not None]
    passed = sum(cell.passes or 0 for cell in checked)
    trials = sum(cell.trials for cell in checked)
    k = min((cell.trials for cell in checked), default=eval.samples)
    samples = [
        s for (_case, preset), column in cells.items() if preset == index for s in column.samples
    ]
    answered = [s for s in samples if s.error is None]
    tokens = [s.usage.completion_tokens for s in answered if s.usage.completion_tokens is not None]
    latencies = [s.latency_ms for s in answered if s.latency_ms is not None]
    return PresetFigures(
        preset=name,
        index=index,
        pass_rate=passed / trials if trials else None,
        interval=stats.wilson(passed, trials) if trials else None,
        passes=passed,
        trials=trials,
        k=k,
        pass_at_k=_mean([stats.pass_at_k(c.trials, c.passes or 0, k) for c in checked]),
        pass_all_k=_mean([stats.pass_all_k(c.trials, c.passes or 0, k) for c in checked]),
        cases_all_passed=sum(c.passes == c.trials for c in checked),
        checked_cases=len(checked),
        truncation_rate=(
            sum(s.finish_reason == "length" for s in answered) / len(answered) if answered else None
        ),
        mean_answer_tokens=_mean([float(t) for t in tokens]),
        cost=total([s.cost for s in samples]) if samples else None,
        latency_median_ms=stats.percentile(latencies, 50),
        latency_p95_ms=stats.percentile(latencies, 95),
        samples=len(samples),
    )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pairs(names: list[str], rows: list[CaseRow]) -> list[Pair]:
    tests = []
    for a, b in itertools.combinations(range(len(names)), 2):
        rates_a, rates_b = [], []
        for row in rows:
            cell_a, cell_b = row.cells[a], row.cells[b]
            if cell_a is None or cell_b is None or cell_a.passes is None or cell_b.passes is None:
                continue
            if not cell_a.trials or not cell_b.trials:
                continue
            rates_a.append(cell_a.passes / cell_a.trials)
            rates_b.append(cell_b.passes / cell_b.trials)
        if rates_a:
            tests.append((a, b, stats.sign_test(rates_a, rates_b), len(rates_a)))
    adjusted = stats.holm([test.p_value for _a, _b, test, _n in tests])
    return [
        _pair(names[a], names[b], test, n, p, len(tests))
        for (a, b, test, n), p in zip(tests, adjusted, strict=True)
    ]


def _pair(a: str, b: str, test: stats.SignTest, cases: int, p: float, pairs: int) -> Pair:
    shown = f"p = {_p(p)}" + (f", adjusted for {pairs} pairs" if pairs > 1 else "")
    distinguishable = p < SIGNIFICANCE and test.better != test.worse
    if distinguishable:
        winner, loser = (a, b) if test.better > test.worse else (b, a)
        more, fewer = max(test.better, test.worse), min(test.better, test.worse)
        sentence = (
            f"{winner} did better than {loser}: better on {more} of {cases} cases, worse on "
            f"{fewer} ({shown})."
        )
    else:
        sentence = f"{a} and {b} are not distinguishable on these {cases} cases ({shown})."
    return Pair(
        a=a,
        b=b,
        better=test.better,
        worse=test.worse,
        same=test.same,
        p_value=test.p_value,
        p_adjusted=p,
        distinguishable=distinguishable,
        sentence=sentence,
    )


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.2g}" if p < 0.1 else f"{p:.2f}"

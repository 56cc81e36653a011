"""An eval as asked for: a set of cases, each run under every preset, several samples each,
and the checks its answers must pass.

Each case runs as one comparison (`CaseComparison`): the eval's presets and samples, and the
case's prompt, or its conversation. So an eval goes through the same fan-out, retries and
flags as a comparison; what is an eval's own is the set of cases, the checks and the figures
(app/engine/evals/figures.py). Whether it may run at all is app/engine/evals/preflight.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.engine.evals.cases import MAX_CASES, Case, Turn, prompt_for
from app.engine.evals.checks import Check
from app.engine.knobs import EVAL_SAMPLES, MAX_CHARS, MAX_PRESETS
from app.engine.presets import CompareRequest, Preset
from app.engine.sweeps.definition import refused

DEFAULT_EVAL_SAMPLES = 3
MAX_CHECKS = 20


class EvalCase(Case):
    """A case with its own checks validated, each refused at its own field."""

    checks: list[Check] = Field(  # type: ignore[assignment]
        default_factory=list, max_length=MAX_CHECKS, description="this case's own checks"
    )


class CaseComparison(CompareRequest):
    """One case as a comparison: its prompt (a template filled in), or its conversation."""

    samples: int = EVAL_SAMPLES.field(DEFAULT_EVAL_SAMPLES)  # an eval's range, not a run's
    turns: list[Turn] | None = Field(default=None, exclude=True)

    def chat_messages(self) -> list[dict[str, str]]:
        if self.turns is None:
            return super().chat_messages()
        # The eval's system message leads, unless the case's conversation brings its own.
        own_system = any(turn.role == "system" for turn in self.turns)
        lead = (
            [{"role": "system", "content": self.system}] if self.system and not own_system else []
        )
        return [*lead, *({"role": t.role, "content": t.content} for t in self.turns)]


class EvalRequest(BaseModel):
    """What an eval runs: cases × presets × samples, and the checks for every case."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=MAX_CHARS["name"])
    system: str | None = Field(default=None, max_length=MAX_CHARS["system"])
    template: str | None = Field(
        default=None,
        max_length=MAX_CHARS["prompt"],
        description="a prompt with {{variables}}, filled in from each case's vars",
    )
    cases: list[EvalCase] = Field(min_length=1, max_length=MAX_CASES)
    checks: list[Check] = Field(
        default_factory=list, max_length=MAX_CHECKS, description="applied to every case"
    )
    presets: list[Preset] = Field(min_length=1, max_length=MAX_PRESETS)
    samples: int = EVAL_SAMPLES.field(DEFAULT_EVAL_SAMPLES)

    @field_validator("name", "system", "template", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("samples", mode="before")
    @classmethod
    def _samples(cls, value: Any) -> Any:
        ok = isinstance(value, int) and not isinstance(value, bool) and EVAL_SAMPLES.admits(value)
        if not ok:
            raise refused(f"{EVAL_SAMPLES.label} must be {EVAL_SAMPLES.describe()}.")
        return value

    @property
    def requests(self) -> int:
        return len(self.cases) * len(self.presets) * self.samples

    def checks_for(self, case: int) -> list[Check]:
        """The checks case `case`'s answers must pass: the eval's, then its own."""
        return [*self.checks, *self.cases[case].checks]

    def prompt_of(self, case: int) -> str | None:
        """What case `case` asks, as one line of text: its prompt, the template filled in,
        or its conversation's last turn; None when it asks nothing (preflight says so)."""
        this = self.cases[case]
        if this.messages:
            return this.messages[-1].content
        try:
            return prompt_for(this, self.template)
        except KeyError:
            return None

    def comparison(self, case: int, presets: list[int] | None = None) -> CaseComparison:
        """Case `case` as a comparison under the eval's presets (only those listed, on Resume)."""
        chosen = [self.presets[i] for i in presets] if presets is not None else self.presets
        this = self.cases[case]
        return CaseComparison.model_validate(
            {
                "system": self.system,
                "prompt": self.prompt_of(case),
                "samples": self.samples,
                "presets": chosen,
                "turns": this.messages,
            },
            strict=False,
        )

    def title(self) -> str:
        return self.name or f"{len(self.cases)} cases × {len(self.presets)} presets"

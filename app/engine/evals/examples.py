"""Built-in example sets, one click from the eval form: small enough for the embedded model,
and each shows a point: settings change how often an answer comes out right, and how often
it comes out as valid JSON at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Example:
    key: str
    title: str
    about: str
    cases: str  # as pasted into the form
    form: Literal["lines", "csv", "jsonl"]
    template: str = ""
    system: str = ""
    checks: tuple[dict[str, Any], ...] = field(default_factory=tuple)


ARITHMETIC = Example(
    key="arithmetic",
    title="Arithmetic (10 questions)",
    about="Ten sums and products; each answer's final number must equal the expected one.",
    form="csv",
    template="What is {{question}}? Answer with the number only.",
    cases="\n".join(
        [
            "question,expected",
            "2 + 3,5",
            "7 + 8,15",
            "12 - 5,7",
            "6 × 7,42",
            "9 + 10,19",
            "20 - 8,12",
            "3 × 4,12",
            "15 + 27,42",
            "100 - 1,99",
            "8 × 8,64",
        ]
    ),
    checks=({"kind": "final_number"},),
)
PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}
EXTRACTION = Example(
    key="extraction",
    title="Extraction to JSON (5 prompts)",
    about="Pull a name and an age out of a sentence; the answer must match a JSON Schema.",
    form="lines",
    system='Reply with JSON only, like {"name": "Ann", "age": 30}.',
    cases="\n".join(
        [
            "Maria is 34 years old and lives in Lisbon.",
            "The new intern, Tom, just turned 19.",
            "At 67, Ahmed still runs every morning.",
            "Lena (age 8) won the spelling contest.",
            "Our manager Priya celebrated her 45th birthday.",
        ]
    ),
    checks=({"kind": "schema", "value": PERSON_SCHEMA}, {"kind": "not_truncated"}),
)
EXAMPLES = (ARITHMETIC, EXTRACTION)
EXAMPLE_BY_KEY = {example.key: example for example in EXAMPLES}

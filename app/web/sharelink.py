"""Preset links: the playground's form in a URL query, and back, never raising.

The format (`v=1`) is an ordinary query string, one `p` per preset::

    prompt=Hi&system=Be+brief.&samples=3&p=Deterministic;temperature=0;stop=END&p=top_p=0.9&v=1

A preset is `;`-separated: its name first (possibly empty), then `knob=value` parts in
KNOBS order, `model=` first and one `stop=` per stop sequence. Inside a part `%`, `;` and
`=` are percent-escaped once, then the whole query is form-encoded as usual, so any text
round-trips. Floats use repr, so they come back bit for bit. Unset knobs are left out.
`v=1` comes last: a link without it was cut short on its way, most likely in its last preset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote_plus, unquote, unquote_plus

from pydantic import ValidationError

from app.engine.knobs import (
    DEFAULT_SAMPLES,
    KNOB_BY_NAME,
    KNOBS,
    MAX_CHARS,
    MAX_PRESETS,
    MAX_STOP_SEQUENCES,
    SAMPLES,
)
from app.engine.knobs import knob_text as text
from app.engine.presets import Preset
from app.web.forms import PRESET_FIELDS, PlaygroundForm, column_values

VERSION = "1"
MAX_PROBLEMS = 12  # the most problems listed one by one; a tampered link can make many
MAX_PARTS = 32  # the most parts read in one preset
_INT = re.compile(r"-?[0-9]{1,19}")
_FLOAT = re.compile(r"-?([0-9]{1,20}(\.[0-9]{0,20})?|\.[0-9]{1,20})([eE][-+]?[0-9]{1,3})?")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NAMES = {"prompt": "the prompt", "system": "the system message", "samples": "samples", "v": "v"}


@dataclass
class Decoded:
    """What a link held: every part that could be read, and what could not, in words."""

    system: str | None = None
    prompt: str = ""
    samples: int = DEFAULT_SAMPLES
    presets: list[Preset] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def columns(self) -> list[dict[str, str]]:
        """The presets as the playground's form fields, floats written exactly."""
        return [column_values(p) for p in self.presets]

    def form(self, fallback: Sequence[Preset] = ()) -> PlaygroundForm:
        """The playground form; `fallback` presets when the link carried none."""
        columns = self.columns() or [column_values(p) for p in fallback]
        return PlaygroundForm(self.system or "", self.prompt, str(self.samples), columns)


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace(";", "%3B").replace("=", "%3D")


def _preset_value(name: str, fields: list[tuple[str, str]]) -> str:
    return ";".join([_escape(name), *(f"{key}={_escape(value)}" for key, value in fields)])


def encode_preset(preset: Preset) -> str:
    """One preset as the value of a `p` parameter (before form encoding)."""
    fields = [(n, v) for n in ("endpoint", "model") if (v := getattr(preset, n)) is not None]
    for name, value in preset.knobs().items():
        fields += [(name, s) for s in value] if name == "stop" else [(name, text(value))]
    return _preset_value(preset.name or "", fields)


def encode(system: str | None, prompt: str, samples: int, presets: Sequence[Preset]) -> str:
    """The query string (without '?') that restores this form on `GET /`."""
    return _query(system, prompt, str(samples), [encode_preset(p) for p in presets])


def encode_form(form: PlaygroundForm) -> str:
    """The link for a form as typed, mistakes included: opening it names each one."""
    presets = []
    for values in form.columns:
        fields = []
        for name in PRESET_FIELDS[1:]:
            raw = values.get(name, "")
            if name == "stop":
                fields += [(name, line) for line in raw.splitlines() if line]
            elif raw.strip():
                fields.append((name, raw.strip()))
        presets.append(_preset_value(values.get("name", "").strip(), fields))
    return _query(form.system, form.prompt, form.samples, presets)


def _query(system: str | None, prompt: str, samples: str, presets: list[str]) -> str:
    pairs = [("prompt", prompt)]
    if system:
        pairs.append(("system", system))
    pairs.append(("samples", samples))
    pairs.extend(("p", p) for p in presets)
    pairs.append(("v", VERSION))
    # `;`, `=`, `,` and `:` are legal in a query value; leaving them bare keeps links readable.
    return "&".join(f"{k}={quote_plus(v, safe=';=,:/')}" for k, v in pairs)


def decode(
    query: str | Mapping[str, Sequence[str]], max_chars: int = MAX_CHARS["prompt"]
) -> Decoded:
    """Read a link's query: the raw string (best: bad escapes are caught), parse_qs's lists,
    or Starlette's QueryParams. Never raises. The prompt and the system message are each cut
    at `max_chars`, the server's KNOBS_MAX_PROMPT_CHARS (Settings.max_prompt_chars); without
    it, at the longest any server takes, and running says what is over this one's limit."""
    decoded = Decoded()
    params = _parse(query, decoded.problems) if isinstance(query, str) else _pairs(query)
    seen: set[str] = set()
    presets = 0
    for key, value in params:
        if key == "p":
            presets += 1
            if presets <= MAX_PRESETS:
                decoded.presets.append(decode_preset(value, presets, decoded.problems))
        elif key in seen:
            decoded.problems.append(f"{show(key)} appears more than once; the first was kept")
        else:
            seen.add(key)
            _read_param(decoded, key, value, max_chars)
    if params and "v" not in seen:
        decoded.problems.append(
            f"the link does not end with v={VERSION}, so it may have been cut short: "
            "check the prompt and the last preset"
        )
    if presets > MAX_PRESETS:
        decoded.problems.append(
            f"the link has {presets} presets; only the first {MAX_PRESETS} were read"
        )
    if len(decoded.problems) > MAX_PROBLEMS:
        more = len(decoded.problems) - MAX_PROBLEMS + 1
        decoded.problems[MAX_PROBLEMS - 1 :] = [f"and {more} more problems"]
    return decoded


def _pairs(query: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    multi_items = getattr(query, "multi_items", None)  # Starlette's QueryParams: every value
    if multi_items is not None:
        return [(str(k), str(v)) for k, v in multi_items()]
    return [
        (str(k), str(v))
        for k, values in query.items()
        for v in ([values] if isinstance(values, str) else values)
    ]


def _parse(query: str, problems: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for chunk in query.lstrip("?").split("&"):
        if not chunk:
            continue
        raw_key, _, raw_value = chunk.partition("=")
        key = unquote_plus(raw_key, errors="replace")
        what = _NAMES.get(key, f"part {show(key)}")
        pairs.append((key, _unescape(raw_value, what, problems, plus=True)))
    return pairs


def _unescape(raw: str, what: str, problems: list[str], plus: bool = False) -> str:
    """Percent-decode, keeping what is readable and saying what was not."""
    if _BAD_ESCAPE.search(raw):
        problems.append(f"{what} has a '%' that is not a valid escape; it was kept as is")
    raw = raw.replace("+", " ") if plus else raw
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        problems.append(f"{what} has escapes that are not valid UTF-8; shown as �")
        return unquote(raw, errors="replace")


def _read_param(decoded: Decoded, key: str, value: str, max_chars: int) -> None:
    problems = decoded.problems
    if key == "v":
        if value != VERSION:
            problems.append(
                f"the link is in format v={show(value)}, this Knobs reads v={VERSION}; "
                "what could be read was read"
            )
    elif key == "prompt":
        decoded.prompt = _cut(value, max_chars, "the prompt", problems)
    elif key == "system":
        decoded.system = _cut(value, max_chars, "the system message", problems) or None
    elif key == "samples":
        if _INT.fullmatch(value) and SAMPLES.admits(int(value)):
            decoded.samples = int(value)
        else:
            problems.append(
                f"samples={show(value)} is not {SAMPLES.describe()}; {DEFAULT_SAMPLES} used"
            )
    else:
        problems.append(f"unknown part {show(key)} was ignored")


def decode_preset(value: str, number: int, problems: list[str]) -> Preset:
    """One `p` value; each part that cannot be read is left unset and reported."""
    parts = value.split(";")
    if len(parts) > MAX_PARTS:
        problems.append(f"preset {number}: only the first {MAX_PARTS} settings were read")
        parts = parts[:MAX_PARTS]
    fields: dict[str, object] = {}
    stops: list[str] = []
    for index, part in enumerate(parts):
        name, has_value, raw = part.partition("=")
        if index == 0 and not has_value:
            name, raw = "name", part  # the first part is the name, unless it says otherwise
        elif not has_value:
            problems.append(f"preset {number}: {show(part)} is not name=value, ignored")
            continue
        item = _unescape(raw, f"preset {number}: {name}", problems)
        if name == "stop":
            stops.append(item)
        elif name in fields:
            problems.append(f"preset {number}: {show(name)} given twice, the first kept")
        elif name in PRESET_FIELDS:
            fields[name] = _field(name, item, number, problems)
        else:
            problems.append(f"preset {number}: unknown setting {show(name)} ignored")
    if len(stops) > MAX_STOP_SEQUENCES:
        problems.append(f"preset {number}: only the first {MAX_STOP_SEQUENCES} stops were kept")
    fields["stop"] = stops[:MAX_STOP_SEQUENCES] or None
    for knob in KNOBS:
        if knob.needs and fields.get(knob.name) is not None and fields.get(knob.needs) is not True:
            problems.append(f"preset {number}: {knob.name} needs {knob.needs}=true, left unset")
            fields[knob.name] = None
    return Preset.model_validate({k: v for k, v in fields.items() if v is not None})


def _field(name: str, raw: str, number: int, problems: list[str]) -> object:
    if name in MAX_CHARS:
        return _cut(raw, MAX_CHARS[name], f"preset {number}: {name}", problems)
    knob = KNOB_BY_NAME[name]
    if knob.kind == "choice" and raw in knob.options:
        return raw
    if knob.kind == "bool" and raw in knob.options:
        return raw == "true"
    pattern = _INT if knob.kind == "int" else _FLOAT
    if knob.kind in ("float", "int") and pattern.fullmatch(raw):
        value = int(raw) if knob.kind == "int" else float(raw)
        try:
            needed = {knob.needs: True} if knob.needs else {}  # checked with the preset
            Preset.model_validate({**needed, name: value})
            return value
        except ValidationError:
            pass
    problems.append(f"preset {number}: {name}={show(raw)} is not {knob.describe()}, left unset")
    return None


def _cut(value: str, limit: int, what: str, problems: list[str]) -> str:
    if len(value) <= limit:
        return value
    problems.append(f"{what} was longer than {limit:,} characters and was cut")
    return value[:limit]


def show(value: str) -> str:
    """A value for a message: short, and quoted when blank or holding invisible characters."""
    short = value if len(value) <= 40 else value[:40] + "…"
    plain = short and short.isprintable() and short.strip() == short
    return short if plain else repr(short)

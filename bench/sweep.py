"""The sweep case: POST /api/sweep (10 temperature points × 3 samples @ 300 ms) against the floor.

A sweep runs as one comparison with a preset per point, so its wall time should be its
slowest request's, not the sum of its points': bench/fanout.py measures it exactly as it
measures a comparison (Knobs over HTTP at its default settings, against the same streaming
requests sent straight to the fake endpoint by a bare client), with the sweep's body.

    .venv/bin/python -m bench.sweep                 # 10 points x 3 samples @ 300 ms
    .venv/bin/python -m bench.sweep --points 30     # the most points a sweep takes
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from app.engine.knobs import MAX_SWEEP_POINTS, SWEEP_SAMPLES
from bench.fanout import DEFAULTS, PROMPT, SYSTEM, TARGET, bench


def sweep_body(points: int, samples: int) -> dict[str, Any]:
    """The JSON of one POST /api/sweep: temperature from 0 to 2, evenly spaced."""
    values = [round(i * 2 / (points - 1), 4) for i in range(points)]
    return {
        "system": SYSTEM,
        "prompt": PROMPT,
        "samples": samples,
        "vary": [{"knob": "temperature", "values": values}],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--points", type=int, default=10, choices=range(2, MAX_SWEEP_POINTS + 1))
    parser.add_argument("--samples", type=int, default=3, choices=SWEEP_SAMPLES.choices())
    parser.add_argument("--latency", type=float, default=0.3, help="seconds before the first chunk")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--chunks", type=int, default=50, help="words (chunks) in the answer")
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds per side")
    parser.add_argument(
        "--check", action="store_true", help=f"exit 1 when the ratio is above {TARGET}"
    )
    args = parser.parse_args(argv)
    most_rounds = DEFAULTS["rate_limit_per_minute"].default - 1
    if args.chunks < 1 or not 1 <= args.rounds <= most_rounds:
        parser.error(f"--chunks: at least 1; --rounds: 1-{most_rounds} (the default rate limit)")
    # bench/fanout.py's run, with the sweep's endpoint and body; a point counts as a preset.
    args.presets, args.path, args.profile = args.points, "/api/sweep", None
    args.body = sweep_body(args.points, args.samples)
    ratio = bench(args)
    if args.check and ratio > TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()

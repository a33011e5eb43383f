"""Prints how often find_region acts on the object a referring expression means (tests/data/referring.toml).

Run from the repository root: `python scripts/referring_eval.py [--mistakes]`. The set's first batch was
written before the chooser was built, the second ("after") once it was, and run once before any change
for it; the numbers are printed per batch and per planner.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.referring import Outcome, run_all  # noqa: E402


def _line(label: str, outcomes: list[Outcome]) -> str:
    right = sum(o.correct for o in outcomes)
    return f"{label}: {right}/{len(outcomes)} right ({100 * right / max(len(outcomes), 1):.1f}%)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mistakes", action="store_true", help="list the items chosen wrongly")
    args = parser.parse_args()
    outcomes = run_all()
    print(_line("referring expressions", outcomes))
    for batch in ("before", "after"):
        print("  " + _line(f"batch {batch}", [o for o in outcomes if o.item.get("batch", "before") == batch]))
    for planner in ("rules", "llm"):
        print("  " + _line(f"{planner} targets", [o for o in outcomes if o.item.get("planner", "rules") == planner]))
    bare = sum(all(len(p.split()) == 1 for p in o.phrases) for o in outcomes)
    print(f"  detector asked only for one-word phrases: {bare}/{len(outcomes)}")
    if args.mistakes:
        for o in outcomes:
            if not o.correct:
                print(
                    f"  - {o.item['instruction']!r} [{o.item['scene']}]: expected {o.item['expect']}, got {o.got}"
                    f" (asked {o.phrases})"
                )


if __name__ == "__main__":
    main()

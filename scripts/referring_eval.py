"""Prints how often find_region acts on the object a referring expression means (tests/data/referring.toml).

Run from the repository root: `python scripts/referring_eval.py [--mistakes]`.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.referring import run_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mistakes", action="store_true", help="list the items chosen wrongly")
    args = parser.parse_args()
    outcomes = run_all()
    right = sum(o.correct for o in outcomes)
    print(f"referring expressions: {right}/{len(outcomes)} right ({100 * right / len(outcomes):.1f}%)")
    by_planner = Counter(o.item.get("planner", "rules") for o in outcomes)
    for planner, count in sorted(by_planner.items()):
        good = sum(o.correct for o in outcomes if o.item.get("planner", "rules") == planner)
        print(f"  {planner} targets: {good}/{count}")
    bare = sum(all(len(p.split()) == 1 for p in o.phrases) for o in outcomes)
    print(f"  detector asked only for bare nouns: {bare}/{len(outcomes)}")
    if args.mistakes:
        for o in outcomes:
            if not o.correct:
                print(
                    f"  - {o.item['instruction']!r} [{o.item['scene']}]: expected {o.item['expect']}, got {o.got}"
                    f" (asked {o.phrases})"
                )


if __name__ == "__main__":
    main()

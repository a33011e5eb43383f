"""Measure the rules planner on the public instruction benchmarks and print the tables.

    python examples/eval_planner.py                       # ../shared/eval/instructions next to the repo
    python examples/eval_planner.py --dir PATH            # any folder holding the same JSONL files
    python examples/eval_planner.py --mistakes 20         # also list the first 20 mistakes per file
    python examples/eval_planner.py --json > results.json
    python examples/eval_planner.py --in-process          # call the planner directly, not through the CLI

By default the instructions go through `chatedit plan --planner rules --input -` (one process for
all of them), so what is measured is exactly what the command prints.

Per file it prints category accuracy (replace and text count as local on the shared benchmarks;
items labelled `other` are reported apart), target-phrase match, and for compound.jsonl the fraction of
instructions split into the exact number of steps and the exact sequence of categories; then a
confusion matrix per file. How each number is counted: the docstring of `agent/evaluate.py`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from chatedit.agent.evaluate import default_eval_dir, eval_files, evaluate_dir, format_report, load_jsonl
from chatedit.agent.plan import Plan


def cli_planner(directory: Path):
    """Gives back a planner that answers from one `chatedit plan --input -` run over every instruction."""
    texts = sorted({record["instruction"] for path in eval_files(directory) for record in load_jsonl(path)})
    lines = "".join(json.dumps({"id": str(i), "instruction": text}) + "\n" for i, text in enumerate(texts))
    done = subprocess.run(
        [sys.executable, "-m", "chatedit.agent.cli", "plan", "--planner", "rules", "--input", "-"],
        input=lines,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    plans = {texts[int(row["id"])]: Plan(steps=row["steps"]) for row in map(json.loads, done.stdout.splitlines())}
    return plans.__getitem__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=default_eval_dir(), help="folder of the benchmark JSONL files")
    parser.add_argument("--mistakes", type=int, default=0, metavar="N", help="list the first N mistakes per file")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument("--in-process", action="store_true", help="call the rules planner directly instead of the CLI")
    args = parser.parse_args()

    if args.in_process:
        results = evaluate_dir(args.dir)
    else:
        results = evaluate_dir(args.dir, planner=cli_planner(args.dir))
    if not results:
        parser.error(
            f"no benchmark files in {args.dir}; pass --dir to the folder holding i2ebench.jsonl and the others"
        )
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(format_report(results))
    for name, result in results.items():
        if args.mistakes and result["mistakes"]:
            shown = result["mistakes"][: args.mistakes]
            print(f"\nMistakes in {name} ({len(shown)} of {len(result['mistakes'])}):")
            for mistake in shown:
                gold, predicted = mistake["gold"], mistake["predicted"]
                if "target" in mistake:
                    gold += f" [{mistake['object']}]" + (f" ({mistake['value']})" if "value" in mistake else "")
                    predicted += f" [{mistake['target']}]" + (f" ({mistake['prompt']})" if "prompt" in mistake else "")
                print(f"  gold {gold} | predicted {predicted} | {mistake['instruction']!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

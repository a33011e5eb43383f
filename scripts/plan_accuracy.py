"""Measures an in-process planner (`--llm local:FOLDER`) on labelled instruction sets, beside the rules.

    python scripts/plan_accuracy.py --llm local:FOLDER --dir tests/data/eval_sample --limit 20
    python scripts/plan_accuracy.py --llm local:FOLDER --dir tests/data/chat --layout inline

The model plans from the words alone (no picture). A plan the model could not give counts as a plan
with no steps: the numbers are the model's, not the rules' that stand in for it in a turn. Prints one
JSON object: per file the scores of `agent/evaluate.py` for the model and for the rules, the model's
failures, and its seconds and tokens per plan.

Layouts of the prompt (`--layout`):
- `inline` (what the planner sends): the short prompt with the examples written into it.
- `turns`: the short prompt, then the examples as earlier turns of the chat.
- `schema`: the long prompt (prompts/plan.txt) and the tool's JSON schema after the user's words.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from chatedit import prompts
from chatedit.agent import llm as llm_module
from chatedit.agent.evaluate import eval_files, evaluate_compound, evaluate_items, is_compound, load_jsonl
from chatedit.agent.llm import plan_with_llm
from chatedit.agent.local_models import local_chat_model, local_dtype
from chatedit.agent.plan import Plan
from chatedit.agent.rules import plan_rules


def _turns(llm, content) -> list:
    messages: list = [SystemMessage(prompts.load("plan_local"))]
    for example in prompts.load("plan_examples").strip().split("\n\n"):
        said, plan = example.split("\n", 1)
        messages += [HumanMessage(f"Instruction: {said}"), AIMessage(plan)]
    return [*messages, HumanMessage(content)]


def _schema(llm, content) -> list:
    return [SystemMessage(prompts.load("plan")), HumanMessage(content)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", required=True, help="local:FOLDER or local:MODEL_ID")
    parser.add_argument("--dir", type=Path, action="append", required=True)
    parser.add_argument("--limit", type=int, default=None, help="items per file (the first N)")
    parser.add_argument("--layout", choices=["turns", "inline", "schema"], default="inline")
    args = parser.parse_args()
    device = torch.device("cpu")
    chat = local_chat_model(args.llm.removeprefix("local:"), device, local_dtype(device))
    if args.layout == "turns":
        llm_module._plan_messages = _turns
    if args.layout == "schema":
        llm_module._plan_messages = _schema
        chat.schema_prompt = True
    seconds: list[float] = []
    tokens: list[int] = []
    failures: list[str] = []

    def model(text: str) -> Plan:
        started = time.perf_counter()
        result = plan_with_llm(chat, None, text, [])
        seconds.append(time.perf_counter() - started)
        tokens.append(result.tokens)
        if result.value is None:
            failures.append(f"{text}: {result.error}")
            return Plan(steps=[], message="no plan")
        return result.value

    out: dict = {"layout": args.layout}
    for directory in args.dir:
        for path in eval_files(directory):
            records = load_jsonl(path)[: args.limit]
            score = evaluate_compound if is_compound(records) else evaluate_items
            before, failed = len(seconds), len(failures)
            out[str(path)] = {
                "items": len(records),
                "model": _summary(score(records, model)),
                "rules": _summary(score(records, plan_rules)),
                "failures": len(failures) - failed,
                "seconds_per_plan": round(statistics.mean(seconds[before:]), 2) if seconds[before:] else None,
            }
            print(json.dumps({str(path): out[str(path)]}), flush=True)
    out["seconds"] = {"mean": round(statistics.mean(seconds), 2), "max": round(max(seconds), 2)}
    out["tokens_mean"] = round(statistics.mean(tokens), 1)
    out["failure_examples"] = failures[:8]
    print(json.dumps(out, indent=1))


def _summary(result: dict) -> dict:
    keep = ("category_accuracy", "exact_steps", "exact_sequence", "step_accuracy", "fully_right")
    summary = {key: round(result[key], 3) for key in keep if result.get(key) is not None}
    summary["target_match"] = result["target"]["match"] and round(result["target"]["match"], 3)
    return summary


if __name__ == "__main__":
    main()

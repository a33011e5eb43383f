"""Measures a planner on labelled instruction files: category accuracy, target match, step splits.

The files are JSON Lines in the schema of the shared evaluation set (`eval/instructions/README.md`):
each record has an `instruction` and a gold `category` (`remove`, `local`, `add`, `background`,
`global` or `other`), sometimes an `object`; `compound.jsonl` records hold `steps`, each with its own
`category` and `object`.

How the numbers are counted:

* Category: a plan's category is its first step's (`none` for a plan without steps). The shared
  benchmarks' labels have no `replace` or `text`, their `local` covers object replacement and new
  text on a thing, so a predicted `replace` or `text` counts as `local`. Items labelled `other` (restoration, pose, action) have no
  counterpart among the planner's categories: they are counted apart and left out of the accuracy.
  Sets labelled with the planner's finer categories (`replace`, `text`, `move`, `count`, `pose`,
  for example `tests/data/chat/`) are scored exactly on those; a gold `local` still accepts `replace`
  and `text`.
* Target: the phrase a step acts on is its `target`, or for `add` its `prompt` (the new object). It
  matches the gold `object` when both, normalised (lowercase, punctuation, articles, numbers and
  quantifiers dropped, plural nouns made singular), are equal, when the gold head noun (its last
  word) is a word of the prediction, or when both end in the same head noun: "red slippers" and
  "slippers" match either way, "shirt of person" matches "person", "glasses" matches "pair of
  glasses"; "table" does not match "table lamp".
* Value: where a record or a gold step has a `value` (the colour, the new object or background, the
  words of a text, the number, the destination), the step's prompt must hold every word of it, each
  word compared by its start ("gild" is in "gilded frame", "red" in "red door"); so "the door red and
  the fence green" planned with the colours swapped scores as a value mistake. An item is fully right
  when its category, target and value all are; a compound one when, in addition to its exact
  sequence, every labelled target and value of its steps is.
* Compound: a plan has the exact step count when it has as many steps as the gold `steps`, and the
  exact category sequence when, in addition, every step's category equals the gold one (`replace`
  as `local`; a gold `other` step accepts any category, for the reason above).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Optional

from chatedit.agent.plan import CATEGORIES, Plan, Step
from chatedit.agent.rules import plan_rules

Planner = Callable[[str], Plan]

LABELS: tuple[str, ...] = ("remove", "local", "add", "background", "global")
"""The gold categories of the shared benchmarks (the planner's first six, with replace inside local)."""

FINE_LABELS: tuple[str, ...] = ("replace", "text", "move", "count", "pose")
"""Gold categories of sets labelled with the planner's finer categories; rows appear when used."""

PREDICTIONS: tuple[str, ...] = (*CATEGORIES, "none")
"""The columns of the confusion matrix: what a planner can give back."""

ITEM_FILES: tuple[str, ...] = ("i2ebench.jsonl", "editeval_v1.jsonl", "complexbench_edit_steps.jsonl")
COMPOUND_FILE = "compound.jsonl"

_DROPPED = frozenset(
    "a an the this that these those some any all both each every either another its their his her "
    "my your our one two three four five six seven eight nine ten several few many".split()
)


def default_eval_dir() -> Path:
    """Gives back the shared instruction folder next to the repository (`../shared/eval/instructions`)."""
    return Path(__file__).resolve().parents[2] / "shared" / "eval" / "instructions"


def load_jsonl(path: str | Path) -> list[dict]:
    """Gives back the records of a JSON Lines file, skipping blank lines."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


_PLURALS_IN_OES = frozenset("tomatoes potatoes heroes mangoes volcanoes echoes mosquitoes buffaloes dominoes".split())


def _singular(word: str) -> str:
    if word in _PLURALS_IN_OES:
        return word[:-2]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return {"men": "man", "women": "woman", "people": "person", "children": "child", "mice": "mouse"}.get(word, word)


def normalise_phrase(text: Optional[str]) -> list[str]:
    """Gives back the words of a phrase as compared: lowercase, no articles or numbers, singular."""
    if not text:
        return []
    words = re.findall(r"[a-z0-9]+", text.lower().replace("'s ", " "))
    return [_singular(word) for word in words if word not in _DROPPED and not word.isdigit()]


def phrases_match(predicted: Optional[str], gold: Optional[str]) -> bool:
    """Gives back whether a predicted target phrase names the gold object (see the module docstring)."""
    mine, theirs = normalise_phrase(predicted), normalise_phrase(gold)
    if not mine or not theirs:
        return False
    return mine == theirs or theirs[-1] in mine or mine[-1] == theirs[-1]


def _stem(word: str) -> str:
    word = _singular(word)
    for suffix in ("ing", "ed", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def value_matches(step: Step, value: str) -> bool:
    """Gives back whether a step's prompt holds every word of a gold value (see the module docstring)."""
    said = re.findall(r"[a-z0-9]+", step.prompt.lower())
    wanted = [word for word in re.findall(r"[a-z0-9]+", value.lower()) if word not in ("a", "an", "the")]
    return all(any(word.startswith(_stem(gold)) or _stem(word) == _stem(gold) for word in said) for gold in wanted)


def step_phrase(step: Step) -> Optional[str]:
    """Gives back the phrase a step acts on: its target, or the new object for an `add` step."""
    return step.prompt if step.category == "add" else step.target


def plan_category(plan: Plan) -> str:
    """Gives back the category a single-edit plan is scored by: its first step's, or `none`."""
    return plan.steps[0].category if plan.steps else "none"


def _correct(gold: str, predicted: str) -> bool:
    return predicted == gold or (gold == "local" and predicted in ("replace", "text"))


def _rows(pairs: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    golds = {gold for gold, _ in pairs}
    return (*LABELS, *(label for label in FINE_LABELS if label in golds))


def _confusion(pairs: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
    counts = Counter(pairs)
    return {gold: {pred: counts[(gold, pred)] for pred in PREDICTIONS} for gold in _rows(pairs)}


def evaluate_items(records: list[dict], planner: Planner = plan_rules) -> dict:
    """Gives back category accuracy, target match and the confusion matrix of one-edit records.

    Args:
        records: dicts with `instruction` and `category`, and optionally `object` and `id`.
        planner: instruction -> Plan; the rules planner by default.

    Returns:
        `items`, `scored` (items not labelled `other`), `correct`, `category_accuracy`,
        `per_category` ({label: {items, accuracy}}), `confusion` ({gold: {predicted: count}}),
        `other` ({items, predicted: {category: count}}), `target` ({items, matched, match}) and
        `mistakes` (records whose category or target was wrong, with what was predicted).
    """
    pairs: list[tuple[str, str]] = []
    other: Counter[str] = Counter()
    mistakes: list[dict] = []
    target_items = target_matched = value_items = value_matched = fully_right = 0
    for record in records:
        plan = planner(record["instruction"])
        predicted, gold = plan_category(plan), record["category"]
        if gold == "other":
            other[predicted] += 1
        else:
            pairs.append((gold, predicted))
        phrase = step_phrase(plan.steps[0]) if plan.steps else None
        target_ok = None
        if record.get("object") and gold != "other":
            target_ok = phrases_match(phrase, record["object"])
            target_items += 1
            target_matched += target_ok
        value_ok = None
        if record.get("value") and gold != "other":
            value_ok = bool(plan.steps) and value_matches(plan.steps[0], record["value"])
            value_items += 1
            value_matched += value_ok
        wrong = (gold != "other" and not _correct(gold, predicted)) or target_ok is False or value_ok is False
        fully_right += gold != "other" and not wrong
        if wrong:
            mistakes.append(
                {
                    "id": record.get("id"),
                    "instruction": record["instruction"],
                    "gold": gold,
                    "predicted": predicted,
                    "object": record.get("object"),
                    "target": phrase,
                    **(
                        {"value": record["value"], "prompt": plan.steps[0].prompt}
                        if value_ok is False and plan.steps
                        else {}
                    ),
                }
            )
    correct = sum(_correct(gold, pred) for gold, pred in pairs)
    per_category = {}
    for label in _rows(pairs):
        row = [pred for gold, pred in pairs if gold == label]
        per_category[label] = {
            "items": len(row),
            "accuracy": sum(_correct(label, pred) for pred in row) / len(row) if row else None,
        }
    return {
        "items": len(records),
        "scored": len(pairs),
        "correct": correct,
        "category_accuracy": correct / len(pairs) if pairs else None,
        "per_category": per_category,
        "confusion": _confusion(pairs),
        "other": {"items": sum(other.values()), "predicted": dict(other)},
        "target": {
            "items": target_items,
            "matched": target_matched,
            "match": target_matched / target_items if target_items else None,
        },
        "value": {
            "items": value_items,
            "matched": value_matched,
            "match": value_matched / value_items if value_items else None,
        },
        "fully_right": fully_right / len(pairs) if pairs else None,
        "mistakes": mistakes,
    }


def evaluate_compound(records: list[dict], planner: Planner = plan_rules) -> dict:
    """Gives back how well multi-step records are split: exact step count and category sequence.

    Args:
        records: dicts with `instruction` and `steps` (each with `category`, optionally `object`).
        planner: instruction -> Plan; the rules planner by default.

    Returns:
        `items`, `exact_steps` and `exact_sequence` (fractions of items), `step_count_error`
        ({predicted minus gold: items}), then over the steps of items with the exact count:
        `steps` (scored steps), `step_accuracy`, `confusion`, `target` ({items, matched, match}),
        and `mistakes`.
    """
    exact_steps = exact_sequence = fully_right = 0
    count_error: Counter[int] = Counter()
    pairs: list[tuple[str, str]] = []
    mistakes: list[dict] = []
    target_items = target_matched = value_items = value_matched = 0
    for record in records:
        plan = planner(record["instruction"])
        gold_steps = record["steps"]
        count_error[len(plan.steps) - len(gold_steps)] += 1
        if len(plan.steps) != len(gold_steps):
            mistakes.append(_compound_mistake(record, plan))
            continue
        exact_steps += 1
        sequence_ok = words_ok = True
        for gold_step, step in zip(gold_steps, plan.steps, strict=False):
            gold = gold_step["category"]
            if gold == "other":
                continue
            pairs.append((gold, step.category))
            sequence_ok &= _correct(gold, step.category)
            if gold_step.get("object"):
                target_ok = phrases_match(step_phrase(step), gold_step["object"])
                target_items += 1
                target_matched += target_ok
                words_ok &= target_ok
            if gold_step.get("value"):
                value_ok = value_matches(step, gold_step["value"])
                value_items += 1
                value_matched += value_ok
                words_ok &= value_ok
        exact_sequence += sequence_ok
        fully_right += sequence_ok and words_ok
        if not sequence_ok or not words_ok:
            mistakes.append(_compound_mistake(record, plan))
    total = len(records)
    return {
        "items": total,
        "exact_steps": exact_steps / total if total else None,
        "exact_sequence": exact_sequence / total if total else None,
        "step_count_error": dict(sorted(count_error.items())),
        "steps": len(pairs),
        "step_accuracy": sum(_correct(gold, pred) for gold, pred in pairs) / len(pairs) if pairs else None,
        "confusion": _confusion(pairs),
        "target": {
            "items": target_items,
            "matched": target_matched,
            "match": target_matched / target_items if target_items else None,
        },
        "value": {
            "items": value_items,
            "matched": value_matched,
            "match": value_matched / value_items if value_items else None,
        },
        "fully_right": fully_right / total if total else None,
        "mistakes": mistakes,
    }


def _described(category: str, phrase: Optional[str], value: Optional[str]) -> str:
    return " ".join(part for part in (category, phrase and f"[{phrase}]", value and f"({value})") if part)


def _compound_mistake(record: dict, plan: Plan) -> dict:
    """Gives back a compound mistake: each gold step and each planned one as "category [object] (value)"."""
    return {
        "id": record.get("id"),
        "instruction": record["instruction"],
        "gold": [_described(step["category"], step.get("object"), step.get("value")) for step in record["steps"]],
        "predicted": [_described(step.category, step_phrase(step), step.prompt) for step in plan.steps],
    }


def is_compound(records: list[dict]) -> bool:
    """Gives back whether a file's records are multi-step instructions (they hold `steps`)."""
    return bool(records) and all("steps" in record for record in records)


def eval_files(directory: str | Path) -> list[Path]:
    """Gives back the labelled files of a folder: the benchmark names first, then any other `*.jsonl`."""
    directory = Path(directory)
    known = [directory / name for name in (*ITEM_FILES, COMPOUND_FILE) if (directory / name).exists()]
    return known + sorted(path for path in directory.glob("*.jsonl") if path not in known)


def evaluate_dir(directory: str | Path | None = None, planner: Planner = plan_rules) -> dict[str, dict]:
    """Gives back the evaluation of every labelled JSON Lines file in a folder, keyed by file name.

    Files whose records hold `steps` (such as `compound.jsonl`) go through `evaluate_compound`, the
    others (`i2ebench.jsonl`, `editeval_v1.jsonl`, `complexbench_edit_steps.jsonl`, ...) through
    `evaluate_items`.

    Args:
        directory: the folder; `default_eval_dir()` when None.
        planner: instruction -> Plan; the rules planner by default.
    """
    directory = Path(directory) if directory is not None else default_eval_dir()
    results = {}
    for path in eval_files(directory):
        records = load_jsonl(path)
        results[path.name] = (evaluate_compound if is_compound(records) else evaluate_items)(records, planner)
    return results


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        # The first column (names) reads left-aligned, numbers right-aligned.
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), line(["-" * width for width in widths]), *map(line, rows)])


def format_confusion(confusion: dict[str, dict[str, int]]) -> str:
    """Gives back a confusion matrix as a plain-text table: gold rows, predicted columns."""
    rows = [[gold, *(str(confusion[gold][pred]) for pred in PREDICTIONS)] for gold in confusion]
    return _table(["gold \\ predicted", *PREDICTIONS], rows)


def format_report(results: dict[str, dict]) -> str:
    """Gives back the tables of an `evaluate_dir` result as plain text."""
    parts = []
    items = {name: result for name, result in results.items() if "exact_steps" not in result}
    compound = {name: result for name, result in results.items() if "exact_steps" in result}
    if items:
        labels = list(dict.fromkeys(label for result in items.values() for label in result["per_category"]))
        rows = [
            [
                name,
                str(result["items"]),
                str(result["scored"]),
                _percent(result["category_accuracy"]),
                *(_percent(result["per_category"].get(label, {}).get("accuracy")) for label in labels),
                f"{result['target']['matched']}/{result['target']['items']}",
                _percent(result["target"]["match"]),
                _percent(result["value"]["match"]),
                _percent(result["fully_right"]),
                str(result["other"]["items"]),
            ]
            for name, result in items.items()
        ]
        header = ["file", "items", "scored", "category", *labels, "targets", "target match", "value match"]
        header += ["fully right", "other"]
        parts.append("Category accuracy (replace and text count as local; `other` left out), target and value match\n")
        parts.append(_table(header, rows))
    if compound:
        rows = [
            [
                name,
                str(result["items"]),
                _percent(result["exact_steps"]),
                _percent(result["exact_sequence"]),
                _percent(result["step_accuracy"]),
                _percent(result["target"]["match"]),
                _percent(result["value"]["match"]),
                _percent(result["fully_right"]),
                " ".join(f"{k:+d}:{v}" for k, v in result["step_count_error"].items()),
            ]
            for name, result in compound.items()
        ]
        header = ["file", "items", "exact steps", "exact sequence", "step category", "step target", "step value"]
        header += ["fully right", "count error"]
        parts.append("\n\nCompound instructions\n")
        parts.append(_table(header, rows))
    for name, result in results.items():
        parts.append(f"\n\nConfusion matrix: {name}" + (" (steps of exactly split items)" if name in compound else ""))
        parts.append("\n" + format_confusion(result["confusion"]))
        if result.get("other", {}).get("items"):
            other = ", ".join(f"{k} {v}" for k, v in sorted(result["other"]["predicted"].items()))
            parts.append(f"\nlabelled other ({result['other']['items']}), predicted as: {other}")
    return "".join(parts)

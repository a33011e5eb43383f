"""The planner evaluation on a small copied sample of the benchmark files (tests/data/eval_sample)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatedit.agent.evaluate import (
    COMPOUND_FILE,
    ITEM_FILES,
    LABELS,
    PREDICTIONS,
    evaluate_compound,
    evaluate_dir,
    evaluate_items,
    format_report,
    load_jsonl,
    normalise_phrase,
    phrases_match,
)
from chatedit.agent.plan import Plan, Step

SAMPLE = Path(__file__).parent / "data" / "eval_sample"


def _fraction(value) -> bool:
    return isinstance(value, float) and 0.0 <= value <= 1.0


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    return evaluate_dir(SAMPLE)


def test_every_sample_file_is_evaluated(results):
    assert set(results) == {*ITEM_FILES, COMPOUND_FILE}


@pytest.mark.parametrize("name", ITEM_FILES)
def test_item_numbers_are_computed_and_counted_right(results, name):
    records = load_jsonl(SAMPLE / name)
    result = results[name]
    other = sum(record["category"] == "other" for record in records)
    with_object = sum(bool(record.get("object")) and record["category"] != "other" for record in records)

    assert result["items"] == len(records) == 20
    assert result["scored"] == len(records) - other
    assert result["other"]["items"] == other == sum(result["other"]["predicted"].values())
    assert _fraction(result["category_accuracy"])
    assert result["correct"] == round(result["category_accuracy"] * result["scored"])
    assert set(result["confusion"]) == set(LABELS)
    assert all(set(row) == set(PREDICTIONS) for row in result["confusion"].values())
    assert sum(sum(row.values()) for row in result["confusion"].values()) == result["scored"]
    for label, row in result["per_category"].items():
        assert row["items"] == sum(record["category"] == label for record in records)
        assert row["accuracy"] is None if row["items"] == 0 else _fraction(row["accuracy"])
    assert result["target"]["items"] == with_object
    assert result["target"]["match"] is None if with_object == 0 else _fraction(result["target"]["match"])


def test_compound_numbers_are_computed_and_counted_right(results):
    records = load_jsonl(SAMPLE / COMPOUND_FILE)
    result = results[COMPOUND_FILE]
    assert result["items"] == len(records) == 20
    assert _fraction(result["exact_steps"]) and _fraction(result["exact_sequence"])
    assert result["exact_sequence"] <= result["exact_steps"]
    assert sum(result["step_count_error"].values()) == len(records)
    assert _fraction(result["step_accuracy"]) and _fraction(result["target"]["match"])
    assert sum(sum(row.values()) for row in result["confusion"].values()) == result["steps"]


def test_report_prints_every_table(results):
    report = format_report(results)
    for name in results:
        assert f"Confusion matrix: {name}" in report
    assert "exact steps" in report and "target match" in report


# The arithmetic, with planners whose answers are known.


def _always(category: str, target: str = "thing"):
    def planner(instruction: str) -> Plan:
        return Plan(steps=[Step(category=category, target=target, prompt=target, instruction=instruction)])

    return planner


RECORDS = [
    {"instruction": "a", "category": "remove", "object": "red cup"},
    {"instruction": "b", "category": "remove", "object": "dog"},
    {"instruction": "c", "category": "local"},
    {"instruction": "d", "category": "other"},
]


def test_accuracy_leaves_other_out_and_counts_replace_as_local():
    result = evaluate_items(RECORDS, _always("remove", "cup"))
    assert (result["scored"], result["correct"]) == (3, 2)
    assert result["category_accuracy"] == pytest.approx(2 / 3)
    assert result["confusion"]["local"]["remove"] == 1
    assert result["other"]["predicted"] == {"remove": 1}
    assert (result["target"]["items"], result["target"]["matched"]) == (2, 1)

    result = evaluate_items(RECORDS, _always("replace"))
    assert result["per_category"]["local"]["accuracy"] == 1.0
    assert result["confusion"]["local"]["replace"] == 1


def test_a_plan_without_steps_counts_as_none():
    result = evaluate_items(RECORDS, lambda instruction: Plan(steps=[], message="no edit"))
    assert result["correct"] == 0
    assert result["confusion"]["remove"]["none"] == 2


def test_compound_counts_steps_and_treats_other_as_any_category():
    records = [
        {"instruction": "x", "steps": [{"category": "remove", "object": "cup"}, {"category": "other"}]},
        {"instruction": "y", "steps": [{"category": "remove"}, {"category": "global"}]},
        {"instruction": "z", "steps": [{"category": "remove"}]},
    ]

    def two_removals(instruction: str) -> Plan:
        step = Step(category="remove", target="cup", prompt="empty", instruction=instruction)
        return Plan(steps=[step, step])

    result = evaluate_compound(records, two_removals)
    assert result["exact_steps"] == pytest.approx(2 / 3)
    assert result["exact_sequence"] == pytest.approx(1 / 3)
    assert result["step_count_error"] == {0: 2, 1: 1}
    assert (result["steps"], result["target"]["matched"]) == (3, 1)


@pytest.mark.parametrize(
    "predicted, gold, expected",
    [
        ("red slippers", "red slippers", True),
        ("The Red Slippers", "red slippers", True),
        ("slippers", "red slippers", True),
        ("red slippers", "slipper", True),
        ("shirt of person", "person", True),
        ("glasses", "pair of glasses", True),
        ("two horses", "horses", True),
        ("tomatoes", "tomato", True),
        ("dog", "cat", False),
        ("table", "table lamp", False),
        (None, "cat", False),
        ("cat", None, False),
    ],
)
def test_phrases_match(predicted, gold, expected):
    assert phrases_match(predicted, gold) is expected


def test_normalise_phrase_drops_articles_and_numbers():
    assert normalise_phrase("The two red Cups") == ["red", "cup"]
    assert normalise_phrase("the children's shoes") == ["child", "shoe"]


def test_example_script_measures_through_the_cli(tmp_path):
    """examples/eval_planner.py pipes the sample through `chatedit plan --input -` and prints the tables."""
    import json as _json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sample = root / "tests" / "data" / "eval_sample"
    done = subprocess.run(
        [sys.executable, str(root / "examples" / "eval_planner.py"), "--dir", str(sample), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    via_cli = _json.loads(done.stdout)
    from chatedit.agent.evaluate import evaluate_dir

    direct = evaluate_dir(sample)
    assert set(via_cli) == set(direct) and "compound.jsonl" in via_cli
    for name in direct:
        assert via_cli[name]["confusion"] == direct[name]["confusion"]


CHAT = Path(__file__).parent / "data" / "chat"


def test_finer_labels_are_scored_exactly_and_local_also_accepts_text():
    records = [
        {"instruction": "a", "category": "move", "object": "cat"},
        {"instruction": "b", "category": "replace", "object": "cat"},
        {"instruction": "c", "category": "local", "object": "cat"},
    ]
    result = evaluate_items(records, _always("text", "cat"))
    assert result["correct"] == 1 and result["confusion"]["move"]["text"] == 1
    assert set(result["per_category"]) == {*LABELS, "move", "replace"}
    assert evaluate_items(records, _always("local", "cat"))["correct"] == 1


def test_any_labelled_file_in_a_folder_is_evaluated_by_its_shape():
    results = evaluate_dir(CHAT)
    assert set(results) == {"items.jsonl", "compound.jsonl"}
    assert "exact_steps" in results["compound.jsonl"] and "scored" in results["items.jsonl"]
    assert {"text", "move", "count", "pose"} <= set(results["items.jsonl"]["per_category"])
    assert "items.jsonl" in format_report(results) and "pose" in format_report(results)


def test_the_everyday_chat_sets_are_planned_well():
    results = evaluate_dir(CHAT)
    assert results["items.jsonl"]["items"] >= 150 and results["compound.jsonl"]["items"] >= 40
    assert results["items.jsonl"]["category_accuracy"] >= 0.9
    assert results["compound.jsonl"]["exact_sequence"] >= 0.85

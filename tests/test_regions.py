"""Tests for agent/regions.py: where a step acts, run on the referring-expression set (tests/data/referring.toml).

Each item's step goes through `find_region` as the `locate` node sends it, on a painted scene with a
scripted finder (tests/referring.py); the labels say which objects it must act on, or that the user
must be asked.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

from chatedit.agent.config import EditSettings
from chatedit.agent.plan import Step
from chatedit.agent.regions import Ask, Found, NotFound, find_region
from chatedit.agent.rules import plan_rules
from tests.referring import Outcome, SceneToolbox, load, paint, run

SCENES, ITEMS = load()

KNOWN_MISSES = {
    "remove the apple between the red one and the yellow one": (
        "'between' two objects is not read, and 'the red one' would need the other apples' colours: the user is "
        "asked which apple, never given a wrong one"
    ),
    "remove the car at the end of the row": (
        "'at the end of the row' is not read, and five equally likely cars are more than a question offers "
        "(choose.MAX_CHOICES): the likeliest is taken, as for any target with that many"
    ),
}
"""Items the chooser gets wrong, with why. A fix removes its line (the test below fails until it does)."""


@lru_cache(maxsize=None)
def _outcome(index: int) -> Outcome:
    """Gives back what find_region does with the set's item `index` (each item is run once per test session)."""
    return run(ITEMS[index], SCENES)


def _label(item: dict) -> str:
    return f"{item['instruction']} [{item['scene']}{', llm' if item.get('planner') == 'llm' else ''}]"


def test_the_set_is_large_and_varied():
    assert len(ITEMS) >= 60
    assert len({item["instruction"] for item in ITEMS}) >= 60
    kinds = {item["expect"] if isinstance(item["expect"], str) else "pick" for item in ITEMS}
    assert kinds >= {"pick", "ask"}
    assert {item.get("planner", "rules") for item in ITEMS} == {"rules", "llm"}


@pytest.mark.parametrize("index", range(len(ITEMS)), ids=[_label(item) for item in ITEMS])
def test_each_referring_expression_acts_on_what_it_means(index):
    item, outcome = ITEMS[index], _outcome(index)
    if item["instruction"] in KNOWN_MISSES:
        assert not outcome.correct, f"fixed: remove it from KNOWN_MISSES ({KNOWN_MISSES[item['instruction']]})"
        return
    assert outcome.correct, f"expected {item['expect']}, got {outcome.got} (offered {outcome.offered})"


def test_the_detector_is_asked_for_bare_nouns_only():
    for index, item in enumerate(ITEMS):
        outcome = _outcome(index)
        nouns = {noun for obj in SCENES[item["scene"]]["objects"] for noun in obj["nouns"]}
        names = nouns | {f"{noun}s" for noun in nouns}
        assert outcome.phrases and set(outcome.phrases) <= names, (_label(item), outcome.phrases)


def test_accuracy_on_the_whole_set():
    outcomes = [_outcome(index) for index in range(len(ITEMS))]
    right = sum(outcome.correct for outcome in outcomes)
    assert right == len(ITEMS) - len(KNOWN_MISSES)
    assert right / len(ITEMS) >= 0.95


@pytest.mark.parametrize("item", [i for i in ITEMS if i.get("planner", "rules") == "rules"], ids=_label)
def test_the_rules_planner_still_makes_the_labelled_step(item):
    step = plan_rules(item["instruction"]).steps[item.get("step", 0)]
    assert (step.category, step.target) == (item["category"], item["target"])


def _scene_toolbox(name: str, **settings) -> SceneToolbox:
    return SceneToolbox(paint(SCENES[name]), settings=EditSettings(**settings))


def _step(target: str, instruction: str, category: str = "remove") -> dict:
    return Step(category=category, target=target, prompt=instruction, instruction=instruction).model_dump()


def test_a_qualifier_that_cannot_be_met_is_asked_about_with_the_reason():
    toolbox = _scene_toolbox("table_cups")
    found = find_region(
        _step("fifth cup", "remove the fifth cup"), toolbox.scene.image, toolbox, words="remove the fifth cup"
    )
    assert isinstance(found, Ask) and len(found.candidates) == 4
    assert found.question.startswith("I see only 4 cups, so none is the fifth. Which one should I edit (1: the one ")


def test_without_asking_a_qualifier_that_cannot_be_met_leaves_the_step_out_and_says_why():
    toolbox = _scene_toolbox("street", ask_when_ambiguous=False)
    words = "remove the green car"
    found = find_region(_step("green car", words), toolbox.scene.image, toolbox, words=words)
    assert isinstance(found, NotFound)
    assert found.message == "None of the cars I see looks green to me. I left that part unchanged."


def test_an_ambiguous_target_asks_in_the_same_words_as_before():
    toolbox = _scene_toolbox("two_lamps")
    found = find_region(_step("lamp", "remove the lamp"), toolbox.scene.image, toolbox, words="remove the lamp")
    assert isinstance(found, Ask)
    assert found.question == (
        "I see 2 lamps (1: the one on the left; 2: the one on the right). Which one should I edit? "
        "Answer with a number, 'the left one', or 'all'."
    )


def test_each_candidate_is_segmented_once_for_a_colour_and_the_region():
    toolbox = _scene_toolbox("street")
    calls = []
    segment = toolbox.segment_box

    def counted(image, box):
        calls.append(tuple(box))
        return segment(image, box)

    toolbox.segment_box = counted  # type: ignore[method-assign]
    found = find_region(_step("white car", "make the white car black", "local"), toolbox.scene.image, toolbox, words="")
    assert isinstance(found, Found)
    assert len(calls) == len(set(calls)) == 3


def test_a_users_pick_is_used_as_given():
    toolbox = _scene_toolbox("two_lamps")
    box = [30.0, 40.0, 80.0, 200.0]
    found = find_region(_step("lamp", "remove the lamp"), toolbox.scene.image, toolbox, choice=[box])
    assert isinstance(found, Found) and found.box == box and toolbox.phrases == []

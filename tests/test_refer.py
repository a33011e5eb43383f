"""Tests for agent/refer.py: what a target phrase asks the detector for, and the qualifiers that pick one."""

from __future__ import annotations

import pytest

from chatedit.agent.refer import describe, ordinal_word, parse
from chatedit.agent.reference import Order, Reference, Relation


@pytest.mark.parametrize(
    "phrase, expected",
    [
        ("cup", Reference("cup")),
        ("the coffee cup", Reference("coffee cup")),
        ("cup of coffee", Reference("cup of coffee")),
        ("the reflection of the photographer", Reference("reflection of the photographer")),
        ("wooden chair", Reference("wooden chair")),
        ("orange", Reference("orange")),
        ("red panda", Reference("red panda")),
        ("man's hat", Reference("man's hat")),
        # places, before and after the noun
        ("left man", Reference("man", places=("left",))),
        ("leftmost chair", Reference("chair", places=("left",))),
        ("left-most vase", Reference("vase", places=("left",))),
        ("man on the left", Reference("man", places=("left",))),
        ("cup on the far right", Reference("cup", places=("right",))),
        ("chair at the top left", Reference("chair", places=("top", "left"))),
        ("top-left chair", Reference("chair", places=("top", "left"))),
        ("lamp in the top right corner", Reference("lamp", places=("top", "right"))),
        ("person in the middle", Reference("person", places=("middle",))),
        ("plant in the background", Reference("plant", places=("back",))),
        ("plant in front", Reference("plant", places=("front",))),
        ("cup on the left of the picture", Reference("cup", places=("left",))),
        ("vase on the floor", Reference("vase", places=("bottom",))),
        # orders
        ("second cup", Reference("cup", order=Order(2))),
        ("2nd car from the right", Reference("car", order=Order(2, "right"))),
        ("third book from the top", Reference("book", order=Order(3, "top"))),
        ("last cup", Reference("cup", order=Order(-1))),
        ("second-to-last cup", Reference("cup", order=Order(-2))),
        ("penultimate cup", Reference("cup", order=Order(-2))),
        ("the next to last chair", Reference("chair", order=Order(-2))),
        # sizes
        ("biggest dog", Reference("dog", size="biggest")),
        ("smaller dog", Reference("dog", size="smallest")),
        ("tallest tree", Reference("tree", size="tallest")),
        ("shortest person", Reference("person", size="shortest")),
        ("nearest car", Reference("car", size="nearest")),
        ("closest plant", Reference("plant", size="nearest")),
        ("farthest boat", Reference("boat", size="farthest")),
        ("small bird at the top", Reference("bird", places=("top",), size="smallest")),
        # colours, also worn
        ("red car", Reference("car", colour="red")),
        ("dark blue car", Reference("car", colour="blue")),
        ("navy car", Reference("car", colour="blue")),
        ("silver car", Reference("car", colour="grey")),
        ("biggest red car", Reference("car", size="biggest", colour="red")),
        ("woman in red", Reference("woman", colour="red")),
        ("woman in the blue dress", Reference("woman", colour="blue", worn="whole")),
        ("man in the blue shirt", Reference("man", colour="blue", worn="upper")),
        ("guy wearing a yellow t-shirt", Reference("guy", colour="yellow", worn="upper")),
        ("man in blue jeans", Reference("man", colour="blue", worn="lower")),
        ("man with the red hat", Reference("man", colour="red", worn="head")),
        ("woman dressed in white", Reference("woman", colour="white")),
        # relations to another object
        ("cup next to the laptop", Reference("cup", relation=Relation("next to", "laptop"))),
        ("mug beside the laptop", Reference("mug", relation=Relation("next to", "laptop"))),
        ("bottle closest to the glass", Reference("bottle", relation=Relation("next to", "glass"))),
        ("boat farthest from the pier", Reference("boat", relation=Relation("far from", "pier"))),
        ("car behind the bus", Reference("car", relation=Relation("behind", "bus"))),
        ("car in front of the bus", Reference("car", relation=Relation("in front of", "bus"))),
        ("bottle left of the glass", Reference("bottle", relation=Relation("left of", "glass"))),
        ("cup to the right of the big laptop", Reference("cup", relation=Relation("right of", "laptop"))),
        ("dog on the sofa", Reference("dog", relation=Relation("on", "sofa"))),
        ("dog that is on the couch", Reference("dog", relation=Relation("on", "couch"))),
        ("person sitting on the bench", Reference("person", relation=Relation("on", "bench"))),
        ("cat under the table", Reference("cat", relation=Relation("below", "table"))),
        ("man holding the umbrella", Reference("man", relation=Relation("holding", "umbrella"))),
        ("man with the umbrella", Reference("man", relation=Relation("holding", "umbrella"))),
        ("man with a hat", Reference("man", relation=Relation("holding", "hat"))),
        ("man without the umbrella", Reference("man", relation=Relation("without", "umbrella"))),
        ("dog in the car", Reference("dog", relation=Relation("in", "car"))),
        # how many
        ("cups", Reference("cups", every=True)),
        ("all the cups", Reference("cups", every=True)),
        ("both dogs", Reference("dogs", every=True)),
        ("every apple", Reference("apple", every=True)),
        ("people", Reference("people", every=True)),
        ("glass", Reference("glass")),
        ("bus", Reference("bus")),
        ("red cars", Reference("cars", colour="red", every=True)),
        ("two cups on the left", Reference("cups", places=("left",), count=2)),
        # no noun: an answer to "which one?"
        ("the left one", Reference("", places=("left",))),
        ("the second", Reference("", order=Order(2))),
        ("the ones at the back", Reference("", places=("back",), every=True)),
    ],
)
def test_parse_splits_the_noun_from_its_qualifiers(phrase, expected):
    assert parse(phrase) == expected


def test_the_detector_is_asked_for_the_noun_and_the_other_object():
    assert parse("second cup from the right").phrases == ["cup"]
    assert parse("cup next to the laptop").phrases == ["cup", "laptop"]
    assert parse("cup next to the other cup").phrases == ["cup"]


def test_qualified_says_whether_anything_besides_the_noun_picks():
    assert not parse("dog").qualified
    assert not parse("both dogs").qualified
    for phrase in ("left dog", "second dog", "biggest dog", "brown dog", "dog on the sofa", "two dogs"):
        assert parse(phrase).qualified, phrase


@pytest.mark.parametrize(
    "target, instruction, category, expected",
    [
        # The planner left the qualifiers out of its target; the instruction has them.
        (
            "cup",
            "remove the cup next to the laptop",
            "remove",
            Reference("cup", relation=Relation("next to", "laptop")),
        ),
        ("second cup", "remove the second cup from the right", "remove", Reference("cup", order=Order(2, "right"))),
        ("woman", "make the woman in red wear a hat", "local", Reference("woman", colour="red")),
        ("man", "make the man in the blue shirt smile", "pose", Reference("man", colour="blue", worn="upper")),
        ("plant", "remove the plant in the background", "remove", Reference("plant", places=("back",))),
        ("left cups", "remove the two cups on the left", "remove", Reference("cups", places=("left",), count=2)),
        ("apple", "remove every apple", "remove", Reference("apple", every=True)),
        (
            "cup",
            "i want the cup next to the laptop gone",
            "remove",
            Reference("cup", relation=Relation("next to", "laptop")),
        ),
        # The object of the relation ends at the new look or at the verb that follows it.
        ("dog", "make the dog on the sofa brown", "local", Reference("dog", relation=Relation("on", "sofa"))),
        (
            "woman",
            "make the woman next to the man wear a hat",
            "local",
            Reference("woman", relation=Relation("next to", "man")),
        ),
        # A replacement's "with" names the new object, not a relation.
        (
            "car",
            "replace the car behind the bus with a truck",
            "replace",
            Reference("car", relation=Relation("behind", "bus")),
        ),
        ("man", "replace the man with a statue", "replace", Reference("man")),
        # A move's destination is where it goes, not which one.
        ("lamp", "move the lamp to the left", "move", Reference("lamp")),
        ("cup", "move the cup next to the laptop", "move", Reference("cup")),
        ("lamp", "move the lamp closer to the sofa", "move", Reference("lamp")),
        ("man", "move the man on the left to the right", "move", Reference("man", places=("left",))),
        ("cup", "move the cup on the table to the shelf", "move", Reference("cup", relation=Relation("on", "table"))),
        ("cup", "move the red cup a bit left", "move", Reference("cup", colour="red")),
        # A colour said last in a local or text edit is the new look; a verb after it makes it a description.
        ("goose", "dress the goose in black", "local", Reference("goose")),
        ("sofa", "i want the sofa in green velvet", "local", Reference("sofa")),
        ("woman", "make the woman in red wear a hat", "local", Reference("woman", colour="red")),
        ("car", "make the car in red blue", "local", Reference("car", colour="red")),
        ("woman", "make the woman in red smile", "pose", Reference("woman", colour="red")),
        ("car", "replace the car in red with a truck", "replace", Reference("car", colour="red")),
        ("poster", "replace the words on the poster with 'sale'", "text", Reference("poster")),
        # A count edit's numbers are what it makes, not which ones.
        ("apples", "make it three apples instead of one", "count", Reference("apples", every=True)),
        ("birds", "only two birds please, not four", "count", Reference("birds", every=True)),
        # What an object stands on places one object, not all of them.
        ("vase", "remove the vase on the floor", "remove", Reference("vase", places=("bottom",))),
        ("leaves", "clear the leaves on the ground", "remove", Reference("leaves", every=True)),
        # The other object of "on the person's back" is the person.
        (
            "backpack",
            "delete the backpack on the person's back",
            "remove",
            Reference("backpack", relation=Relation("on", "person")),
        ),
        # The target keeps what the instruction does not say again (a pronoun resolved, another step's words).
        ("left cup", "make it blue", "local", Reference("cup", places=("left",))),
        ("cup", "remove the cup", "remove", Reference("cup")),
        # The planner's target stands when the instruction says nothing more of it.
        ("right lamp", "move the lamp on the right", "move", Reference("lamp", places=("right",))),
        # Only qualifiers: the detector gets the words as they are.
        ("in front", "remove the one in front", "remove", Reference("in front", places=("front",))),
    ],
)
def test_describe_reads_the_instruction_around_the_target(target, instruction, category, expected):
    assert describe(target, instruction, category) == expected


def test_ordinal_word_says_an_order_as_a_person_would():
    assert [ordinal_word(n) for n in (1, 2, 3, -1, -2, 12)] == [
        "first",
        "second",
        "third",
        "last",
        "second to last",
        "number 12",
    ]


def test_a_replacements_own_words_say_nothing_of_the_target():
    instruction = "replace the cup with a golden teapot with pink flowers, warm light and steam rising"
    prompt = "a golden teapot with pink flowers, warm light and steam rising"
    reference = describe("cup", instruction, "replace", prompt)
    assert reference.noun == "cup" and reference.colour is None and not reference.qualified
    # The target's own words still count.
    assert describe("cup", "replace the red cup with a golden teapot", "replace", "a golden teapot").colour == "red"

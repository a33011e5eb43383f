"""Tests for agent/choose.py: which of several detections the words mean, and when to ask."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pytest
from PIL import Image

from chatedit.agent import choose
from chatedit.agent.refer import parse
from chatedit.agent.reference import Order, Reference, Relation
from chatedit.tools.detect import Detection

SIZE = (300, 200)


def det(box, score=0.8, label="thing") -> Detection:
    return Detection(label, tuple(float(v) for v in box), score)


def picture(painted: Optional[dict[tuple, tuple]] = None) -> Image.Image:
    """Gives back a grey picture with each box painted a colour."""
    pixels = np.full((SIZE[1], SIZE[0], 3), 128, np.uint8)
    for box, colour in (painted or {}).items():
        x0, y0, x1, y1 = box
        pixels[y0:y1, x0:x1] = colour
    return Image.fromarray(pixels)


def boxes(choice: choose.Choice) -> list[tuple]:
    return [tuple(int(v) for v in d.box) for d in choice.picked]


def offered(choice: choose.Choice) -> list[tuple]:
    return [tuple(int(v) for v in d.box) for d in choice.offer]


def finds(*boxes) -> choose.Find:
    """Gives back a finder that finds the boxes, whatever it is asked for."""
    return lambda noun: [det(box, label=noun) for box in boxes]


ROW = [(10, 80, 50, 120), (80, 80, 120, 120), (150, 80, 190, 120), (220, 80, 260, 120)]
"""Four equal boxes in a row, left to right."""


def test_equally_likely_candidates_and_no_qualifier_ask():
    choice = choose.choose(parse("cup"), [det(b) for b in ROW[:2]], picture())
    assert not choice.picked and offered(choice) == ROW[:2] and choice.reason == ""


def test_without_asking_the_likeliest_is_taken():
    detections = [det(ROW[0], 0.8), det(ROW[1], 0.75)]
    assert boxes(choose.choose(parse("cup"), detections, picture(), ask=False)) == [ROW[0]]


def test_more_equally_likely_candidates_than_a_question_offers_take_the_likeliest():
    detections = [det((i * 30, 10, i * 30 + 20, 30), 0.8 - i * 0.01) for i in range(6)]
    assert boxes(choose.choose(parse("bird"), detections, picture())) == [(0, 10, 20, 30)]


def test_a_much_less_likely_detection_is_no_contender_without_qualifiers():
    detections = [det(ROW[0], 0.85), det(ROW[3], 0.5)]
    assert boxes(choose.choose(parse("dog"), detections, picture())) == [ROW[0]]


def test_with_a_qualifier_a_less_likely_detection_may_be_the_one_meant():
    detections = [det(ROW[0], 0.85), det(ROW[3], 0.5)]
    assert boxes(choose.choose(parse("dog on the right"), detections, picture())) == [ROW[3]]


def test_a_far_less_likely_detection_is_no_candidate_even_with_a_qualifier():
    detections = [det(ROW[0], 0.85), det(ROW[3], 0.3)]
    assert boxes(choose.choose(parse("dog on the right"), detections, picture())) == [ROW[0]]


@pytest.mark.parametrize(
    "phrase, index",
    [
        ("left cup", 0),
        ("rightmost cup", 3),
        ("second cup", 1),
        ("second cup from the right", 2),
        ("third cup from the left", 2),
        ("last cup", 3),
        ("second to last cup", 2),
        ("first cup", 0),
    ],
)
def test_places_and_orders_along_a_row(phrase, index):
    detections = [det(b) for b in reversed(ROW)]
    assert boxes(choose.choose(parse(phrase), detections, picture())) == [ROW[index]]


def test_an_order_past_the_end_of_the_row_asks_and_says_why():
    choice = choose.choose(parse("fifth cup"), [det(b) for b in ROW], picture())
    assert not choice.picked and offered(choice) == ROW
    assert choice.reason == "I see only 4 cups, so none is the fifth."


def test_an_order_past_the_end_says_so_without_asking():
    choice = choose.choose(parse("third cup from the right"), [det(b) for b in ROW[:2]], picture(), ask=False)
    assert not choice.picked and not choice.offer
    assert choice.reason == "I see only 2 cups, so none is the third from the right."


def test_one_candidate_cannot_be_the_second():
    choice = choose.choose(parse("second cup"), [det(ROW[0])], picture())
    assert not choice.picked and not choice.offer and choice.reason == "I see only one cup, so none is the second."


def test_qualifiers_never_turn_down_the_only_candidate():
    for phrase in ("cup on the left", "biggest cup", "green cup", "cup next to the laptop", "first cup"):
        assert boxes(choose.choose(parse(phrase), [det(ROW[3])], picture())) == [ROW[3]], phrase


def test_a_stack_is_counted_from_the_top():
    stack = [(100, 10, 200, 40), (100, 50, 200, 80), (100, 90, 200, 120)]
    detections = [det(b) for b in stack]
    assert boxes(choose.choose(parse("second book"), detections, picture())) == [stack[1]]
    assert boxes(choose.choose(parse("top book"), detections, picture())) == [stack[0]]
    assert boxes(choose.choose(parse("last book"), detections, picture())) == [stack[2]]


def test_two_candidates_as_far_to_one_side_tie_and_ask_between_them():
    grid = [(10, 10, 50, 50), (200, 10, 240, 50), (10, 120, 50, 160), (200, 120, 240, 160)]
    detections = [det(b) for b in grid]
    choice = choose.choose(parse("left chair"), detections, picture())
    assert not choice.picked and offered(choice) == [grid[0], grid[2]]
    assert boxes(choose.choose(parse("top left chair"), detections, picture())) == [grid[0]]
    assert boxes(choose.choose(parse("bottom right chair"), detections, picture())) == [grid[3]]
    assert sorted(boxes(choose.choose(parse("chairs on the right"), detections, picture()))) == [grid[1], grid[3]]


def test_middle_is_the_middle_of_an_odd_row_and_a_question_in_an_even_one():
    three = [det(b) for b in ROW[:3]]
    assert boxes(choose.choose(parse("middle cup"), three, picture())) == [ROW[1]]
    choice = choose.choose(parse("middle cup"), [det(b) for b in ROW], picture())
    assert not choice.picked and offered(choice) == [ROW[1], ROW[2]]


def test_a_count_with_a_place_takes_that_many_from_that_side():
    detections = [det(b) for b in ROW]
    assert boxes(choose.choose(parse("two cups on the left"), detections, picture())) == [ROW[0], ROW[1]]
    assert sorted(boxes(choose.choose(parse("two rightmost cups"), detections, picture()))) == [ROW[2], ROW[3]]


def test_every_instance_when_all_are_meant():
    detections = [det(b) for b in ROW]
    assert sorted(boxes(choose.choose(parse("all the cups"), detections, picture()))) == ROW
    assert sorted(boxes(choose.choose(parse("cups"), detections, picture()))) == ROW


@pytest.mark.parametrize(
    "phrase, index",
    [("biggest tree", 1), ("smallest tree", 0), ("tallest tree", 2), ("shortest tree", 0), ("widest tree", 1)],
)
def test_sizes(phrase, index):
    trees = [(10, 150, 30, 170), (60, 100, 160, 170), (200, 20, 230, 170)]
    assert boxes(choose.choose(parse(phrase), [det(b) for b in trees], picture())) == [trees[index]]


def test_sizes_within_a_few_percent_are_equal():
    similar = [(10, 10, 60, 60), (100, 10, 151, 60)]
    choice = choose.choose(parse("biggest box"), [det(b) for b in similar], picture())
    assert not choice.picked and len(choice.offer) == 2


def test_nearer_is_lower_and_bigger():
    far, near = (200, 40, 230, 70), (20, 110, 100, 195)
    detections = [det(far), det(near)]
    assert boxes(choose.choose(parse("nearest plant"), detections, picture())) == [near]
    assert boxes(choose.choose(parse("plant in front"), detections, picture())) == [near]
    assert boxes(choose.choose(parse("plant at the back"), detections, picture())) == [far]
    assert boxes(choose.choose(parse("farthest plant"), detections, picture())) == [far]


RED, BLUE, GREEN = (190, 30, 30), (30, 60, 190), (40, 150, 60)


def test_a_colour_picks_the_candidate_of_that_colour():
    image = picture({ROW[0]: RED, ROW[1]: BLUE, ROW[2]: GREEN})
    detections = [det(b) for b in ROW[:3]]
    assert boxes(choose.choose(parse("blue car"), detections, image)) == [ROW[1]]
    assert boxes(choose.choose(parse("car in green"), detections, image)) == [ROW[2]]


def test_a_colour_no_candidate_has_asks_and_says_why():
    image = picture({ROW[0]: RED, ROW[1]: BLUE})
    choice = choose.choose(parse("yellow car"), [det(b) for b in ROW[:2]], image)
    assert not choice.picked and len(choice.offer) == 2
    assert choice.reason == "None of the cars I see looks yellow to me."


def test_two_of_the_colour_are_asked_about_unless_all_or_a_size_is_meant():
    detections = [det(ROW[0]), det(ROW[1]), det((150, 60, 200, 120))]
    image = picture({ROW[0]: RED, ROW[1]: (20, 20, 20), (150, 60, 200, 120): RED})
    choice = choose.choose(parse("red car"), detections, image)
    assert not choice.picked and offered(choice) == [ROW[0], (150, 60, 200, 120)] and choice.reason == ""
    assert sorted(boxes(choose.choose(parse("red cars"), detections, image))) == [ROW[0], (150, 60, 200, 120)]
    assert boxes(choose.choose(parse("biggest red car"), detections, image)) == [(150, 60, 200, 120)]


def test_the_colour_is_read_inside_the_mask_when_there_is_one():
    image = picture({(10, 80, 50, 120): RED, (80, 80, 120, 120): BLUE})
    # The second box's mask covers only red pixels (say its object is red and stands in front of blue).
    red_mask = np.zeros((SIZE[1], SIZE[0]), bool)
    red_mask[80:120, 10:50] = True
    detections = [det((80, 80, 120, 120)), det((0, 70, 60, 130))]
    masks = {detections[1].box: red_mask}
    choice = choose.choose(parse("red vase"), detections, image, mask_of=lambda d: masks.get(d.box))
    assert boxes(choice) == [(0, 70, 60, 130)]


def test_a_garment_colour_is_read_where_it_is_worn():
    # Two people: blue shirt over black trousers, yellow shirt over blue jeans.
    left, right = (20, 20, 80, 200), (180, 20, 240, 200)
    painted = {
        (20, 45, 80, 110): BLUE,
        (20, 110, 80, 200): (25, 25, 25),
        (180, 45, 240, 110): (230, 195, 40),
        (180, 110, 240, 200): (40, 58, 110),
    }
    image = picture(painted)
    detections = [det(left), det(right)]
    assert boxes(choose.choose(parse("man in the blue shirt"), detections, image)) == [left]
    assert boxes(choose.choose(parse("man in blue jeans"), detections, image)) == [right]


LAPTOP = (120, 60, 180, 120)


def test_next_to_is_the_smallest_gap():
    cups = [det((20, 80, 50, 120)), det((90, 80, 115, 120)), det((200, 80, 230, 120))]
    choice = choose.choose(parse("cup next to the laptop"), cups, picture(), find=finds(LAPTOP))
    assert boxes(choice) == [(90, 80, 115, 120)]


def test_left_of_is_the_nearest_on_that_side():
    cups = [det((10, 80, 40, 120)), det((80, 80, 110, 120)), det((200, 80, 230, 120)), det((260, 80, 290, 120))]
    laptop = finds(LAPTOP)
    assert boxes(choose.choose(parse("cup left of the laptop"), cups, picture(), find=laptop)) == [(80, 80, 110, 120)]
    assert boxes(choose.choose(parse("cup to the right of the laptop"), cups, picture(), find=laptop)) == [
        (200, 80, 230, 120)
    ]


def test_the_other_object_is_looked_for_only_when_the_relation_must_choose():
    asked: list[str] = []

    def find(noun: str) -> list[Detection]:
        asked.append(noun)
        return [det(LAPTOP, label=noun)]

    image = picture({ROW[0]: RED, ROW[1]: BLUE})
    choose.choose(parse("cup next to the laptop"), [det(ROW[0])], image, find=find)
    choose.choose(parse("red cup next to the laptop"), [det(ROW[0]), det(ROW[1])], image, find=find)
    assert asked == []
    choose.choose(parse("cup next to the laptop"), [det(ROW[0]), det(ROW[1])], image, find=find)
    assert asked == ["laptop"]


def test_a_relation_to_an_object_not_found_asks_and_says_why():
    cups = [det(ROW[0]), det(ROW[1])]
    choice = choose.choose(parse("cup next to the laptop"), cups, picture(), find=finds())
    assert not choice.picked and len(choice.offer) == 2
    assert choice.reason == "I could not find the laptop to tell which cup is meant."


def test_a_relation_that_holds_for_none_asks_and_says_why():
    cups = [det((10, 150, 40, 190)), det((250, 150, 280, 190))]
    choice = choose.choose(parse("cup on the shelf"), cups, picture(), find=finds((100, 20, 200, 40)))
    assert not choice.picked and choice.reason == "None of the cups I see is on the shelf."


def test_behind_and_in_front_of_read_depth_from_the_bottom_edges():
    bus = (100, 60, 220, 160)
    behind, beside, front = (180, 40, 260, 90), (10, 100, 95, 160), (120, 140, 200, 195)
    cars = [det(behind), det(beside), det(front)]
    assert boxes(choose.choose(parse("car behind the bus"), cars, picture(), find=finds(bus))) == [behind]
    assert boxes(choose.choose(parse("car in front of the bus"), cars, picture(), find=finds(bus))) == [front]
    assert boxes(choose.choose(parse("car left of the bus"), cars, picture(), find=finds(bus))) == [beside]


def test_on_and_under():
    table = (80, 80, 220, 130)
    on, under = (120, 40, 170, 80), (130, 140, 180, 190)
    cats = [det(on), det(under)]
    assert boxes(choose.choose(parse("cat on the table"), cats, picture(), find=finds(table))) == [on]
    assert boxes(choose.choose(parse("cat under the table"), cats, picture(), find=finds(table))) == [under]


def test_holding_and_without_read_the_overlap_with_the_other():
    umbrella = (20, 10, 110, 60)
    holder, other = (40, 50, 90, 190), (200, 50, 250, 190)
    people = [det(holder), det(other)]
    assert boxes(choose.choose(parse("man holding the umbrella"), people, picture(), find=finds(umbrella))) == [holder]
    assert boxes(choose.choose(parse("man without the umbrella"), people, picture(), find=finds(umbrella))) == [other]


def test_a_relation_to_the_same_kind_of_object_leaves_the_candidate_itself_out():
    cups = [det((10, 80, 40, 120)), det((60, 80, 90, 120)), det((250, 80, 280, 120))]
    choice = choose.choose(parse("cup next to the other cup"), cups, picture(), find=lambda noun: cups)
    assert not choice.picked and offered(choice) == [(10, 80, 40, 120), (60, 80, 90, 120)]


def test_relation_fit_says_none_where_the_relation_does_not_hold():
    left, right = (10, 10, 40, 40), (100, 10, 130, 40)
    assert choose.relation_fit("left of", left, [right], SIZE) is not None
    assert choose.relation_fit("left of", right, [left], SIZE) is None
    assert choose.relation_fit("right of", right, [left], SIZE) is not None
    assert choose.relation_fit("above", left, [right], SIZE) is None
    assert choose.relation_fit("in", (20, 20, 30, 30), [left], SIZE) == pytest.approx(1.0)
    assert choose.relation_fit("next to", left, [], SIZE) is None


@pytest.mark.parametrize(
    "answer, expected",
    [("the left one", [0]), ("the right one", [2]), ("the second", [1]), ("the biggest", [2]), ("hmm", None)],
)
def test_select_reads_an_answer_to_which_one(answer, expected):
    candidates = [det((10, 80, 40, 120)), det((100, 80, 130, 120)), det((200, 60, 260, 140))]
    assert choose.select(answer, candidates) == expected


def test_parse_choice_reads_numbers_and_all():
    assert choose.parse_choice("2", 3) == [1]
    assert choose.parse_choice("number 1 and 3", 3) == [0, 2]
    assert choose.parse_choice("both", 2) == [0, 1]
    assert choose.parse_choice("7", 3) is None


def test_the_question_describes_where_each_candidate_is():
    candidates = [det((10, 10, 40, 40)), det((130, 80, 170, 120)), det((250, 160, 290, 195))]
    assert choose.describe(candidates, *SIZE) == ["at the top left", "in the middle", "at the bottom right"]


def test_plural_for_a_sentence():
    assert [choose.plural(n) for n in ("cup", "cups", "women", "")] == ["cups", "cups", "women", "ones"]


def test_reference_fields_can_be_given_directly():
    reference = Reference("cup", order=Order(1, "right"), relation=Relation("next to", "laptop"))
    cups = [det((10, 80, 40, 120)), det((200, 80, 230, 120))]
    assert boxes(choose.choose(reference, cups, picture(), find=finds(LAPTOP))) == [(200, 80, 230, 120)]


def test_words_that_no_candidate_meets_among_too_many_to_list_edit_nothing_and_say_why():
    detections = [det((i * 30, 10, i * 30 + 20, 30), 0.8) for i in range(6)]
    choice = choose.choose(parse("yellow bird"), detections, picture())
    assert not choice.picked and not choice.offer and "yellow" in choice.reason

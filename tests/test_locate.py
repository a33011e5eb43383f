"""Tests for tools/locate.py: VLM boxes, placing a new object, its mask, the background mask."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from chatedit.tools import locate, masks, sizes
from chatedit.tools.errors import InputError
from chatedit.tools.locate import parse_box, place_object

WIDTH, HEIGHT = 640, 480
TABLE = (100, 250, 500, 450)
CAT = (380, 260, 520, 400)


def overlap(a, b):
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def inside_image(box, width, height):
    x0, y0, x1, y1 = box
    return 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height and all(isinstance(v, int) for v in box)


# parse_box


def test_parse_box_reads_pixels_and_fractions():
    assert parse_box([10, 20, 300, 400], WIDTH, HEIGHT) == (10, 20, 300, 400)
    assert parse_box([0.1, 0.25, 0.5, 1.0], WIDTH, HEIGHT) == (64, 120, 320, 480)
    assert parse_box(np.array([10.4, 20.6, 300.5, 399.5]), WIDTH, HEIGHT) == (10, 21, 301, 400)
    assert parse_box("[0.1, 0.25, 0.5, 1.0]", WIDTH, HEIGHT) == (64, 120, 320, 480)


def test_parse_box_swaps_reversed_corners_and_clamps():
    assert parse_box([300, 400, 10, 20], WIDTH, HEIGHT) == (10, 20, 300, 400)
    assert parse_box([-50, -5, 900, 700], WIDTH, HEIGHT) == (0, 0, WIDTH, HEIGHT)
    assert parse_box([600, 10, 1200, 40], WIDTH, HEIGHT) == (600, 10, WIDTH, 40)


@pytest.mark.parametrize(
    "box, words",
    [
        ([10, 10, 10, 50], "covers only 0x40"),
        ([10, 10, 13, 50], "at least 4 pixels"),
        ([700, 10, 900, 50], "covers only 0x40"),
        ([0, 0, 0, 0], "covers only 0x0"),
        ([10, float("nan"), 50, 50], "not a finite number"),
        ([10, 10, float("inf"), 50], "not a finite number"),
        ([10, 10, 50], "got 3 numbers"),
        ("no numbers here", "got 0 numbers"),
        (None, "four numbers"),
        (["a", 1, 2, 3], "four numbers"),
    ],
)
def test_parse_box_refuses_degenerate_boxes_with_a_clear_sentence(box, words):
    with pytest.raises(InputError, match=words):
        parse_box(box, WIDTH, HEIGHT)


# size priors and relations


def test_object_kind_reads_the_noun_of_a_phrase():
    assert sizes.object_kind("two red cars") == "car"
    assert sizes.object_kind("a dog with a hat") == "dog"
    assert sizes.object_kind("a cup of coffee") == "cup"
    assert sizes.object_kind("a hot air balloon") == "hot air balloon"
    assert sizes.object_kind("a wooden table lamp") == "lamp"
    assert sizes.object_kind("a puppy") == "dog"
    assert sizes.object_kind("a glowing orb") is None
    assert sizes.size_prior("a glowing orb") == sizes.MEDIUM


@pytest.mark.parametrize(
    "text, relation",
    [
        ("on top of", "on"),
        ("To the left of", "left of"),
        ("beside", "next to"),
        ("underneath", "under"),
        ("in the sky", "in the sky"),
        ("in front of", "in front of"),
        ("hovering around", "near"),
        (None, None),
    ],
)
def test_normalise_relation(text, relation):
    assert locate.normalise_relation(text) == relation


# place_object


@pytest.mark.parametrize("table", [TABLE, (0, 60, 300, 200), (350, 5, 630, 300), (40, 300, 620, 478)])
@pytest.mark.parametrize(
    "name, anchor_name", [("a cup", None), ("a cup", "table"), ("a vase", "table"), ("a cat", None)]
)
@pytest.mark.parametrize("relation", ["on", "on top of"])
def test_on_the_table_stands_on_the_top_part_of_the_table(table, name, anchor_name, relation):
    box = place_object((WIDTH, HEIGHT), name, relation, table, anchor_name=anchor_name)
    x0, _, x1, y1 = box
    assert table[0] <= x0 < x1 <= table[2]
    assert table[1] <= y1 <= table[1] + (table[3] - table[1]) / 2
    assert inside_image(box, WIDTH, HEIGHT)


def test_a_cup_on_a_table_is_small_and_a_car_in_the_street_is_large():
    cup = place_object((WIDTH, HEIGHT), "a cup", "on", TABLE, anchor_name="table")
    table_width = TABLE[2] - TABLE[0]
    assert (cup[2] - cup[0]) < 0.2 * table_width
    car = place_object((WIDTH, HEIGHT), "a car", "on the ground", None)
    bird = place_object((WIDTH, HEIGHT), "a bird", "in the sky", None)
    assert (car[2] - car[0]) > 0.4 * HEIGHT
    assert (bird[2] - bird[0]) < 0.25 * HEIGHT
    person = place_object((WIDTH, HEIGHT), "a person", "next to", (20, 300, 320, 440), anchor_name="car")
    assert (person[3] - person[1]) > (person[2] - person[0])  # a person is tall
    assert (person[3] - person[1]) < 300  # and shorter than the car is long


@pytest.mark.parametrize("name", ["a dog", "a cup", "a person", "a lamp"])
def test_left_of_the_cat_lands_left_of_the_cat(name):
    box = place_object((WIDTH, HEIGHT), name, "left of", CAT)
    assert box[2] <= CAT[0]
    assert inside_image(box, WIDTH, HEIGHT)
    right = place_object((WIDTH, HEIGHT), name, "to the right of", (60, 260, 200, 400))
    assert right[0] >= 200


def test_above_below_under_in_keep_their_side_of_the_anchor():
    anchor = (200, 150, 400, 330)
    above = place_object((WIDTH, HEIGHT), "a bird", "above", anchor)
    below = place_object((WIDTH, HEIGHT), "a ball", "below", anchor)
    under = place_object((WIDTH, HEIGHT), "a cat", "under", anchor, anchor_name="table")
    inner = place_object((WIDTH, HEIGHT), "a flower", "in", anchor, anchor_name="vase")
    assert above[3] <= anchor[1]
    assert below[1] >= anchor[3]
    assert under[3] == anchor[3] and anchor[0] <= under[0] < under[2] <= anchor[2]
    assert anchor[0] <= inner[0] < inner[2] <= anchor[2] and anchor[1] <= inner[1] < inner[3] <= anchor[3]


def test_next_to_goes_to_the_side_with_room():
    near_left_edge = (10, 200, 150, 400)
    box = place_object((WIDTH, HEIGHT), "a dog", "next to", near_left_edge)
    assert box[0] >= near_left_edge[2]
    near_right_edge = (490, 200, 630, 400)
    box = place_object((WIDTH, HEIGHT), "a dog", "beside", near_right_edge)
    assert box[2] <= near_right_edge[0]


def test_in_front_is_lower_and_behind_is_higher_than_the_anchor():
    anchor = (220, 150, 420, 380)
    front = place_object((WIDTH, HEIGHT), "a dog", "in front of", anchor, anchor_name="dog")
    back = place_object((WIDTH, HEIGHT), "a dog", "behind", anchor, anchor_name="dog")
    assert front[3] > anchor[3] > back[3]
    assert (front[2] - front[0]) > (back[2] - back[0])


@pytest.mark.parametrize("size", [(640, 480), (480, 640), (601, 403), (64, 64)])
def test_in_the_sky_lands_in_the_top_band(size):
    width, height = size
    for name in ("a bird", "the sun", "a plane", "a cup"):
        box = place_object(size, name, "in the sky", None)
        assert box[3] <= locate.SKY_BAND * height + 1
        assert inside_image(box, width, height)
    assert place_object(size, "a bird", None, None)[3] <= locate.SKY_BAND * height + 1


def test_on_the_ground_lands_in_the_bottom_band():
    for name in ("a dog", "a car", "a rock"):
        box = place_object((WIDTH, HEIGHT), name, "on the ground", None)
        assert box[3] >= locate.GROUND_BAND * HEIGHT


def test_avoids_an_obstacle_when_there_is_room():
    plate = (260, 230, 340, 330)  # right where a cup on the table would go
    crowded = place_object((WIDTH, HEIGHT), "a cup", "on", TABLE, [plate], anchor_name="table")
    assert overlap(crowded, plate) == 0
    assert TABLE[0] <= crowded[0] and crowded[2] <= TABLE[2]
    dog = (250, 300, 330, 400)
    beside = place_object((WIDTH, HEIGHT), "a cat", "left of", CAT, [dog])
    assert overlap(beside, dog) == 0 and beside[2] <= CAT[0]
    # Without an anchor, the free region is found around several objects.
    people = [(0, 100, 200, 480), (220, 120, 420, 480)]
    free = place_object((WIDTH, HEIGHT), "a dog", None, None, people)
    assert all(overlap(free, person) == 0 for person in people)
    assert free[0] >= 420


def test_an_obstacle_matching_the_anchor_is_not_avoided():
    box = place_object((WIDTH, HEIGHT), "a cup", "on", TABLE, [TABLE], anchor_name="table")
    assert box == place_object((WIDTH, HEIGHT), "a cup", "on", TABLE, anchor_name="table")


def test_place_object_refuses_an_anchor_outside_the_image():
    with pytest.raises(InputError, match="anchor"):
        place_object((WIDTH, HEIGHT), "a cup", "on", (700, 10, 800, 50))


def test_boxes_never_leave_the_image_and_are_deterministic():
    rng = np.random.default_rng(7)
    names = ["a cup", "a person", "a car", "a bird", "the sun", "a bus", "a glowing orb", "a tree", None]
    relations = list(locate.RELATIONS) + [None, "to the left of", "somewhere odd"]
    for _ in range(400):
        width, height = int(rng.integers(16, 1500)), int(rng.integers(16, 1500))
        x = np.sort(rng.uniform(-0.2, 1.2, 2)) * width
        y = np.sort(rng.uniform(-0.2, 1.2, 2)) * height
        anchor = None
        if rng.random() < 0.85 and min(x[1], width) - max(x[0], 0) >= 1 and min(y[1], height) - max(y[0], 0) >= 1:
            anchor = (x[0], y[0], x[1], y[1])
        obstacles = [tuple(rng.uniform(0, 1, 4) * (width, height, width, height)) for _ in range(rng.integers(0, 4))]
        name = names[rng.integers(len(names))]
        relation = relations[rng.integers(len(relations))]
        anchor_name = ["table", "car", None][rng.integers(3)]
        box = place_object((width, height), name, relation, anchor, obstacles, anchor_name=anchor_name)
        assert inside_image(box, width, height), (width, height, name, relation, anchor, box)
        assert box == place_object((width, height), name, relation, anchor, obstacles, anchor_name=anchor_name)


# add_mask and background_mask


def test_add_mask_is_an_ellipse_inside_the_box():
    box = place_object((601, 403), "a dog", "on the ground", None)
    mask = locate.add_mask((601, 403), box)
    assert mask.shape == (403, 601) and mask.dtype == bool
    assert masks.bbox(mask) == box
    assert not mask[box[1], box[0]]  # the corners are left to the background
    assert masks.area(mask) > 0.7 * (box[2] - box[0]) * (box[3] - box[1])


def test_add_mask_clamps_and_refuses_a_box_outside():
    mask = locate.add_mask((100, 80), (60, 50, 140, 120))
    assert mask.shape == (80, 100) and masks.bbox(mask) == (60, 50, 100, 80)
    with pytest.raises(InputError):
        locate.add_mask((100, 80), (200, 200, 300, 300))


def test_background_mask_stays_off_the_subjects_border():
    subject = np.zeros((403, 601), dtype=bool)
    subject[100:300, 200:400] = True
    subject[300:, 280:320] = True  # legs touching the bottom border
    background = locate.background_mask(subject, erode_px=6)
    distance = ndimage.distance_transform_edt(~subject)
    assert not background[distance <= 6].any()
    assert background[distance > 6].all()
    default = locate.background_mask(subject)
    assert not (default & subject).any()
    assert not default[distance <= 2].any() and default[distance > 12].all()


def test_background_mask_refuses_empty_and_whole_image_subjects():
    with pytest.raises(InputError, match="subject"):
        locate.background_mask(np.zeros((20, 20), bool))
    with pytest.raises(InputError, match="whole image"):
        locate.background_mask(np.ones((20, 20), bool))

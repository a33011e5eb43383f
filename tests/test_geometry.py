import pytest

from chatedit.tools.detect import Detection
from chatedit.tools.geometry import box_area, box_iou, intersection, non_max_suppression


def test_box_area_and_intersection():
    assert box_area((2, 3, 12, 8)) == 50
    assert box_area((5, 5, 5, 9)) == 0
    assert intersection((0, 0, 10, 10), (5, 5, 20, 20)) == 25
    assert intersection((0, 0, 10, 10), (10, 0, 20, 10)) == 0


def test_box_iou():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((3, 3, 3, 3), (3, 3, 3, 3)) == 0.0


def test_suppression_keeps_the_earlier_of_overlapping_boxes():
    best = Detection("dog", (0, 0, 10, 10), 0.9)
    echo = Detection("dog", (1, 0, 11, 10), 0.8)
    apart = Detection("dog", (30, 30, 40, 40), 0.7)
    assert non_max_suppression([best, echo, apart], 0.5) == [best, apart]
    assert non_max_suppression([best, echo, apart], 0.95) == [best, echo, apart]


def test_suppression_takes_any_overlap_measure():
    close = {frozenset((1, 2)): 0.9}
    kept = non_max_suppression([1, 2, 3], 0.5, lambda a, b: close.get(frozenset((a, b)), 0.0))
    assert kept == [1, 3]

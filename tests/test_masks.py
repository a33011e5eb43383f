"""Tests for tools/masks.py: morphology, the outward feather, boxes, Region-IoU, mask images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from chatedit.tools import masks
from chatedit.tools.errors import InputError


def disk(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def disk_element(radius):
    return disk((2 * radius + 1, 2 * radius + 1), (radius, radius), radius)


@pytest.fixture
def blobs():
    """Two separate shapes on an odd-sized canvas, one touching the right border."""
    mask = np.zeros((61, 83), dtype=bool)
    mask[10:30, 8:25] = True
    mask |= disk(mask.shape, (40, 75), 12)
    return mask


def test_as_mask_refuses_colour_arrays():
    with pytest.raises(InputError, match="2-D"):
        masks.as_mask(np.zeros((4, 4, 3)))


@pytest.mark.parametrize("radius", [1, 3, 6])
def test_feather_inside_is_zero_off_the_mask_and_one_from_radius_in(radius):
    mask = np.zeros((61, 83), dtype=bool)
    mask[10:30, 8:25] = True
    mask |= disk(mask.shape, (40, 55), 12)
    alpha = masks.feather_inside(mask, radius)
    assert alpha.dtype == np.float32
    assert np.all(alpha[~mask] == 0.0)
    depth = ndimage.distance_transform_edt(mask)
    assert np.all(alpha[depth >= radius] == 1.0)
    shallow = mask & (depth < radius)
    assert np.all((alpha[shallow] > 0) & (alpha[shallow] < 1))


def test_feather_inside_keeps_a_mask_on_the_image_border_whole_there():
    mask = np.zeros((20, 30), bool)
    mask[:, 20:] = True
    alpha = masks.feather_inside(mask, 4)[0]
    assert alpha[29] == 1.0 and alpha[23] == 1.0 and 0.0 < alpha[20] < alpha[21] < alpha[22] < 1.0
    assert not alpha[:20].any()


def test_feather_inside_of_empty_full_and_radius_zero_masks(blobs):
    assert np.array_equal(masks.feather_inside(blobs, 0), blobs.astype(np.float32))
    assert not masks.feather_inside(np.zeros((4, 4), bool), 3).any()
    assert masks.feather_inside(np.ones((4, 4), bool), 3).all()
    with pytest.raises(InputError, match="radius"):
        masks.feather_inside(blobs, -1)


def test_feather_radius_zero_is_the_mask(blobs):
    assert np.array_equal(masks.feather(blobs, 0), blobs.astype(np.float32))


def test_union_area_bbox(blobs):
    a = np.zeros((4, 6), bool)
    b = np.zeros((4, 6), bool)
    a[0, 0], b[3, 5] = True, True
    both = masks.union(a, b)
    assert masks.area(both) == 2
    assert masks.bbox(both) == (0, 0, 6, 4)
    assert masks.bbox(np.zeros((3, 3), bool)) is None
    assert masks.bbox(blobs) == (8, 10, 83, 53)
    with pytest.raises(InputError):
        masks.union()
    with pytest.raises(InputError, match="different sizes"):
        masks.union(a, np.zeros((5, 6), bool))


def test_iou():
    a = masks.box_mask((10, 10), (0, 0, 4, 10))
    b = masks.box_mask((10, 10), (2, 0, 6, 10))
    assert masks.iou(a, b) == pytest.approx(20 / 60)
    assert masks.iou(a, a) == 1.0
    assert masks.iou(np.zeros((3, 3)), np.zeros((3, 3))) == 0.0


def test_fill_holes():
    mask = np.zeros((30, 30), dtype=bool)
    mask[10:25, 10:25] = True
    mask[15:18, 15:18] = False  # a hole
    mask[0:5, 0:5] = True
    mask[2, 0:3] = False  # a gap open to the image edge
    filled = masks.fill_holes(mask)
    assert filled[16, 16] and masks.area(filled[10:25, 10:25]) == 15 * 15
    assert not filled[2, 0]


def test_box_mask_covers_exact_pixels_and_clamps():
    mask = masks.box_mask((20, 30), (5, 2, 12, 9))
    assert masks.bbox(mask) == (5, 2, 12, 9) and masks.area(mask) == 7 * 7
    clamped = masks.box_mask((20, 30), (-10.2, 15.0, 45.7, 80))
    assert masks.bbox(clamped) == (0, 15, 30, 20)
    assert masks.bbox(masks.box_mask((20, 30), (12, 9, 5, 2))) == (5, 2, 12, 9)
    assert masks.bbox(masks.box_mask((20, 30), (4.6, 2.4, 7.6, 5.4))) == (5, 2, 8, 5)
    assert not masks.box_mask((20, 30), (40, 40, 50, 50)).any()
    with pytest.raises(InputError):
        masks.box_mask((20, 30), (1, 2, 3))


def test_ellipse_mask_is_inscribed_in_its_box():
    mask = masks.ellipse_mask((50, 80), (10, 5, 70, 45))
    assert masks.bbox(mask) == (10, 5, 70, 45)
    assert mask[25, 40] and not mask[5, 10] and not mask[44, 69]
    assert masks.area(mask) == pytest.approx(np.pi * 30 * 20, rel=0.03)
    partly_outside = masks.ellipse_mask((50, 80), (60, 30, 100, 70))
    assert partly_outside.shape == (50, 80) and partly_outside[49, 79]


def test_dilation_for_scales_with_object_size():
    small = masks.box_mask((2000, 2000), (0, 0, 20, 20))
    medium = masks.box_mask((2000, 2000), (0, 0, 400, 400))
    huge = masks.box_mask((2000, 2000), (0, 0, 2000, 2000))
    assert masks.dilation_for(small) == 4
    assert masks.dilation_for(medium) == 16
    assert masks.dilation_for(huge) == 64
    assert masks.dilation_for(medium, fraction=0.1, maximum=30) == 30


def test_region_iou_pick_chooses_the_segment_matching_the_region():
    shape = (100, 120)
    region = disk(shape, (50, 60), 20)
    region[30:34, :] = False  # a rough region: a crack and a few stray pixels
    region[5, 5] = region[90, 100] = True
    background = ~disk(shape, (50, 60), 20)
    inside = disk(shape, (50, 60), 8)  # inside the region, but only a part of it
    wanted = disk(shape, (50, 60), 21)
    elsewhere = masks.box_mask(shape, (0, 0, 30, 30))
    candidates = [background, inside, wanted, elsewhere]
    assert masks.region_iou_pick(candidates, region) == 2
    assert masks.region_iou_pick([elsewhere], disk(shape, (60, 80), 10)) == -1
    assert masks.region_iou_pick([], region) == -1


def test_region_iou_pick_prefers_the_earlier_of_equal_candidates():
    region = masks.box_mask((10, 10), (2, 2, 6, 6))
    assert masks.region_iou_pick([region.copy(), region.copy()], region) == 0


def test_to_image_is_0_or_255_for_bool_and_rounded_alpha_for_float(blobs):
    image = masks.to_image(blobs)
    assert image.mode == "L" and image.size == (83, 61)
    assert set(np.unique(np.asarray(image))) == {0, 255}
    assert np.array_equal(np.asarray(image) == 255, blobs)
    alpha = masks.feather(blobs, 4)
    soft = np.asarray(masks.to_image(alpha))
    assert np.array_equal(soft, np.rint(alpha * 255).astype(np.uint8))


def _scattered_and_compact_masks():
    """Masks of both kinds: compact shapes (few runs per row) and speckle (more runs than pixels of a disk)."""
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[:90, :130]
    compact = (((yy - 30) / 25.0) ** 2 + ((xx - 100) / 40.0) ** 2 < 1) | ((yy > 60) & (xx < 20))
    speckle = rng.random((90, 130)) < 0.03
    small = np.zeros((90, 130), dtype=bool)
    small[44:47, 60:62] = True
    return [compact, speckle, small, compact ^ speckle]


@pytest.mark.parametrize("radius", [1, 5, 17, 45])
def test_dilate_and_erode_equal_the_euclidean_distance_definition(radius):
    for mask in _scattered_and_compact_masks():
        grown = ndimage.distance_transform_edt(~mask) <= radius
        shrunk = ndimage.distance_transform_edt(mask) > radius
        assert np.array_equal(masks.dilate(mask, radius), grown)
        assert np.array_equal(masks.erode(mask, radius), shrunk)


@pytest.mark.parametrize("radius", [2, 9, 30])
def test_feather_equals_the_smoothstep_of_the_whole_image_distance(radius):
    for mask in _scattered_and_compact_masks():
        t = np.clip(1.0 - ndimage.distance_transform_edt(~mask) / radius, 0.0, 1.0)
        expected = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
        expected[mask] = 1.0
        alpha = masks.feather(mask, radius)
        assert alpha.dtype == np.float32 and np.array_equal(alpha, expected)


def test_a_small_object_in_a_large_image_is_grown_only_near_itself():
    mask = np.zeros((2000, 3000), dtype=bool)
    mask[1000:1004, 1500:1503] = True
    grown = masks.dilate(mask, 20)
    assert masks.bbox(grown) == (1480, 980, 1523, 1024)
    assert np.array_equal(grown[970:1034, 1470:1533], masks.dilate(mask[970:1034, 1470:1533], 20))

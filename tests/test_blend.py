"""Tests for tools/blend.py (ZONE): the edited region, its smoothing, Region-IoU refinement, compositing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from chatedit.tools import blend, masks
from chatedit.tools.errors import InputError


def ellipse(shape, centre, radii):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - centre[0]) / radii[0]) ** 2 + ((xx - centre[1]) / radii[1]) ** 2 <= 1


def recoloured(photo: Image.Image, region: np.ndarray, *, noise: float = 2.0, seed: int = 0) -> Image.Image:
    """Gives back the photo with `region` tinted green, plus slight noise everywhere (an editor's drift)."""
    pixels = np.asarray(photo).astype(np.float64)
    pixels[region] = 0.5 * pixels[region] + 0.5 * np.array([20.0, 170.0, 60.0])
    pixels += np.random.default_rng(seed).normal(0.0, noise, pixels.shape)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def coffee_edit(coffee):
    """The coffee photo with its cup region recoloured, and that region."""
    region = ellipse((coffee.height, coffee.width), (190, 300), (110, 150))
    return coffee, recoloured(coffee, region), region


def test_low_pass_difference_is_zero_for_an_unchanged_image(coffee):
    difference = blend.low_pass_difference(coffee, coffee.copy())
    assert difference.dtype == np.float32 and difference.shape == (coffee.height, coffee.width)
    assert np.abs(difference).max() < 1e-5


def test_low_pass_difference_keeps_a_recolouring_and_drops_pixel_noise(coffee_edit):
    original, canvas, region = coffee_edit
    difference = blend.low_pass_difference(original, canvas)
    assert difference[region].mean() > 0.15
    assert np.percentile(difference[~region], 99) < 0.05
    # A +-24 checkerboard lies above the cut-off: the low-pass removes it.
    board = np.asarray(original).astype(np.int16)
    sign = np.where((np.indices(board.shape[:2]).sum(0) % 2) == 0, 24, -24)[..., None]
    checkered = np.clip(board + sign, 0, 255).astype(np.uint8)
    assert np.median(blend.low_pass_difference(original, checkered)) < 0.01
    assert np.median(blend.low_pass_difference(original, checkered, cutoff=400)) > 0.05


def test_low_pass_difference_refuses_a_canvas_of_another_size(coffee):
    with pytest.raises(InputError, match="resize the canvas"):
        blend.low_pass_difference(coffee, coffee.resize((300, 200)))


def test_otsu_threshold_splits_two_populations():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0.05, 0.01, 5000), rng.normal(0.6, 0.05, 500)])
    assert 0.1 < blend.otsu_threshold(values) < 0.5


def test_edited_region_finds_the_recoloured_region(coffee_edit):
    original, canvas, region = coffee_edit
    rough = blend.edited_region(original, canvas)
    assert masks.iou(rough, region) > 0.9
    assert not blend.edited_region(original, original.copy()).any()
    fixed = blend.edited_region(original, canvas, threshold=0.9)
    assert not fixed.any()


def test_edited_region_accepts_numpy_images(coffee_edit):
    original, canvas, region = coffee_edit
    rough = blend.edited_region(np.asarray(original), np.asarray(canvas))
    assert masks.iou(rough, region) > 0.9


def jagged_disk(shape=(256, 320), seed=0):
    rng = np.random.default_rng(seed)
    clean = ellipse(shape, (128, 160), (70, 90))
    ring = masks.dilate(clean, 2) & ~masks.erode(clean, 2)
    jagged = clean.copy()
    jagged[ring] = rng.random(int(ring.sum())) < 0.5
    for row, col in rng.integers([90, 110], [160, 210], size=(12, 2)):
        jagged[row : row + 2, col : col + 2] = False  # pinholes
    return clean, jagged


def boundary_pixels(mask):
    return masks.area(mask & ~masks.erode(mask, 1))


def test_smooth_edge_closes_a_jagged_edge():
    clean, jagged = jagged_disk()
    smooth = blend.smooth_edge(jagged)
    assert boundary_pixels(smooth) < 0.6 * boundary_pixels(jagged)
    assert masks.area(masks.fill_holes(smooth) & ~smooth) == 0
    assert smooth[95:150, 115:205].all()  # the pinholes are gone
    assert masks.iou(smooth, clean) > 0.95


def test_smooth_edge_keeps_a_gap_to_the_image_border_and_empty_masks():
    mask = np.zeros((100, 120), dtype=bool)
    mask[2:60, 2:60] = True
    smooth = blend.smooth_edge(mask)
    assert not smooth[0].any() and not smooth[:, 0].any()
    assert masks.iou(smooth, mask) > 0.95
    assert not blend.smooth_edge(np.zeros((10, 10), bool)).any()


def test_zone_layer_covers_the_edited_region_and_nothing_far_from_it(coffee_edit):
    original, canvas, region = coffee_edit
    layer = blend.zone_layer(original, canvas)
    assert layer.dtype == bool and layer.shape == region.shape
    assert masks.iou(layer, region) > 0.9
    assert not (layer & ~masks.dilate(region, 8)).any()


@pytest.mark.parametrize("photo_name", ["astronaut", "chelsea", "odd_photo"])
def test_zone_layer_on_other_photos(request, photo_name):
    photo = request.getfixturevalue(photo_name)
    shape = (photo.height, photo.width)
    region = ellipse(shape, (shape[0] * 0.45, shape[1] * 0.6), (shape[0] * 0.2, shape[1] * 0.15))
    canvas = recoloured(photo, region, seed=3)
    layer = blend.zone_layer(photo, canvas)
    assert masks.iou(layer, region) > 0.9
    assert not (layer & ~masks.dilate(region, 8)).any()


def test_zone_layer_takes_the_segment_with_the_best_region_iou(coffee):
    shape = (coffee.height, coffee.width)
    cup = ellipse(shape, (190, 300), (110, 150))
    # The editor spilled its change 15 pixels around the cup: the rough region is too large.
    canvas = recoloured(coffee, masks.dilate(cup, 15))
    assert masks.iou(blend.zone_layer(coffee, canvas), cup) < 0.85
    segments = [
        masks.box_mask(shape, (0, 0, shape[1], shape[0] // 2)),  # a large unrelated segment
        ellipse(shape, (190, 300), (40, 40)),  # a part of the cup
        cup,
        masks.box_mask(shape, (500, 300, 600, 400)),
    ]
    layer = blend.zone_layer(coffee, canvas, segments)
    assert masks.iou(layer, cup) > 0.99


def test_zone_layer_keeps_the_rough_region_when_no_segment_matches(coffee_edit):
    original, canvas, region = coffee_edit
    shape = region.shape
    poor = [masks.box_mask(shape, (0, 0, 320, 40)), ellipse(shape, (190, 300), (20, 20))]
    layer = blend.zone_layer(original, canvas, poor)
    assert masks.iou(layer, region) > 0.9


def test_zone_layer_is_empty_when_nothing_changed(coffee):
    assert not blend.zone_layer(coffee, recoloured(coffee, np.zeros((coffee.height, coffee.width), bool))).any()


def test_keep_near_drops_spill_away_from_the_region():
    region = np.zeros((200, 300), bool)
    region[50:100, 50:100] = True
    layer = np.zeros_like(region)
    layer[40:110, 40:110] = True  # the object and its rim, within 5% of 300 px
    layer[150:190, 250:290] = True  # spill elsewhere
    kept = blend.keep_near(layer, region)
    assert kept[40:110, 40:110].all()
    assert not kept[150:190, 250:290].any()


def test_keep_near_falls_back_to_the_region_when_the_layer_misses_it():
    region = np.zeros((200, 300), bool)
    region[50:100, 50:100] = True
    layer = np.zeros_like(region)
    layer[150:190, 250:290] = True
    assert np.array_equal(blend.keep_near(layer, region), region)


@pytest.fixture
def border_mask(odd_photo):
    """A mask on the odd-sized photo touching the left, top and bottom borders."""
    mask = np.zeros((odd_photo.height, odd_photo.width), dtype=bool)
    mask[:80, :120] = True
    mask[200:, 300:340] = True
    mask |= ellipse(mask.shape, (250, 500), (60, 70))
    return mask


def test_composite_is_bit_identical_outside_the_paste_mask(odd_photo, border_mask):
    rng = np.random.default_rng(5)
    canvas = Image.fromarray(rng.integers(0, 256, (403, 601, 3), dtype=np.uint8))
    result, alpha = blend.composite(odd_photo, canvas, border_mask, feather_px=4)
    assert isinstance(result, Image.Image) and result.mode == "RGB" and result.size == (601, 403)
    before, after, painted = np.asarray(odd_photo), np.asarray(result), np.asarray(canvas)
    assert np.array_equal(alpha, masks.feather(border_mask, 4))
    assert np.array_equal(after[alpha == 0], before[alpha == 0])
    assert np.array_equal(after[border_mask], painted[border_mask])
    assert (alpha == 0).sum() > 0.5 * alpha.size
    assert not (alpha > 0)[~masks.dilate(border_mask, 4)].any()


def test_composite_blends_the_feather_ring(odd_photo, border_mask):
    canvas = np.zeros((403, 601, 3), dtype=np.uint8)
    result, alpha = blend.composite(np.asarray(odd_photo), canvas, border_mask)
    ring = (alpha > 0) & (alpha < 1)
    expected = np.rint(np.asarray(odd_photo)[ring] * (1.0 - alpha[ring, None])).astype(np.uint8)
    assert np.array_equal(np.asarray(result)[ring], expected)


def test_composite_inward_never_changes_a_pixel_outside_the_mask(odd_photo, border_mask):
    """A drawn mask holds: the seam blends inside it, and outside it the picture is the original's."""
    rng = np.random.default_rng(7)
    canvas = rng.integers(0, 256, (403, 601, 3), dtype=np.uint8)
    result, alpha = blend.composite(odd_photo, canvas, border_mask, feather_px=4, inward=True)
    before, after = np.asarray(odd_photo), np.asarray(result)
    assert np.array_equal(after[~border_mask], before[~border_mask])
    assert np.array_equal(alpha, masks.feather_inside(border_mask, 4))
    deep = masks.erode(border_mask, 4)
    assert np.array_equal(after[deep], canvas[deep])


def test_composite_refuses_mismatched_sizes(odd_photo, border_mask):
    with pytest.raises(InputError, match="mask"):
        blend.composite(odd_photo, odd_photo, border_mask[:-1])
    with pytest.raises(InputError, match="canvas"):
        blend.composite(odd_photo, odd_photo.resize((600, 400)), border_mask)

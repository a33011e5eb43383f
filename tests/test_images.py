"""Tests of image loading and writing (tools/images.py): the bad-input corpus and the PNG helpers."""

from __future__ import annotations

import base64
import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from chatedit.tools.errors import InputError, TooLargeError
from chatedit.tools.images import load_image, png_bytes, save_png, to_data_url
from tests.helpers import random_image

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid-looking PNG whose header claims width x height greyscale pixels over a few bytes of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def with_exif_orientation(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def corner_marked(width: int, height: int) -> Image.Image:
    """A blue picture with a red block in its top-left corner."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 4, height // 4))
    return image


def assert_close(pixel, expected, tolerance=6):
    assert all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, expected, strict=True)), (pixel, expected)


def assert_readable(error: Exception) -> None:
    """A message a person can act on: one short sentence or two, no internals."""
    message = str(error)
    assert message.endswith(".") and "\n" not in message and len(message) < 300, message
    for internal in ("Traceback", "<_io", " object at 0x", "Errno", "decoder", "Truncated File Read"):
        assert internal not in message, message


def refuse(source, error=InputError, match=None, **options) -> Exception:
    with pytest.raises(error, match=match) as caught:
        load_image(source, **options)
    assert_readable(caught.value)
    return caught.value


# Inputs that must be refused.


def test_empty_bytes_are_refused():
    refuse(b"", match="empty")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
@pytest.mark.parametrize("kept", [0.05, 0.5, 0.9])
def test_truncated_files_are_refused(fmt, kept):
    data = encode(random_image(64, 48, seed=1), fmt)
    refuse(data[: int(len(data) * kept)])


def test_truncated_jpeg_says_it_may_be_truncated():
    data = encode(random_image(64, 48, seed=2), "JPEG")
    refuse(data[: len(data) // 2], match="truncated or damaged")


@pytest.mark.parametrize(
    "data",
    [
        b"hello, this is a text file and not a picture\n",
        b"<!DOCTYPE html><html><body><img src='cat.png'></body></html>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        b'<rect width="64" height="64" fill="red"/></svg>',
        b'{"image": "cat.png"}',
        bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
        b"\x89PNG\r\n\x1a\n",
    ],
    ids=["text", "html", "svg", "json", "random-bytes", "png-signature-only"],
)
def test_non_images_are_refused(data):
    refuse(data)


def test_non_image_says_which_formats_work():
    refuse(b"<svg></svg>", match="PNG, JPEG, WebP, GIF, BMP or TIFF")


@pytest.mark.parametrize("kind", ["BMP", "GIF", "TIFF", "WEBP", "JPEG"])
def test_the_formats_the_message_names_are_read(kind):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(buffer, format=kind)
    assert load_image(buffer.getvalue()).size == (40, 30)


@pytest.mark.parametrize("kind", ["ICO", "PPM", "TGA", "PCX"])
def test_formats_the_message_does_not_name_are_refused_before_decoding(kind):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(buffer, format=kind)
    refuse(buffer.getvalue(), match="PNG, JPEG, WebP, GIF, BMP or TIFF")


def test_decompression_bomb_is_refused_before_decoding():
    data = png_declaring(30_000, 30_000)
    assert len(data) < 200
    refuse(data, TooLargeError)


def test_image_over_the_megapixel_limit_is_refused_as_too_large():
    # 72 megapixels: under Pillow's own bomb threshold, over chatedit's limit.
    error = refuse(png_declaring(9_000, 8_000), TooLargeError, match="megapixel")
    assert "9000x8000" in str(error)


def test_side_over_max_side_is_refused():
    image = Image.new("RGB", (300, 120), GREEN)
    error = refuse(encode(image, "PNG"), TooLargeError, max_side=100)
    assert "300x120" in str(error) and "100 px" in str(error)


def test_side_over_max_side_is_downscaled_on_request():
    image = Image.new("RGB", (300, 120), GREEN)
    image.paste(RED, (150, 0, 300, 120))
    small = load_image(encode(image, "PNG"), max_side=100, downscale=True)
    assert small.size == (100, 40)
    assert small.getpixel((10, 20)) == GREEN and small.getpixel((90, 20)) == RED


def test_tall_image_downscaled_keeps_aspect():
    small = load_image(encode(Image.new("RGB", (90, 600), BLUE), "PNG"), max_side=300, downscale=True)
    assert small.size == (45, 300) and small.getpixel((20, 150)) == BLUE


def test_data_url_that_is_not_base64_is_refused():
    refuse("data:image/png,%89PNG%0D%0A", match="not base64")


def test_data_url_with_invalid_base64_is_refused():
    refuse("data:image/png;base64,iVBORw0KGgo!!!*", match="valid base64")


def test_data_url_over_the_byte_limit_is_refused():
    url = to_data_url(random_image(64, 64, seed=3))
    error = refuse(url, TooLargeError, max_bytes=1000)
    assert "1000 bytes" in str(error)


def test_bytes_over_the_limit_are_refused():
    refuse(encode(random_image(64, 64), "PNG"), TooLargeError, max_bytes=2048, match="2 KB")


def test_file_over_the_limit_is_refused(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(encode(random_image(64, 64), "PNG"))
    refuse(path, TooLargeError, max_bytes=2048, match="big.png")


def test_missing_file_is_refused(tmp_path):
    refuse(tmp_path / "nowhere.png", match="No file at")
    refuse(str(tmp_path / "nowhere.png"), match="check the path")


def test_directory_is_refused(tmp_path):
    refuse(tmp_path, match="is a folder")


def test_raw_base64_mistaken_for_a_path_is_refused_briefly():
    raw = base64.b64encode(encode(random_image(64, 64), "PNG")).decode()
    error = refuse(raw, match="No file at")
    assert len(str(error)) < 200


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    refuse(path, match="empty")


# Inputs that must load, as RGB, with the right size and pixels.


def test_valid_png_loads_pixel_exact():
    image = random_image(33, 21, seed=4)
    loaded = load_image(encode(image, "PNG"))
    assert loaded.mode == "RGB" and loaded.size == (33, 21)
    np.testing.assert_array_equal(np.asarray(loaded), np.asarray(image))


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "BMP", "TIFF"])
def test_other_formats_load(fmt):
    loaded = load_image(encode(Image.new("RGB", (20, 10), (200, 40, 90)), fmt))
    assert loaded.mode == "RGB" and loaded.size == (20, 10)
    assert_close(loaded.getpixel((10, 5)), (200, 40, 90))


def test_one_pixel_image_loads():
    loaded = load_image(encode(Image.new("RGB", (1, 1), (12, 34, 56)), "PNG"))
    assert loaded.size == (1, 1) and loaded.getpixel((0, 0)) == (12, 34, 56)


def test_very_wide_image_loads_when_max_side_allows():
    ramp = np.tile(np.linspace(0, 255, 10_000).astype(np.uint8)[None, :, None], (8, 1, 3))
    loaded = load_image(encode(Image.fromarray(ramp), "PNG"), max_side=10_000)
    assert loaded.size == (10_000, 8)
    np.testing.assert_array_equal(np.asarray(loaded), ramp)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), colour) for colour in (RED, GREEN, BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    loaded = load_image(data)
    assert loaded.mode == "RGB" and loaded.size == (16, 16)
    assert loaded.getpixel((8, 8)) == RED


def test_animated_webp_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), colour) for colour in (BLUE, RED, GREEN)]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    loaded = load_image(data)
    assert loaded.mode == "RGB" and loaded.getpixel((8, 8)) == BLUE


def test_animated_png_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), colour) for colour in (GREEN, BLUE)]
    data = encode(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert load_image(data).getpixel((8, 8)) == GREEN


def test_cmyk_jpeg_loads_as_rgb():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    data = encode(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    loaded = load_image(data)
    assert loaded.mode == "RGB" and loaded.size == (16, 16)
    assert_close(loaded.getpixel((8, 8)), RED)


@pytest.mark.parametrize("level, expected", [(32768, 128), (65535, 255), (0, 0), (200, 1)])
def test_16_bit_png_scales_to_8_bits(level, expected):
    data = encode(Image.fromarray(np.full((6, 5), level, dtype=np.uint16)), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    loaded = load_image(data)
    assert loaded.mode == "RGB" and loaded.size == (5, 6)
    assert_close(loaded.getpixel((2, 3)), (expected,) * 3, tolerance=1)


def test_la_image_composites_on_white():
    la = Image.new("LA", (3, 1))
    la.putpixel((0, 0), (0, 0))  # black, fully transparent
    la.putpixel((1, 0), (0, 255))  # black, opaque
    la.putpixel((2, 0), (0, 128))  # black, half transparent
    loaded = load_image(encode(la, "PNG"))
    assert loaded.mode == "RGB"
    assert loaded.getpixel((0, 0)) == WHITE
    assert loaded.getpixel((1, 0)) == (0, 0, 0)
    assert_close(loaded.getpixel((2, 0)), (127, 127, 127), tolerance=2)


def test_rgba_transparency_composites_on_white():
    rgba = Image.new("RGBA", (3, 1))
    rgba.putpixel((0, 0), (0, 255, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 255, 255))
    rgba.putpixel((2, 0), (255, 0, 0, 128))
    loaded = load_image(encode(rgba, "PNG"))
    assert loaded.mode == "RGB" and loaded.size == (3, 1)
    assert loaded.getpixel((0, 0)) == WHITE
    assert loaded.getpixel((1, 0)) == BLUE
    assert_close(loaded.getpixel((2, 0)), (255, 127, 127), tolerance=2)


def test_palette_transparency_composites_on_white():
    palette_image = Image.new("P", (4, 1), 0)
    palette_image.putpalette([*RED, *BLUE] + [0] * (256 - 2) * 3)
    palette_image.putpixel((2, 0), 1)
    palette_image.putpixel((3, 0), 1)
    data = encode(palette_image, "PNG", transparency=1)
    assert Image.open(io.BytesIO(data)).mode == "P"
    loaded = load_image(data)
    assert loaded.mode == "RGB"
    assert [loaded.getpixel((x, 0)) for x in range(4)] == [RED, RED, WHITE, WHITE]


def test_greyscale_and_bilevel_images_load_as_rgb():
    grey = load_image(encode(Image.new("L", (4, 4), 90), "PNG"))
    assert grey.mode == "RGB" and grey.getpixel((1, 1)) == (90, 90, 90)
    bilevel = load_image(encode(Image.new("1", (4, 4), 1), "PNG"))
    assert bilevel.mode == "RGB" and bilevel.getpixel((1, 1)) == WHITE


@pytest.mark.parametrize(
    "orientation, red_corner",
    [(6, "top-right"), (8, "bottom-left"), (3, "bottom-right"), (1, "top-left")],
)
def test_exif_rotation_is_applied(orientation, red_corner):
    stored = corner_marked(40, 20)
    loaded = load_image(with_exif_orientation(stored, orientation))
    swapped = orientation in (6, 8)
    assert loaded.size == ((20, 40) if swapped else (40, 20))
    width, height = loaded.size
    corners = {
        "top-left": (1, 1),
        "top-right": (width - 2, 1),
        "bottom-left": (1, height - 2),
        "bottom-right": (width - 2, height - 2),
    }
    for name, xy in corners.items():
        assert_close(loaded.getpixel(xy), RED if name == red_corner else BLUE, tolerance=30)


def test_png_with_a_broken_exif_block_still_loads():
    image = random_image(12, 8, seed=5)
    data = encode(image, "PNG", exif=b"MM\x00\x2a\xff\xff\xff\xff garbage")
    assert b"eXIf" in data
    loaded = load_image(data)
    np.testing.assert_array_equal(np.asarray(loaded), np.asarray(image))


def test_jpeg_with_a_broken_exif_block_still_loads():
    data = encode(
        Image.new("RGB", (12, 8), GREEN), "JPEG", quality=95, exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff"
    )
    loaded = load_image(data)
    assert loaded.size == (12, 8)
    assert_close(loaded.getpixel((6, 4)), GREEN)


def test_valid_data_url_loads():
    image = random_image(20, 14, seed=6)
    url = "data:image/png;base64," + base64.b64encode(encode(image, "PNG")).decode()
    np.testing.assert_array_equal(np.asarray(load_image(url)), np.asarray(image))


def test_data_url_wrapped_in_lines_loads():
    image = random_image(20, 14, seed=7)
    url = "data:image/png;base64," + base64.encodebytes(encode(image, "PNG")).decode()
    assert "\n" in url
    np.testing.assert_array_equal(np.asarray(load_image(url)), np.asarray(image))


def test_bytes_bytearray_memoryview_and_path_load_the_same(tmp_path):
    image = random_image(15, 9, seed=8)
    data = encode(image, "PNG")
    path = tmp_path / "picture.png"
    path.write_bytes(data)
    for source in (data, bytearray(data), memoryview(data), path, str(path)):
        np.testing.assert_array_equal(np.asarray(load_image(source)), np.asarray(image))


def test_pil_image_is_converted_and_left_unchanged():
    rgba = Image.new("RGBA", (5, 5), (0, 0, 255, 0))
    loaded = load_image(rgba)
    assert loaded.mode == "RGB" and loaded.getpixel((2, 2)) == WHITE
    assert rgba.mode == "RGBA" and rgba.getpixel((2, 2)) == (0, 0, 255, 0)


def test_pil_image_over_max_side_is_refused_or_downscaled():
    big = Image.new("RGB", (500, 250), RED)
    refuse(big, TooLargeError, max_side=200)
    small = load_image(big, max_side=200, downscale=True)
    assert small.size == (200, 100) and small.getpixel((100, 50)) == RED
    assert big.size == (500, 250)


# Writing images.


def test_png_bytes_round_trip_is_exact():
    image = random_image(31, 17, seed=9)
    data = png_bytes(image)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(image))


def test_png_bytes_are_the_same_for_the_same_pixels():
    image = random_image(10, 10, seed=10)
    assert png_bytes(image) == png_bytes(image.copy())
    assert png_bytes(image) != png_bytes(random_image(10, 10, seed=11))


def test_save_png_is_atomic_and_leaves_no_temp_files(tmp_path):
    first, second = random_image(8, 8, seed=12), random_image(8, 8, seed=13)
    target = tmp_path / "out" / "result.png"
    assert save_png(first, target) == target
    assert save_png(second, target) == target
    assert os.listdir(target.parent) == ["result.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(target)), np.asarray(second))


def test_failed_save_png_keeps_the_old_file(tmp_path, monkeypatch):
    old, new = random_image(8, 8, seed=14), random_image(8, 8, seed=15)
    target = tmp_path / "result.png"
    save_png(old, target)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        save_png(new, target)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["result.png"]
    np.testing.assert_array_equal(np.asarray(Image.open(target)), np.asarray(old))


def test_to_data_url_round_trips_through_load_image():
    image = random_image(19, 11, seed=16)
    url = to_data_url(image)
    assert url.startswith("data:image/png;base64,")
    np.testing.assert_array_equal(np.asarray(load_image(url)), np.asarray(image))

"""Turning whatever a user sends into a clean RGB image, and writing images for the store.

Every entry point (CLI, Python API, HTTP server) goes through `load_image`, so the rules for odd
files live in one place: EXIF rotation applied, CMYK / 16-bit / greyscale / palette converted,
transparency composited on white, animations reduced to their first frame, and empty, truncated,
non-image and decompression-bomb inputs refused with a sentence that says what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from chatedit.tools.errors import InputError, TooLargeError

ImageSource = Union[str, os.PathLike, bytes, bytearray, memoryview, Image.Image]
MaskSource = Union[ImageSource, np.ndarray]

MIN_SIDE = 32
"""Smallest width or height of a picture accepted for editing: below it, detection boxes and masks
round to nothing and the models' resizing breaks down."""
MAX_SIDE = 12288
"""Default largest side (pixels) accepted after loading: 61 MP cameras (9504 px) and panoramas. The editors'
memory depends on their working size, not the photo's (tools/region_edit.py, tools/full_resolution.py)."""

MAX_PIXELS = 64_000_000
"""Images claiming more pixels than this in their header are refused before decoding."""

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
"""The encodings chatedit decodes; files in any other are refused before a decoder reads them."""
FORMATS_NAMED = "PNG, JPEG, WebP, GIF, BMP or TIFF"
MAX_BYTES = 50 * 1024 * 1024
"""Default largest encoded image (bytes)."""

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?)(?P<b64>;base64)?,", re.I)


def _size(n_bytes: int) -> str:
    """Gives back a byte count as a person reads it: '50 MB', '12 KB', '300 bytes'."""
    if n_bytes >= 1024 * 1024:
        return f"{n_bytes / (1024 * 1024):.0f} MB"
    if n_bytes >= 1024:
        return f"{n_bytes / 1024:.0f} KB"
    return f"{n_bytes} bytes"


def decode_data_url(url: str, max_bytes: int = MAX_BYTES) -> bytes:
    """Gives back the bytes inside a `data:` URL, or raises InputError when it is not valid base64."""
    match = _DATA_URL.match(url)
    if not match:
        raise InputError("The image URL is not a data URL; send the image as data:image/png;base64,...")
    if not match.group("b64"):
        raise InputError("The data URL is not base64-encoded; send it as data:image/...;base64,...")
    # base64 grows data by 4/3, and line breaks add at most 1/32 more: refuse a huge URL before
    # copying it, then check exactly once the breaks are gone.
    too_big = TooLargeError(f"The image is larger than the {_size(max_bytes)} limit; send a smaller image.")
    if (len(url) - match.end()) * 3 // 4 > max_bytes + max_bytes // 32:
        raise too_big
    # MIME-style encoders wrap base64 in lines; the line breaks are not part of the data.
    payload = re.sub(r"\s+", "", url[match.end() :])
    if len(payload) * 3 // 4 > max_bytes:
        raise too_big
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("The data URL does not hold valid base64; re-encode the image and send it again.") from None


def _shorten(path: Path) -> str:
    """Gives back the path as text, cut short when a long string (say, raw base64) was taken for a path."""
    text = str(path)
    return text if len(text) <= 200 else text[:80] + "..."


def read_source(source: str | os.PathLike | bytes | bytearray | memoryview, max_bytes: int = MAX_BYTES) -> bytes:
    """Gives back the encoded bytes of a path, bytes or data URL, refusing more than `max_bytes` before decoding."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, str) and source.lstrip().lower().startswith("data:"):
        data = decode_data_url(source.strip(), max_bytes)
    else:
        path = Path(source)
        try:
            is_dir = path.is_dir()
            size = path.stat().st_size
        except (OSError, ValueError):
            raise InputError(f"No file at {_shorten(path)}; check the path.") from None
        if is_dir:
            raise InputError(f"{_shorten(path)} is a folder, not an image file; give the path of an image.")
        if size > max_bytes:
            raise TooLargeError(
                f"{path.name} is {_size(size)}, over the {_size(max_bytes)} limit; send a smaller image."
            )
        data = path.read_bytes()
    if not data:
        raise InputError(f"The image is empty (0 bytes); send a {FORMATS_NAMED} file.")
    if len(data) > max_bytes:
        raise TooLargeError(f"The image is over the {_size(max_bytes)} limit; send a smaller image.")
    return data


def to_rgb(image: Image.Image) -> Image.Image:
    """Converts any decoded mode to 8-bit RGB, compositing transparency on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale spans 0..65535 even when a dark picture uses little of it; 32-bit "I" has
        # no fixed range, and holds 8- or 16-bit values in practice.
        array = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16") or array.max() > 255:
            top = 65535.0
        else:
            top = 255.0
        image = Image.fromarray(np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        span = max(array.max() - array.min(), 1e-12)
        image = Image.fromarray(((array - array.min()) / span * 255.0).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")
    return image


def decode_image(source: ImageSource, *, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Gives back the decoded picture in its own mode (first frame, EXIF rotation applied), or raises InputError.

    Args:
        source: a file path, raw bytes, a `data:image/...;base64,` URL, or a PIL image.
        max_bytes: the largest encoded size accepted.
        max_pixels: the most pixels a picture may declare; more is refused before decoding.
    """
    if isinstance(source, Image.Image):
        image = source
        image.load()
    else:
        data = read_source(source, max_bytes)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data), formats=FORMATS)
                if image.width * image.height > min(max_pixels, MAX_PIXELS):
                    raise TooLargeError(
                        f"The image is {image.width}x{image.height} pixels, over the "
                        f"{min(max_pixels, MAX_PIXELS) / 1_000_000:g} megapixel limit; send a smaller image."
                    )
                image.seek(0)  # animated GIF/WebP/APNG: the first frame
                image.load()
        except TooLargeError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooLargeError(
                "The image declares far more pixels than it holds (a decompression bomb); send a normal image."
            ) from None
        except UnidentifiedImageError:
            raise InputError(f"The file is not an image chatedit can read; send a {FORMATS_NAMED} file.") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InputError(
                "The image could not be decoded; the file may be truncated or damaged. Send it again."
            ) from exc
    if image.width < 1 or image.height < 1:
        raise InputError("The image has no pixels; send a real picture.")
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not lose the picture; keep it as stored
        pass
    return image


def check_editable(picture: Image.Image) -> Image.Image:
    """Gives back the picture, or raises InputError when it is too small to edit (under MIN_SIDE on a side)."""
    if min(picture.size) < MIN_SIDE:
        raise InputError(
            f"The image is {picture.width}x{picture.height}; chatedit needs at least {MIN_SIDE} px "
            "on each side. Send a larger picture."
        )
    return picture


def load_image(
    source: ImageSource,
    *,
    max_side: int = MAX_SIDE,
    downscale: bool = False,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Gives back an RGB PIL image from a path, bytes, data URL or PIL image, or raises InputError.

    Args:
        source: a file path, raw bytes, a `data:image/...;base64,` URL, or a PIL image.
        max_side: the largest width or height accepted after loading.
        downscale: shrink images over `max_side` (keeping the aspect) instead of refusing them.
        max_bytes: the largest encoded size accepted.
        max_pixels: the most pixels a picture may declare (at most MAX_PIXELS); more is refused before decoding.
    """
    image = to_rgb(decode_image(source, max_bytes=max_bytes, max_pixels=max_pixels))
    if max(image.size) > max_side:
        if not downscale:
            raise TooLargeError(
                f"The image is {image.width}x{image.height}; the largest side allowed is {max_side} px. "
                "Send a smaller image or enable downscaling."
            )
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def load_mask(source: MaskSource, size: tuple[int, int]) -> np.ndarray:
    """Gives back the region a user drew as a bool (height, width) mask, or raises InputError.

    White marks the region; in a mask with transparency, the fully transparent pixels do (the OpenAI
    Images API's convention, where the mask is often the picture itself with a hole cut out). An
    array is read as is: True, or at least half its range (0.5 for floats, 128 for integers).

    Args:
        source: a file path, raw bytes, a data URL, a PIL image, or a 2-D array.
        size: (width, height) of the picture the mask is drawn on; any other size is refused.
    """
    region = _marked(source, size)
    if region.shape != (size[1], size[0]):
        raise _mask_size_error((region.shape[1], region.shape[0]), size)
    if not region.any():
        raise InputError(
            "The mask marks no pixels: paint the region to change white (or leave it transparent) and the rest black."
        )
    return region


def _mask_size_error(mask: tuple[int, int], size: tuple[int, int]) -> InputError:
    return InputError(
        f"The mask is {mask[0]}x{mask[1]} but the picture is {size[0]}x{size[1]}; "
        "draw the mask at the picture's own size."
    )


def _declared_size(data: bytes) -> Optional[tuple[int, int]]:
    """Gives back the (width, height) an encoded picture's header declares, EXIF rotation applied (None: unreadable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data), formats=FORMATS)
    except Exception:  # decoding says what is wrong with it
        return None
    with probe:
        width, height = probe.size
        try:
            orientation = probe.getexif().get(0x0112, 1)
        except Exception:  # no readable EXIF: as stored
            orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _marked(source: MaskSource, size: tuple[int, int]) -> np.ndarray:
    """Gives back the pixels a mask source marks, as `load_mask` reads them, at the source's own size.

    An encoded mask of another size than `size` is refused from its header, before it is decoded.
    """
    if isinstance(source, np.ndarray):
        if source.ndim == 2 and source.dtype == np.bool_:
            return source.copy()
        if source.ndim == 2:
            return source >= (0.5 if np.issubdtype(source.dtype, np.floating) else 128)
        if source.ndim != 3 or source.dtype != np.uint8:
            raise InputError(
                f"A mask array must be 2-D (height, width), or 3-D uint8 (height, width, channels); got "
                f"{source.dtype} of shape {source.shape}."
            )
        image = Image.fromarray(source)
    elif isinstance(source, Image.Image):
        image = decode_image(source)
    else:
        data = read_source(source)
        declared = _declared_size(data)
        if declared is not None and declared != tuple(size):
            raise _mask_size_error(declared, size)
        image = decode_image(data)
    if image.mode == "P":
        image = image.convert("RGBA")
    if "A" in image.getbands():
        alpha = np.asarray(image.getchannel("A"))
        if (alpha < 255).any():
            return alpha == 0
    return np.asarray(to_rgb(image).convert("L")) >= 128


def png_bytes(image: Image.Image) -> bytes:
    """Gives back the image encoded as PNG (lossless, so pixels round-trip exactly)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def atomic_write(path: str | os.PathLike, data: bytes) -> Path:
    """Writes bytes so that readers see either the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the result the permissions a normal write would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_png(image: Image.Image, path: str | os.PathLike) -> Path:
    """Writes the image as PNG atomically and gives back the path."""
    return atomic_write(path, png_bytes(image))


def to_data_url(image: Image.Image) -> str:
    """Gives back the image as a `data:image/png;base64,` URL."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")

"""The image store: PNG files on disk, named by the sha256 of their bytes.

Graph state and session history hold image ids, never pixels. An id names exactly one picture, so a
file is written once and never changes: writes are atomic renames (readers in any thread or process
see a whole file or none), a second `put` of the same picture finds the file already there, and a read
checks the bytes against their id so that a damaged file is reported instead of showing wrong pixels.

Layout: `root/ab/abcdef....png`, sharded by the first two hex characters of the id.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from tools.errors import DamagedImageError, InputError
from tools.images import atomic_write, content_id, png_bytes, to_rgb

_ID = re.compile(r"[0-9a-f]{64}")

CACHE_BYTES = 256 * 1024 * 1024
"""Default budget (bytes of decoded pixels) of the in-memory cache of recently used images."""


class ImageStore:
    """Images and masks as content-addressed PNG files under one folder; safe across threads and processes.

    Every method that takes an id refuses a malformed one (not 64 lowercase hex characters) with
    InputError before any path is built from it.

    Args:
        root: the folder that holds the files; created when missing.
        cache_bytes: how many bytes of decoded pixels to keep in memory for repeated reads (0: none).
    """

    def __init__(self, root: str | os.PathLike, *, cache_bytes: int = CACHE_BYTES):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, Image.Image] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def put(self, image: Image.Image) -> str:
        """Gives back the id of the image after storing it as an RGB PNG (once: the same picture, the same id).

        Transparency is composited on white and other modes converted, as `tools.images.load_image` does;
        metadata (ICC profile, EXIF, text chunks) is dropped, so the id depends on the pixels alone.
        """
        rgb = to_rgb(image)
        clean = Image.new("RGB", rgb.size)
        clean.paste(rgb)
        image_id = self._write(png_bytes(clean))
        self._remember(image_id, clean)
        return image_id

    def put_mask(self, mask: np.ndarray) -> str:
        """Gives back the id of the mask after storing it as a greyscale ("L") PNG.

        Args:
            mask: an HxW array, bool (True: inside) or float alpha in 0..1 (values outside are clipped),
                or uint8 levels 0..255.
        """
        array = np.asarray(mask)
        if array.ndim != 2 or 0 in array.shape:
            raise InputError(f"A mask must be a 2-D HxW array; got one of shape {array.shape}.")
        if array.dtype == np.bool_:
            levels = array.astype(np.uint8) * 255
        elif np.issubdtype(array.dtype, np.floating):
            alpha = np.nan_to_num(array.astype(np.float64), nan=0.0)
            levels = np.rint(np.clip(alpha, 0.0, 1.0) * 255.0).astype(np.uint8)
        elif array.dtype == np.uint8:
            levels = array.copy()  # fromarray shares memory: the caller's later changes must not reach the cache
        else:
            raise InputError(
                f"A mask must be bool, float (0..1) or uint8 (0..255); got {array.dtype}. Convert it first."
            )
        image = Image.fromarray(np.ascontiguousarray(levels))
        mask_id = self._write(png_bytes(image))
        self._remember(mask_id, image)
        return mask_id

    def get(self, image_id: str) -> Image.Image:
        """Gives back the stored picture as a fully loaded RGB image (a copy the caller may change)."""
        image = self._read(image_id)
        return image.copy() if image.mode == "RGB" else image.convert("RGB")

    def get_mask(self, mask_id: str) -> np.ndarray:
        """Gives back the stored mask as an HxW float32 array in 0..1."""
        image = self._read(mask_id)
        if image.mode != "L":
            image = image.convert("L")
        return np.asarray(image, dtype=np.float32) / 255.0

    def path(self, image_id: str) -> Path:
        """Gives back where the file of this id lives (or would live) on disk."""
        _check_id(image_id)
        return self.root / image_id[:2] / f"{image_id}.png"

    def has(self, image_id: str) -> bool:
        """Gives back whether the store holds a file with this id."""
        return self.path(image_id).is_file()

    def _write(self, data: bytes) -> str:
        image_id = content_id(data)
        path = self.path(image_id)
        # Same id, same bytes: an intact file needs no second write, a damaged one is replaced.
        if not _holds(path, data):
            atomic_write(path, data)
        return image_id

    def _read(self, image_id: str) -> Image.Image:
        path = self.path(image_id)
        with self._lock:
            cached = self._cache.get(image_id)
            if cached is not None:
                self._cache.move_to_end(image_id)
                return cached
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(
                f"There is no image with id {image_id} in this session's store; send the image again."
            ) from None
        if content_id(data) != image_id:
            raise DamagedImageError(
                f"The stored file {path} is damaged: its content no longer matches its id. "
                "Send the image again, or restore the file from a backup."
            )
        image = Image.open(io.BytesIO(data))
        image.load()
        self._remember(image_id, image)
        return image

    def _remember(self, image_id: str, image: Image.Image) -> None:
        size = image.width * image.height * len(image.getbands())
        if size > self.cache_bytes:
            return
        with self._lock:
            if image_id in self._cache:
                self._cache.move_to_end(image_id)
                return
            self._cache[image_id] = image
            self._cached_bytes += size
            while self._cached_bytes > self.cache_bytes:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= old.width * old.height * len(old.getbands())


def _check_id(image_id: str) -> None:
    """Raises InputError unless the id is 64 lowercase hex characters, before any path is built from it."""
    if not isinstance(image_id, str) or not _ID.fullmatch(image_id):
        shown = repr(image_id) if len(repr(image_id)) <= 80 else repr(image_id)[:77] + "..."
        raise InputError(
            f"{shown} is not an image id; an id is the 64 lowercase hex characters the store gave back."
        )


def _holds(path: Path, data: bytes) -> bool:
    """Gives back whether the file at `path` exists and holds exactly `data`."""
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False

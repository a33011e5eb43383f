"""The image store: PNG files on disk, named by the sha256 of their pixels.

Graph state and session history hold image ids, never pixels. An id names exactly one picture (its
mode, size and pixel bytes), so a file is written once and never changes: writes are atomic renames
(readers in any thread or process see a whole file or none), a second `put` of the same picture finds
the file already there, and a read checks the decoded pixels against their id so that a damaged file
is reported instead of showing wrong pixels.

Writes happen behind the caller: `put` hashes the pixels, keeps the picture in memory and gives back
its id at once, while one background thread encodes the PNG and writes it. Until then the picture is
read from memory. `flush()` waits until everything put so far is on disk and raises the error of a
write that failed; whatever durably records an id (a session checkpoint) must flush first, so that a
crash can never leave a committed reference to a file that was not written.

Layout: `root/ab/abcdef....png`, sharded by the first two hex characters of the id.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import sys
import threading
import zlib
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from chatedit.tools.errors import DamagedImageError, InputError
from chatedit.tools.images import atomic_write, content_id, to_rgb

_ID = re.compile(r"[0-9a-f]{64}")

CACHE_BYTES = 256 * 1024 * 1024
"""Default budget (bytes of decoded pixels) of the in-memory cache of recently used images."""

_PNG_COLOUR_TYPES = {"L": 0, "RGB": 2}
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
"""The IEND chunk every whole PNG file ends with."""


class ImageStore:
    """Images and masks as content-addressed PNG files under one folder; safe across threads and processes.

    Every method that takes an id refuses a malformed one (not 64 lowercase hex characters) with
    InputError before any path is built from it.

    Args:
        root: the folder that holds the files; created when missing.
        cache_bytes: how many bytes of decoded pixels to keep in memory for repeated reads (0: none).
            Pictures waiting for their file to be written are kept whatever the budget.
    """

    def __init__(self, root: str | os.PathLike, *, cache_bytes: int = CACHE_BYTES):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, Image.Image] = OrderedDict()
        self._cached_bytes = 0
        self._pending: dict[str, tuple[Image.Image, Future]] = {}
        self._on_disk: set[str] = set()
        """Ids whose file this store wrote, or found intact, in this process."""
        self._errors: list[BaseException] = []
        self._lock = threading.Lock()
        # One writer keeps the order of writes and leaves the other cores to the models.
        self._writer = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="chatedit-store", initializer=_yield_to_other_threads
        )

    def put(self, image: Image.Image) -> str:
        """Gives back the id of the image, stored as an RGB PNG (once: the same picture, the same id).

        Transparency is composited on white and other modes converted, as `tools.images.load_image` does;
        metadata (ICC profile, EXIF, text chunks) is dropped, so the id depends on the pixels alone.
        The file is written in the background: see `flush`.
        """
        rgb = to_rgb(image)
        pixels = rgb.tobytes()
        return self._put(Image.frombytes("RGB", rgb.size, pixels), pixels)

    def put_mask(self, mask: np.ndarray) -> str:
        """Gives back the id of the mask, stored as a greyscale ("L") PNG.

        Args:
            mask: an HxW array, bool (True: inside) or float alpha in 0..1 (values outside are clipped),
                or uint8 levels 0..255.
        """
        array = np.asarray(mask)
        if array.ndim != 2 or 0 in array.shape:
            raise InputError(f"A mask must be a 2-D HxW array; got one of shape {array.shape}.")
        if array.dtype == np.bool_:
            levels = array.view(np.uint8) * np.uint8(255)
        elif np.issubdtype(array.dtype, np.floating):
            alpha = np.nan_to_num(array.astype(np.float64), nan=0.0)
            levels = np.rint(np.clip(alpha, 0.0, 1.0) * 255.0).astype(np.uint8)
        elif array.dtype == np.uint8:
            levels = array
        else:
            raise InputError(
                f"A mask must be bool, float (0..1) or uint8 (0..255); got {array.dtype}. Convert it first."
            )
        # tobytes copies: the caller's later changes to its array cannot reach the stored mask.
        pixels = np.ascontiguousarray(levels).tobytes()
        height, width = array.shape
        return self._put(Image.frombytes("L", (width, height), pixels), pixels)

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

    def flush(self) -> None:
        """Waits until every picture put so far is on disk; raises the error of a write that failed.

        Call it before recording ids anywhere that outlives the process (a checkpoint, a file).
        A failed picture stays readable from memory for now, and putting it again retries the write.
        """
        with self._lock:
            writes = [write for _, write in self._pending.values()]
        for write in writes:
            write.result()
        with self._lock:
            errors, self._errors = self._errors, []
        if errors:
            raise errors[0]

    def path(self, image_id: str) -> Path:
        """Gives back where the file of this id lives (or would live) on disk, after its write if pending."""
        _check_id(image_id)
        with self._lock:
            entry = self._pending.get(image_id)
        if entry is not None:
            entry[1].result()
        return self._file(image_id)

    def has(self, image_id: str) -> bool:
        """Gives back whether the store holds this picture (on disk, or being written)."""
        _check_id(image_id)
        with self._lock:
            if image_id in self._pending:
                return True
        return self._file(image_id).is_file()

    def _file(self, image_id: str) -> Path:
        return self.root / image_id[:2] / f"{image_id}.png"

    def _put(self, image: Image.Image, pixels: bytes) -> str:
        image_id = pixel_id(image.mode, image.size, pixels)
        with self._lock:
            queued = image_id in self._pending
            known = image_id in self._on_disk
        if not queued and not (known and self._file(image_id).is_file()):
            with self._lock:
                if image_id not in self._pending:
                    self._pending[image_id] = (image, self._writer.submit(self._write, image_id, image))
        self._remember(image_id, image)
        return image_id

    def _write(self, image_id: str, image: Image.Image) -> None:
        """Writes the picture's file unless an intact one is there (runs on the writer thread)."""
        try:
            path = self._file(image_id)
            # Same id, same pixels: an intact file needs no second write, a damaged one is replaced.
            if not _holds(path, image_id):
                atomic_write(path, encode_png(image))
            with self._lock:
                self._on_disk.add(image_id)
        except BaseException as error:  # handed to the caller of flush(), on its own thread
            with self._lock:
                self._errors.append(error)
        finally:
            with self._lock:
                self._pending.pop(image_id, None)

    def _read(self, image_id: str) -> Image.Image:
        _check_id(image_id)
        with self._lock:
            entry = self._pending.get(image_id)
            if entry is not None:
                return entry[0]
            cached = self._cache.get(image_id)
            if cached is not None:
                self._cache.move_to_end(image_id)
                return cached
        path = self._file(image_id)
        try:
            image = _load(path, image_id)
        except FileNotFoundError:
            raise InputError(
                f"There is no image with id {image_id} in this session's store; send the image again."
            ) from None
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


def _yield_to_other_threads() -> None:
    """Lowers the calling thread's scheduling priority by 10 niceness steps (Linux: niceness is per thread).

    PNG encoding can wait: on a machine with few cores it should run when the model threads leave a
    core idle, not slow them down. A thread that waits in `flush` leaves its core to the writer.
    """
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(os.getpriority(os.PRIO_PROCESS, thread) + 10, 19))
    except OSError:  # a sandbox that forbids it: the writer still works, at the usual priority
        pass


def pixel_id(mode: str, size: tuple[int, int], pixels: bytes) -> str:
    """Gives back the id of a picture: the sha256 of its mode, size and raw pixel bytes.

    The same key as `tools.segment.image_key`, so a stored RGB picture and SAM's cached encoding of
    it share one name.
    """
    digest = hashlib.sha256(f"{mode}:{size[0]}x{size[1]}:".encode())
    digest.update(pixels)
    return digest.hexdigest()


def encode_png(image: Image.Image) -> bytes:
    """Gives back an "L" or "RGB" image as a PNG file, each row stored as its difference from the row above.

    PNG's "Up" filter with zlib's fastest level encodes a photo about twice as fast as PIL's
    adaptive filtering, at about the same size; every PNG reader decodes it.
    """
    rows = np.asarray(image).reshape(image.height, -1)
    filtered = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2  # the row's filter type: Up
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 wraps modulo 256, as PNG defines
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, _PNG_COLOUR_TYPES[image.mode], 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(filtered.tobytes(), 1)),
            _PNG_END,
        ]
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _load(path: Path, image_id: str) -> Image.Image:
    """Gives back the decoded picture at `path` after checking it against its id; raises FileNotFoundError."""
    data = path.read_bytes()
    image = None
    # A cut-short file can still decode to the right pixels, but must not be served as a file.
    if data.endswith(_PNG_END):
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError, zlib.error):
            image = None
    # Files written before ids named pixels are named by the sha256 of their bytes.
    if image is None or (pixel_id(image.mode, image.size, image.tobytes()) != image_id and content_id(data) != image_id):
        raise DamagedImageError(
            f"The stored file {path} is damaged: its content no longer matches its id. "
            "Send the image again, or restore the file from a backup."
        )
    return image


def _holds(path: Path, image_id: str) -> bool:
    """Gives back whether the file at `path` exists and holds the picture of `image_id`."""
    try:
        _load(path, image_id)
    except (FileNotFoundError, DamagedImageError):
        return False
    return True


def _check_id(image_id: str) -> None:
    """Raises InputError unless the id is 64 lowercase hex characters, before any path is built from it."""
    if not isinstance(image_id, str) or not _ID.fullmatch(image_id):
        shown = repr(image_id) if len(repr(image_id)) <= 80 else repr(image_id)[:77] + "..."
        raise InputError(
            f"{shown} is not an image id; an id is the 64 lowercase hex characters the store gave back."
        )

"""The image stores: PNG files on disk, or rows of a PostgreSQL table, named by the sha256 of their pixels.

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

Layout on disk: `root/ab/abcdef....png`, sharded by the first two hex characters of the id.
`PostgresImageStore` keeps the same PNG bytes in one table keyed by id (pictures and masks alike), so
that every replica of a server reads what any of them wrote; see `agent.database`.
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
import psycopg
from PIL import Image
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

from chatedit.tools.errors import DamagedImageError, InputError
from chatedit.tools.images import atomic_write, to_rgb

_ID = re.compile(r"[0-9a-f]{64}")

CACHE_BYTES = 256 * 1024 * 1024
"""Default budget (bytes of decoded pixels) of the in-memory cache of recently used images."""
KEPT_PICTURES = 2
"""Pictures the cache keeps even over its budget: the latest before and after, whatever their size."""

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
        self._settled(image_id)
        return self._file(image_id)

    def png(self, image_id: str) -> bytes:
        """Gives back the stored PNG of this id as it is kept (no second encoding), or raises InputError."""
        self._settled(image_id)
        data = self._bytes(image_id)
        if data is None:
            raise InputError(f"There is no image with id {image_id} in this store; send the image again.")
        return data

    def _settled(self, image_id: str) -> None:
        """Waits for a pending write of this id to end."""
        _check_id(image_id)
        with self._lock:
            entry = self._pending.get(image_id)
        if entry is not None:
            entry[1].result()

    def has(self, image_id: str) -> bool:
        """Gives back whether the store holds this picture (on disk, or being written)."""
        _check_id(image_id)
        with self._lock:
            if image_id in self._pending:
                return True
        return self._exists(image_id)

    def _file(self, image_id: str) -> Path:
        return self.root / image_id[:2] / f"{image_id}.png"

    # Where the PNG bytes live: a file per id here; `PostgresImageStore` overrides these four.

    def _bytes(self, image_id: str) -> bytes | None:
        """Gives back the stored PNG of this id (not checked against the id), or None when absent."""
        try:
            return self._file(image_id).read_bytes()
        except FileNotFoundError:
            return None

    def _exists(self, image_id: str) -> bool:
        """Gives back whether the PNG of this id is stored (not checked against the id)."""
        return self._file(image_id).is_file()

    def _fetch(self, image_id: str) -> Image.Image:
        """Gives back the stored picture, checked against its id; raises FileNotFoundError when absent."""
        path = self._file(image_id)
        image = _decode(path.read_bytes(), image_id)
        if image is None:
            raise DamagedImageError(
                f"The stored file {path} is damaged: its content no longer matches its id. "
                "Send the image again, or restore the file from a backup."
            )
        return image

    def _save(self, image_id: str, data: bytes) -> None:
        """Stores the PNG bytes of this id, replacing whatever was there (atomically)."""
        atomic_write(self._file(image_id), data)

    def _intact(self, image_id: str) -> bool:
        """Gives back whether the store holds the picture of `image_id`, whole and matching its id."""
        try:
            self._fetch(image_id)
        except (FileNotFoundError, DamagedImageError):
            return False
        return True

    def _put(self, image: Image.Image, pixels: bytes) -> str:
        image_id = pixel_id(image.mode, image.size, pixels)
        with self._lock:
            queued = image_id in self._pending
            known = image_id in self._on_disk
        if not queued and not (known and self._exists(image_id)):
            with self._lock:
                if image_id not in self._pending:
                    self._pending[image_id] = (image, self._writer.submit(self._write, image_id, image))
        self._remember(image_id, image)
        return image_id

    def _write(self, image_id: str, image: Image.Image) -> None:
        """Stores the picture's PNG unless an intact one is there (runs on the writer thread)."""
        try:
            # Same id, same pixels: an intact copy needs no second write, a damaged one is replaced.
            if not self._intact(image_id):
                self._save(image_id, encode_png(image))
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
        try:
            image = self._fetch(image_id)
        except FileNotFoundError:
            raise InputError(
                f"There is no image with id {image_id} in this session's store; send the image again."
            ) from None
        self._remember(image_id, image)
        return image

    def _remember(self, image_id: str, image: Image.Image) -> None:
        size = image.width * image.height * len(image.getbands())
        if self.cache_bytes <= 0:
            return
        with self._lock:
            if image_id in self._cache:
                self._cache.move_to_end(image_id)
                return
            self._cache[image_id] = image
            self._cached_bytes += size
            # The budget may be passed by the last two pictures: a step compares its before and after,
            # and decoding a 48 MP PNG again for each look costs a second or more.
            while self._cached_bytes > self.cache_bytes and len(self._cache) > KEPT_PICTURES:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= old.width * old.height * len(old.getbands())


IMAGES_TABLE = "chatedit_images"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {IMAGES_TABLE} (
    id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{{64}}$'),
    png bytea NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now()
)
"""


class PostgresImageStore(ImageStore):
    """Images and masks as PNG bytes in one PostgreSQL table keyed by id, shared by every replica.

    It behaves as ImageStore: `put` answers at once while one background thread inserts the row
    (`flush` waits for it), and reads check the pixels against the id. `path` gives a local copy of
    the file under `root`, written from the database on first use, for what needs a file (turn
    reports, HTTP responses); that folder is only a cache and may be deleted at any time.

    Args:
        pool: a psycopg_pool ConnectionPool on the database, whose table `setup` has made.
        root: the folder of local copies; created when missing.
        cache_bytes: how many bytes of decoded pixels to keep in memory, as ImageStore's.
    """

    def __init__(self, pool: ConnectionPool, root: str | os.PathLike, *, cache_bytes: int = CACHE_BYTES):
        super().__init__(root, cache_bytes=cache_bytes)
        self.pool = pool

    @staticmethod
    def setup(conn: psycopg.Connection) -> None:
        """Creates the images table when missing; concurrent callers must hold one lock around it."""
        conn.execute(_SCHEMA)

    def path(self, image_id: str) -> Path:
        """Gives back a local file holding this picture, copied from the database unless already there.

        Only the LangGraph entry needs a file (its answer names one); everything else reads `png` or
        `get`. The path is given back even when the database has no such picture (and no file is there).
        """
        path = super().path(image_id)
        if not path.is_file():
            data = self._row(image_id)
            if data is not None:
                self._check(data, image_id)
                atomic_write(path, data)
        return path

    def _bytes(self, image_id: str) -> bytes | None:
        return self._row(image_id)

    def _row(self, image_id: str) -> bytes | None:
        with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(f"SELECT png FROM {IMAGES_TABLE} WHERE id = %s", (image_id,))
            row = cursor.fetchone()
        return None if row is None else bytes(row[0])

    def _exists(self, image_id: str) -> bool:
        with self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(f"SELECT 1 FROM {IMAGES_TABLE} WHERE id = %s", (image_id,))
            return cursor.fetchone() is not None

    def _fetch(self, image_id: str) -> Image.Image:
        data = self._row(image_id)
        if data is None:
            raise FileNotFoundError(image_id)
        return self._check(data, image_id)

    def _save(self, image_id: str, data: bytes) -> None:
        # Two replicas may store the same picture at once: the second finds the row and rewrites it whole.
        with self.pool.connection() as conn:
            conn.execute(
                f"INSERT INTO {IMAGES_TABLE} (id, png) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET png = EXCLUDED.png",
                (image_id, data),
            )

    @staticmethod
    def _check(data: bytes, image_id: str) -> Image.Image:
        """Gives back the decoded picture of a row's PNG; raises DamagedImageError when it does not match its id."""
        image = _decode(data, image_id)
        if image is None:
            raise DamagedImageError(
                f"The stored picture {image_id} in the database is damaged: its content no longer matches "
                "its id. Send the image again, or restore the database from a backup."
            )
        return image


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


def _decode(data: bytes, image_id: str) -> Image.Image | None:
    """Gives back the decoded picture of a stored PNG, or None when it does not match its id."""
    # A cut-short file can still decode to the right pixels, but must not be served as a file.
    if not data.endswith(_PNG_END):
        return None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error):
        return None
    return image if pixel_id(image.mode, image.size, image.tobytes()) == image_id else None


def _check_id(image_id: str) -> None:
    """Raises InputError unless the id is 64 lowercase hex characters, before any path is built from it."""
    if not isinstance(image_id, str) or not _ID.fullmatch(image_id):
        shown = repr(image_id) if len(repr(image_id)) <= 80 else repr(image_id)[:77] + "..."
        raise InputError(f"{shown} is not an image id; an id is the 64 lowercase hex characters the store gave back.")

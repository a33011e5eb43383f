"""Tests of the content-addressed image store (agent/store.py)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chatedit.agent import store as store_module
from chatedit.agent.store import DamagedImageError, ImageStore, encode_png
from chatedit.tools.errors import InputError
from tests.helpers import random_image

REPO = Path(__file__).resolve().parents[1]


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def test_rgb_round_trip_is_pixel_exact(store, odd_photo):
    for image in (random_image(37, 23, seed=1), odd_photo):
        image_id = store.put(image)
        back = store.get(image_id)
        assert back.mode == "RGB" and back.size == image.size
        np.testing.assert_array_equal(np.asarray(back), np.asarray(image))
        store.flush()
        # A fresh store on the same folder reads from disk, not from the cache.
        from_disk = ImageStore(store.root).get(image_id)
        np.testing.assert_array_equal(np.asarray(from_disk), np.asarray(image))


def test_id_is_the_sha256_of_the_pixels(store):
    image = random_image(8, 6)
    image_id = store.put(image)
    path = store.path(image_id)
    assert path == store.root / image_id[:2] / f"{image_id}.png"
    assert image_id == hashlib.sha256(b"RGB:8x6:" + image.tobytes()).hexdigest()
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    mask = np.eye(5, 7, dtype=bool)
    levels = mask.astype(np.uint8) * 255
    assert store.put_mask(mask) == hashlib.sha256(b"L:7x5:" + levels.tobytes()).hexdigest()


@pytest.mark.parametrize("mode, shape", [("RGB", (1, 1, 3)), ("RGB", (13, 29, 3)), ("L", (7, 1)), ("L", (40, 33))])
def test_encode_png_round_trips_exactly(mode, shape):
    pixels = np.random.default_rng(4).integers(0, 256, shape, dtype=np.uint8)
    image = Image.fromarray(pixels, mode)
    back = Image.open(io.BytesIO(encode_png(image)))
    assert back.mode == mode and back.size == image.size
    np.testing.assert_array_equal(np.asarray(back), pixels)


def test_put_answers_before_the_file_is_written(store, monkeypatch):
    release = threading.Event()
    real_write = store_module.atomic_write

    def slow_write(path, data):
        release.wait(timeout=30)
        return real_write(path, data)

    monkeypatch.setattr(store_module, "atomic_write", slow_write)
    image = random_image(12, 10, seed=8)
    image_id = store.put(image)
    mask_id = store.put_mask(np.eye(10, 12, dtype=bool))
    # Not on disk yet, but the store already holds both and reads them from memory.
    assert stored_files(store.root) == []
    assert store.has(image_id) and store.has(mask_id)
    np.testing.assert_array_equal(np.asarray(store.get(image_id)), np.asarray(image))
    np.testing.assert_array_equal(store.get_mask(mask_id), np.eye(10, 12, dtype=np.float32))
    release.set()
    store.flush()
    assert stored_files(store.root) == sorted([store.path(image_id), store.path(mask_id)])
    np.testing.assert_array_equal(np.asarray(ImageStore(store.root).get(image_id)), np.asarray(image))


def test_path_waits_for_its_file(store, monkeypatch):
    real_write = store_module.atomic_write

    def slow_write(path, data):
        time.sleep(0.2)
        return real_write(path, data)

    monkeypatch.setattr(store_module, "atomic_write", slow_write)
    image_id = store.put(random_image(5, 5, seed=9))
    assert store.path(image_id).is_file()


def test_same_image_gives_same_id_and_one_file(store):
    image = random_image(16, 12, seed=3)
    twin = image.copy()
    twin.info["icc_profile"] = b"not a real profile"  # metadata must not change the id
    ids = {store.put(image), store.put(image), store.put(twin)}
    assert len(ids) == 1
    store.flush()
    assert store.put(image) in ids  # already on disk: nothing to write
    assert stored_files(store.root) == [store.path(ids.pop())]


def test_different_images_get_different_ids(store):
    a = random_image(8, 8, seed=1)
    b = a.copy()
    b.putpixel((7, 7), (0, 0, 0) if a.getpixel((7, 7)) != (0, 0, 0) else (1, 1, 1))
    assert store.put(a) != store.put(b)


def test_put_stores_rgb_with_transparency_on_white(store):
    rgba = Image.new("RGBA", (4, 2), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 255, 0))
    back = store.get(store.put(rgba))
    assert back.mode == "RGB"
    assert back.getpixel((0, 0)) == (255, 255, 255)
    assert back.getpixel((3, 1)) == (255, 0, 0)
    grey = store.get(store.put(Image.new("L", (3, 3), 77)))
    assert grey.mode == "RGB" and grey.getpixel((1, 1)) == (77, 77, 77)


def test_get_gives_a_copy_the_caller_may_change(store):
    image_id = store.put(Image.new("RGB", (4, 4), (10, 20, 30)))
    first = store.get(image_id)
    first.paste((255, 255, 255), (0, 0, 4, 4))
    assert store.get(image_id).getpixel((2, 2)) == (10, 20, 30)


def test_bool_mask_round_trip(store):
    mask = np.zeros((31, 17), dtype=bool)
    mask[4:20, 3:9] = True
    mask_id = store.put_mask(mask)
    back = store.get_mask(mask_id)
    assert back.dtype == np.float32 and back.shape == (31, 17)
    np.testing.assert_array_equal(back, mask.astype(np.float32))
    on_disk = Image.open(store.path(mask_id))
    assert on_disk.mode == "L" and set(np.unique(np.asarray(on_disk))) == {0, 255}


def test_float_mask_round_trip_is_exact_on_8_bit_levels(store):
    levels = np.random.default_rng(0).integers(0, 256, (19, 23))
    mask = levels.astype(np.float32) / 255.0
    back = store.get_mask(store.put_mask(mask))
    np.testing.assert_array_equal(back, mask)
    np.testing.assert_array_equal(np.asarray(Image.open(store.path(store.put_mask(mask)))), levels)


def test_float_mask_is_clipped_and_nan_is_outside(store):
    mask = np.array([[-0.5, 0.5, 1.7, np.nan]], dtype=np.float64)
    back = store.get_mask(store.put_mask(mask))
    np.testing.assert_allclose(back, [[0.0, 128 / 255, 1.0, 0.0]], atol=1e-7)


def test_uint8_mask_is_copied_not_shared(store):
    mask = np.full((5, 5), 200, dtype=np.uint8)
    mask_id = store.put_mask(mask)
    mask[:] = 0  # the caller reuses its buffer
    np.testing.assert_allclose(store.get_mask(mask_id), 200 / 255)


@pytest.mark.parametrize(
    "mask",
    [np.zeros((4, 4, 3), bool), np.zeros((0, 4), bool), np.zeros(4, bool), np.zeros((4, 4), np.int64)],
    ids=["3-d", "empty", "1-d", "int64"],
)
def test_bad_masks_are_refused(store, mask):
    with pytest.raises(InputError, match="mask must be"):
        store.put_mask(mask)
    assert stored_files(store.root) == []


def test_mask_and_image_ids_share_one_namespace(store):
    mask_id = store.put_mask(np.eye(6, dtype=bool))
    as_image = store.get(mask_id)
    assert as_image.mode == "RGB" and as_image.getpixel((0, 0)) == (255, 255, 255)
    assert as_image.getpixel((1, 0)) == (0, 0, 0)
    image_id = store.put(Image.new("RGB", (2, 2), (255, 255, 255)))
    np.testing.assert_array_equal(store.get_mask(image_id), np.ones((2, 2), np.float32))


def test_concurrent_puts_from_threads(store):
    images = [random_image(24, 16, seed=seed) for seed in range(4)]
    expected = [ImageStore(store.root.parent / "reference").put(image) for image in images]

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(store.put, images * 16))

    assert ids == expected * 16
    store.flush()
    assert stored_files(store.root) == sorted(store.path(i) for i in expected)
    for image, image_id in zip(images, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(ImageStore(store.root).get(image_id)), np.asarray(image))


def test_concurrent_gets_and_puts_share_the_cache_safely(tmp_path):
    store = ImageStore(tmp_path, cache_bytes=2 * 24 * 16 * 3)  # room for two: constant eviction
    images = [random_image(24, 16, seed=seed) for seed in range(5)]
    ids = [store.put(image) for image in images]

    def read(k: int) -> bool:
        return np.array_equal(np.asarray(store.get(ids[k % 5])), np.asarray(images[k % 5]))

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert all(pool.map(read, range(200)))


def test_concurrent_puts_from_processes(tmp_path):
    root = tmp_path / "shared"
    script = textwrap.dedent(
        f"""
        import numpy as np
        from PIL import Image
        from chatedit.agent.store import ImageStore
        store = ImageStore({str(root)!r})
        for seed in range(6):
            rng = np.random.default_rng(seed)
            print(store.put(Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=120)[0].split() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    expected = [ImageStore(tmp_path / "reference").put(random_image(30, 20, seed=seed)) for seed in range(6)]
    assert outputs == [expected] * 3
    assert stored_files(root) == sorted(ImageStore(root).path(i) for i in expected)


def test_no_temp_files_left(store):
    for seed in range(5):
        store.put(random_image(10, 10, seed=seed))
        store.put_mask(np.random.default_rng(seed).random((10, 10)) > 0.5)
    store.flush()
    names = [p.name for p in stored_files(store.root)]
    assert len(names) == 10
    assert all(len(name) == 68 and name.endswith(".png") and not name.startswith(".") for name in names)


@pytest.mark.parametrize(
    "bad_id",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        "",
        "abc123",
        "a" * 63,
        "a" * 65,
        "A" * 64,
        "g" * 64,
        "a" * 62 + "/x",
        "../" + "a" * 61,
        "a" * 64 + "\n",
        "a" * 60 + ".png",
        None,
        b"a" * 64,
    ],
    ids=lambda value: repr(value)[:20],
)
def test_invalid_ids_are_refused_before_touching_the_disk(store, bad_id):
    for method in (store.get, store.get_mask, store.has, store.path):
        with pytest.raises(InputError, match="is not an image id"):
            method(bad_id)
    assert list(store.root.iterdir()) == []


def test_invalid_id_message_is_short(store):
    with pytest.raises(InputError) as caught:
        store.get("x" * 10_000)
    assert len(str(caught.value)) < 200


def test_unknown_id_is_refused_clearly(store):
    unknown = "0" * 64
    assert not store.has(unknown)
    for method in (store.get, store.get_mask):
        with pytest.raises(InputError, match=f"no image with id {unknown} in this session's store"):
            method(unknown)


def test_damaged_file_is_detected(store):
    image = random_image(20, 20, seed=5)
    image_id = store.put(image)
    path = store.path(image_id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    fresh = ImageStore(store.root)  # no cached pixels to hide the damage
    with pytest.raises(DamagedImageError, match="damaged"):
        fresh.get(image_id)
    with pytest.raises(DamagedImageError):
        fresh.get_mask(image_id)

    # Storing the picture again repairs the file.
    assert fresh.put(image) == image_id
    fresh.flush()
    np.testing.assert_array_equal(np.asarray(ImageStore(store.root).get(image_id)), np.asarray(image))


def test_truncated_file_is_detected(store):
    image_id = store.put(random_image(20, 20, seed=6))
    path = store.path(image_id)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DamagedImageError):
        ImageStore(store.root).get(image_id)


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()], ids=["oserror", "interrupt"])
def test_interrupted_put_leaves_no_partial_file(store, monkeypatch, failure):
    image = random_image(12, 9, seed=7)

    def broken_replace(src, dst):
        raise failure

    monkeypatch.setattr(os, "replace", broken_replace)
    image_id = store.put(image)
    store.put_mask(np.ones((3, 3), bool))
    with pytest.raises(type(failure)):
        store.flush()
    assert stored_files(store.root) == []
    store.flush()  # an error is reported once
    monkeypatch.undo()

    # The failed picture is still in memory, and putting it again writes it.
    np.testing.assert_array_equal(np.asarray(store.get(image_id)), np.asarray(image))
    assert store.put(image) == image_id
    assert store.has(image_id)
    store.flush()
    np.testing.assert_array_equal(np.asarray(ImageStore(store.root).get(image_id)), np.asarray(image))
    assert stored_files(store.root) == [store.path(image_id)]


def test_cache_keeps_recent_images_and_evicts_old_ones(tmp_path):
    store = ImageStore(tmp_path, cache_bytes=2 * 10 * 10 * 3)
    images = [random_image(10, 10, seed=seed) for seed in range(3)]
    ids = [store.put(image) for image in images]
    store.get(ids[1])  # ids[1] is now the most recent, ids[0] the oldest
    for image_id in ids:
        store.path(image_id).unlink()

    np.testing.assert_array_equal(np.asarray(store.get(ids[1])), np.asarray(images[1]))
    np.testing.assert_array_equal(np.asarray(store.get(ids[2])), np.asarray(images[2]))
    with pytest.raises(InputError, match="no image with id"):
        store.get(ids[0])


def test_no_cache_reads_the_disk_every_time(tmp_path):
    store = ImageStore(tmp_path, cache_bytes=0)
    image_id = store.put(random_image(6, 6))
    store.path(image_id).unlink()
    assert not store.has(image_id)
    with pytest.raises(InputError):
        store.get(image_id)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness is per thread on Linux only")
def test_the_writer_thread_yields_to_the_callers_threads(store):
    store.put(random_image(4, 4, seed=12))
    store.flush()
    writers = [t for t in threading.enumerate() if t.name.startswith("chatedit-store")]
    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert writers
    assert all(os.getpriority(os.PRIO_PROCESS, t.native_id) == min(caller + 10, 19) for t in writers)

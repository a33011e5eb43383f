"""Shared fixtures: real photos that need no network."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

pytest_plugins = ["tests.fake_llm", "tests.postgres", "tests.smollm2"]

EVAL_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "eval" / "images" / "editeval_v1"


def _photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


@pytest.fixture(scope="session")
def coffee() -> Image.Image:
    return _photo("coffee")


@pytest.fixture(scope="session")
def astronaut() -> Image.Image:
    return _photo("astronaut")


@pytest.fixture(scope="session")
def chelsea() -> Image.Image:
    return _photo("chelsea")


@pytest.fixture(scope="session")
def small_photo(coffee) -> Image.Image:
    """The coffee photo at 96x64: small enough for a whole turn of the tiny models in a second."""
    return coffee.resize((96, 64), Image.Resampling.BICUBIC)


@pytest.fixture(scope="session")
def odd_photo(coffee) -> Image.Image:
    """A real photo at an odd size (601x403), to catch off-by-one and multiple-of-8 assumptions."""
    return coffee.resize((601, 403), Image.Resampling.BICUBIC)


@pytest.fixture(scope="session")
def eval_photo() -> Image.Image:
    """A photo from the shared eval set when present, else the astronaut."""
    path = EVAL_IMAGES / "object_removel_1.jpg"
    if path.exists():
        return Image.open(path).convert("RGB")
    from skimage import data

    return Image.fromarray(data.astronaut())


@pytest.fixture(scope="session", autouse=True)
def _tiny_model_cache(tmp_path_factory):
    """Builds the tiny weights' models once per test run, in a temporary folder."""
    import os

    folder = tmp_path_factory.mktemp("chatedit-cache")
    previous = os.environ.get("CHATEDIT_CACHE_DIR")
    os.environ["CHATEDIT_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("CHATEDIT_CACHE_DIR", None)
    else:
        os.environ["CHATEDIT_CACHE_DIR"] = previous


@pytest.fixture(scope="module")
def one_torch_thread():
    """Runs the tiny models on one thread: they gain nothing from more, and lose a lot on shared cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

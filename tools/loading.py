"""Quiet model loading: chatedit reports its own progress, so the libraries' loading bars stay off.

transformers, diffusers and huggingface_hub each draw tqdm bars while they read or write weights
("Loading weights", "Loading pipeline components...", "Fetching files"). `quiet_loading` turns them off
through each library's own switch for as long as chatedit loads, and puts the switches back as they
were afterwards. It also drops two of transformers' notices about paths chatedit takes on purpose: that
an image processor falls back to its PIL version, which only a setup without torchvision (a dependency)
would print (PIL works, just slower), and that SAM 3's tracker is loaded from the sam3_video checkpoint
it shares with the concept model (transformers' own conversion maps it; see tools/sam3_models.py).
A user who sets HF_HUB_DISABLE_PROGRESS_BARS=0 asked for the bars and keeps them.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

_INTENDED = {
    "transformers.utils.import_utils": "requires torchvision (not installed); falling back to",
    "transformers.configuration_utils": "to instantiate a model of type `sam3_tracker`",
}
"""Per logger, the notice of a path chatedit takes on purpose."""


class _Drop(logging.Filter):
    def __init__(self, notice: str):
        super().__init__()
        self.notice = notice

    def filter(self, record: logging.LogRecord) -> bool:
        return self.notice not in record.getMessage()


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Gives back a context in which models load without the libraries' progress bars or notices of intended paths."""
    from huggingface_hub import constants as hub_constants

    drops = {logging.getLogger(name): _Drop(notice) for name, notice in _INTENDED.items()}
    for logger, drop in drops.items():
        logger.addFilter(drop)
    asked_for_bars = hub_constants.HF_HUB_DISABLE_PROGRESS_BARS is False
    try:
        with contextlib.nullcontext() if asked_for_bars else _progress_bars_off():
            yield
    finally:
        for logger, drop in drops.items():
            logger.removeFilter(drop)


@contextlib.contextmanager
def _progress_bars_off() -> Iterator[None]:
    """Gives back a context with transformers', diffusers' and huggingface_hub's bars off, as they were after."""
    from diffusers.utils import logging as diffusers_logging
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as transformers_logging

    transformers_on = transformers_logging.is_progress_bar_enabled()
    diffusers_on = diffusers_logging.is_progress_bar_enabled()
    hub_on = not hub_utils.are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()
    diffusers_logging.disable_progress_bar()
    hub_utils.disable_progress_bars()
    try:
        yield
    finally:
        # transformers' switch flips huggingface_hub's too, so the hub's own state goes back last.
        if transformers_on:
            transformers_logging.enable_progress_bar()
        if diffusers_on:
            diffusers_logging.enable_progress_bar()
        if hub_on:
            hub_utils.enable_progress_bars()
        else:
            hub_utils.disable_progress_bars()

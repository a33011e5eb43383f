"""Quiet model loading: chatedit reports its own progress, so the libraries' loading bars stay off.

transformers, diffusers and huggingface_hub each draw tqdm bars while they read or write weights
("Loading weights", "Loading pipeline components...", "Fetching files"). `quiet_loading` turns them off
through each library's own switch for as long as chatedit loads, and puts the switches back as they
were afterwards. It also drops transformers' notice that an image processor falls back to its PIL
version, which only a setup without torchvision (a dependency) would print: PIL works, just slower.
A user who sets HF_HUB_DISABLE_PROGRESS_BARS=0 asked for the bars and keeps them.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

_PIL_FALLBACK = "requires torchvision (not installed); falling back to"


class _DropPilFallback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _PIL_FALLBACK not in record.getMessage()


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Gives back a context in which models load without the libraries' progress bars or PIL-fallback notices."""
    from huggingface_hub import constants as hub_constants

    import_logger = logging.getLogger("transformers.utils.import_utils")
    drop = _DropPilFallback()
    import_logger.addFilter(drop)
    asked_for_bars = hub_constants.HF_HUB_DISABLE_PROGRESS_BARS is False
    try:
        with contextlib.nullcontext() if asked_for_bars else _progress_bars_off():
            yield
    finally:
        import_logger.removeFilter(drop)


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

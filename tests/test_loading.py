"""Model loading is quiet: no library progress bars or PIL-fallback notices, and the switches come back."""

from __future__ import annotations

import logging

import torch
from huggingface_hub import utils as hub_utils
from transformers.utils import logging as transformers_logging

from chatedit.tools.loading import quiet_loading
from chatedit.tools.sam3_models import load_sam3
from chatedit.tools.vision_models import load_detector, load_segmenter

FOREIGN = (
    "Loading weights",
    "Writing model shards",
    "Loading pipeline components",
    "it/s]",
    "falling back to",
    "to instantiate a model of type",
)


def test_loading_the_vision_models_prints_nothing(tmp_path, capfd):
    before = (transformers_logging.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled())
    for load in (load_detector, load_segmenter, load_sam3):
        load(weights="tiny", checkpoint="unused", device=torch.device("cpu"), dtype=torch.float32, cache_dir=tmp_path)
    out, err = capfd.readouterr()
    assert not [marker for marker in FOREIGN if marker in out + err], out + err
    assert (transformers_logging.is_progress_bar_enabled(), hub_utils.are_progress_bars_disabled()) == before


def test_quiet_loading_turns_the_bars_off_inside_and_back_on_after():
    transformers_logging.enable_progress_bar()
    with quiet_loading():
        assert not transformers_logging.is_progress_bar_enabled()
        assert hub_utils.are_progress_bars_disabled()
    assert transformers_logging.is_progress_bar_enabled()
    assert not hub_utils.are_progress_bars_disabled()


def test_a_user_who_asked_for_the_bars_keeps_them_but_not_the_pil_notice(monkeypatch):
    from huggingface_hub import constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_DISABLE_PROGRESS_BARS", False)
    transformers_logging.enable_progress_bar()
    logger = logging.getLogger("transformers.utils.import_utils")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        with quiet_loading():
            assert transformers_logging.is_progress_bar_enabled()
            assert not hub_utils.are_progress_bars_disabled()
            logger.warning("`X` requires torchvision (not installed); falling back to `XPil`")
    finally:
        logger.removeHandler(handler)
    assert seen == []


def test_only_the_pil_fallback_notice_is_dropped_and_only_while_loading():
    logger = logging.getLogger("transformers.utils.import_utils")
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    fallback = "`XImageProcessor` requires torchvision (not installed); falling back to `XImageProcessorPil`"
    try:
        with quiet_loading():
            logger.warning(fallback)
            logger.warning("something else")
        logger.warning(fallback)
    finally:
        logger.removeHandler(handler)
    assert seen == ["something else", fallback]

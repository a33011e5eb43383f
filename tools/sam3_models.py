"""Loaders for the SAM 3 finder: the concept model (Sam3Model) and its tracker (Sam3TrackerModel).

SAM 3 takes a noun phrase and gives back every instance of it, each with its box, score and mask, in
one model: a named target needs no second segmentation pass. Boxes and clicks (a drawn box, the
planner's box, the subject kept by a background edit) still need a promptable segmenter. That is SAM 3's
tracker, `Sam3TrackerModel`, loaded from the same checkpoint rather than SAM ViT-B beside it:
transformers maps facebook/sam3's tracker weights onto `Sam3TrackerModel` (its `sam3_tracker`
conversion: the detector's vision backbone, the tracker's neck, prompt encoder and mask decoder), so
the finder is one download under one license, and its masks for boxes and clicks come from the model
that improves on SAM and SAM 2 at exactly that task. The two models are built with copies of the same
vision backbone; the tracker is handed the concept model's, so its weights are held once.

facebook/sam3 holds the layout of transformers' `Sam3VideoModel`: the detector (`detector_model.*`),
the tracker (`tracker_model.*`) and the tracker's neck (`tracker_neck.*`). Each model loads its part:

- `real`: the checkpoint through `from_pretrained`, cache first; a gated checkpoint without access
  raises one clear error (tools/models.py `gated`).
- `tiny`: a tiny random `Sam3VideoModel` in the same layout, with a tiny CLIP tokenizer written in code,
  saved once under `cache_dir/tiny/sam3` and loaded back by both models through `from_pretrained`.
- `random`: the full-size concept model and tracker with random weights, built on the target device;
  only the processor goes through disk.
"""

from __future__ import annotations

import os
import string
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_model
from transformers import (
    CLIPTextConfig,
    CLIPTokenizer,
    Sam3Config,
    Sam3DETRDecoderConfig,
    Sam3DETREncoderConfig,
    Sam3GeometryEncoderConfig,
    Sam3ImageProcessor,
    Sam3MaskDecoderConfig,
    Sam3Model,
    Sam3Processor,
    Sam3TrackerConfig,
    Sam3TrackerModel,
    Sam3TrackerProcessor,
    Sam3TrackerVideoConfig,
    Sam3VideoConfig,
    Sam3VideoModel,
    Sam3VisionConfig,
    Sam3ViTConfig,
)
from transformers.models.sam3_tracker_video.configuration_sam3_tracker_video import (
    Sam3TrackerVideoMaskDecoderConfig,
    Sam3TrackerVideoPromptEncoderConfig,
)

from chatedit.tools.loading import quiet_loading
from chatedit.tools.models import LOAD_LOCK
from chatedit.tools.vision_models import EmbeddingCache, _build, _from_pretrained, _saved_once

TINY_SIDE = 112
"""Input side of the tiny SAM 3: an 8 x 8 grid of 14-pixel patches."""
_TINY_WIDTH = 64
"""Hidden size of every part of the tiny SAM 3 (two layers per part)."""
_CHARACTERS = list(string.ascii_lowercase + string.digits + ".,'-?!")


@dataclass(eq=False)
class Sam3Bundle:
    """SAM 3 on one device and dtype: the concept model that finds a phrase's instances, and its tracker."""

    model: Sam3Model
    processor: Sam3Processor
    tracker: Sam3TrackerModel
    """Segments boxes and clicks; shares `model`'s vision backbone."""
    tracker_processor: Sam3TrackerProcessor
    device: torch.device
    dtype: torch.dtype
    features: EmbeddingCache = field(default_factory=EmbeddingCache, repr=False)
    """The concept model's vision features per image, for every phrase asked about it."""
    embeddings: EmbeddingCache = field(default_factory=EmbeddingCache, repr=False)
    """The tracker's image embeddings per image, for every box and click on it."""


def load_sam3(
    *,
    weights: str,
    checkpoint: str,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: str | os.PathLike,
) -> Sam3Bundle:
    """Gives back the SAM 3 bundle of these weights, in eval mode on `device`.

    Args:
        weights: `real` (the checkpoint), `tiny` or `random` (full-size random weights).
        checkpoint: the Hugging Face id loaded by the `real` weights (facebook/sam3).
        device: where the models run.
        dtype: the weight dtype asked for; half precision becomes bfloat16, the precision SAM 3's own
            code runs in.
        cache_dir: where the `tiny` and `random` weights keep what they save.

    Raises:
        ModelUnavailableError: `real` weights, checkpoint neither cached nor downloadable, or gated
            and this machine's login has no access.
    """
    dtype = torch.bfloat16 if dtype == torch.float16 else dtype
    with LOAD_LOCK, quiet_loading():
        if weights == "random":
            folder = _saved_once(Path(cache_dir) / "random-full" / "sam3", _save_full_processor)
            model = _build(Sam3Model, Sam3Config(), device).to(device, dtype).eval()
            tracker = _build(Sam3TrackerModel, Sam3TrackerConfig(), device).to(device, dtype).eval()
            processor = Sam3Processor.from_pretrained(folder)
            tracker_processor = Sam3TrackerProcessor.from_pretrained(folder)
        else:
            source = checkpoint
            if weights == "tiny":
                source = str(_saved_once(Path(cache_dir) / "tiny" / "sam3", _save_tiny))
            model, processor = _from_pretrained(
                Sam3Model, Sam3Processor.from_pretrained, source, "detector", device, dtype
            )
            tracker, tracker_processor = _from_pretrained(
                Sam3TrackerModel, Sam3TrackerProcessor.from_pretrained, source, "segmenter", device, dtype
            )
        tracker.vision_encoder.backbone = model.vision_encoder.backbone
        return Sam3Bundle(model, processor, tracker, tracker_processor, device, dtype)


def small_clip_tokenizer() -> CLIPTokenizer:
    """Gives back a CLIP tokenizer whose vocabulary is single characters: any lowercase phrase, a token a letter."""
    special = ["<|startoftext|>", "<|endoftext|>"]
    tokens = special + _CHARACTERS + [f"{character}</w>" for character in _CHARACTERS]
    # CLIP's context is 77 tokens; SAM 3 pads and cuts its phrases to 32 of them.
    return CLIPTokenizer(vocab={token: index for index, token in enumerate(tokens)}, merges=[], model_max_length=77)


def tiny_sam3_config() -> Sam3VideoConfig:
    """Gives back a SAM 3 config in facebook/sam3's layout, small enough to run a forward pass in well under a second."""
    width, grid = _TINY_WIDTH, TINY_SIDE // 14
    vision = Sam3VisionConfig(
        backbone_config=Sam3ViTConfig(
            hidden_size=width,
            intermediate_size=2 * width,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=TINY_SIDE,
            patch_size=14,
            window_size=4,
            global_attn_indexes=[1],
            pretrain_image_size=TINY_SIDE,
        ),
        fpn_hidden_size=width,
        backbone_feature_sizes=[[4 * grid, 4 * grid], [2 * grid, 2 * grid], [grid, grid]],
    )
    tokenizer = small_clip_tokenizer()
    text = CLIPTextConfig(
        vocab_size=len(tokenizer.get_vocab()),
        hidden_size=width,
        intermediate_size=2 * width,
        projection_dim=width,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=32,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    parts = dict(hidden_size=width, num_layers=2, num_attention_heads=2, intermediate_size=2 * width)
    detector = Sam3Config(
        vision_config=vision,
        text_config=text,
        geometry_encoder_config=Sam3GeometryEncoderConfig(**parts),
        detr_encoder_config=Sam3DETREncoderConfig(**parts),
        detr_decoder_config=Sam3DETRDecoderConfig(**parts, num_queries=20),
        mask_decoder_config=Sam3MaskDecoderConfig(hidden_size=width, num_attention_heads=2),
    )
    tracker = Sam3TrackerVideoConfig(
        vision_config=vision.to_dict(),
        prompt_encoder_config=Sam3TrackerVideoPromptEncoderConfig(hidden_size=width, patch_size=14),
        mask_decoder_config=Sam3TrackerVideoMaskDecoderConfig(
            hidden_size=width, mlp_dim=2 * width, num_attention_heads=2, iou_head_hidden_dim=32
        ),
        memory_attention_hidden_size=width,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=2 * width,
        memory_attention_rope_feat_sizes=[grid, grid],
        memory_encoder_hidden_size=width,
        memory_encoder_output_channels=16,
        mask_downsampler_embed_dim=width,
        memory_fuser_embed_dim=width,
        memory_fuser_intermediate_dim=2 * width,
    )
    config = Sam3VideoConfig(detector_config=detector, tracker_config=tracker, low_res_mask_size=4 * grid)
    # Sets the input side of every part, and the tracker's feature map sizes from it.
    config.image_size = TINY_SIDE
    return config


def _processor(side: int) -> Sam3Processor:
    return Sam3Processor(
        image_processor=Sam3ImageProcessor(size={"height": side, "width": side}), tokenizer=small_clip_tokenizer()
    )


def _save_tiny(folder: Path) -> None:
    model = _build(Sam3VideoModel, tiny_sam3_config())
    model.config.save_pretrained(folder)
    # The weights are written under the model's own names, as facebook/sam3 holds them: transformers 5.25's
    # save_pretrained renames the tracker's to tracker_model.tracker_model.*, which Sam3TrackerModel does not load.
    save_model(model, str(folder / "model.safetensors"))
    _processor(TINY_SIDE).save_pretrained(folder)


def _save_full_processor(folder: Path) -> None:
    # facebook/sam3's preprocessing at 1008 x 1008; the small vocabulary only changes which ids a phrase
    # maps to, not the shapes the model computes on.
    _processor(Sam3ImageProcessor.size["height"]).save_pretrained(folder)

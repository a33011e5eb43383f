"""Loaders for the vision roles: the detector (GroundingDINO) and the segmenter (SAM).

`tools/models.py` calls `load_detector` and `load_segmenter` with the weights to use:

- `default`: the checkpoint through `from_pretrained`, from the Hugging Face cache first, downloading
  only when the hub answers; a checkpoint that is neither cached nor reachable raises one clear error.
- `tiny`: a tiny random-weight model built from a small config, saved once under
  `cache_dir/tiny/<role>` and loaded back through the same `from_pretrained` code as `default`.
- `random-full`: the full-size architecture (grounding-dino-tiny, sam-vit-base) with random weights,
  built straight on the target device; only its processor goes through disk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.utils import get_session
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertTokenizer,
    GroundingDinoConfig,
    GroundingDinoForObjectDetection,
    GroundingDinoImageProcessorPil,
    GroundingDinoProcessor,
    SamConfig,
    SamImageProcessorPil,
    SamMaskDecoderConfig,
    SamModel,
    SamProcessor,
    SamPromptEncoderConfig,
    SamVisionConfig,
    SwinConfig,
)

from chatedit.tools.loading import quiet_loading
from chatedit.tools.models import LOAD_LOCK, access_denied, gated, unavailable

TINY_SEED = 0
"""Seed of the tiny and random-full weights, so two builds give the same model."""

_HUB_PROBE_TIMEOUT_S = 3.0

# Builds and loads hold tools.models.LOAD_LOCK too (see there): callers outside a ModelSet, such as
# tests and tools, must not build a model while another thread does.
_LOAD_LOCK = LOAD_LOCK

# A small WordPiece vocabulary: whole words for common edit targets, single letters (and their
# continuation pieces) so that any other lowercase word still tokenizes without [UNK].
_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_PUNCTUATION = [".", ",", "'", "-", "?", "!"]
_WORDS = (
    "a an the of and with on in to at by this that its left right top bottom big small red green blue "
    "yellow black white brown orange pink purple grey gray person man woman child boy girl people face "
    "hair hand astronaut cat dog bird horse cow sheep animal car bus truck bike bicycle boat plane train "
    "cup mug coffee tea plate bowl spoon table chair sofa bed lamp window door wall floor roof house "
    "building tree flower grass plant sky cloud sun moon water sea river lake mountain road street "
    "sign bottle glass book phone laptop bag hat shirt shoe flag rocket helmet suit background object"
).split()
_LETTERS = [chr(code) for code in range(ord("a"), ord("z") + 1)]
_DIGITS = [str(digit) for digit in range(10)]


@dataclass(eq=False)
class DetectorBundle:
    """A GroundingDINO model with its processor, on one device and dtype."""

    model: GroundingDinoForObjectDetection
    processor: GroundingDinoProcessor
    device: torch.device
    dtype: torch.dtype


class EmbeddingCache:
    """A small thread-safe LRU of image embeddings, keyed by the image content's hash.

    Args:
        capacity: how many images to keep.
    """

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: str, compute: Callable[[], Any]) -> Any:
        """Gives back the cached value for `key`, computing and storing it on a miss."""
        # The lock is held while computing so that two threads asking for the same image run the
        # encoder once; the model runs one image at a time anyway.
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            value = compute()
            self._entries[key] = value
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
            return value


@dataclass(eq=False)
class SegmenterBundle:
    """A SAM model with its processor, on one device and dtype, and its image-embedding cache."""

    model: SamModel
    processor: SamProcessor
    device: torch.device
    dtype: torch.dtype
    embeddings: EmbeddingCache = field(default_factory=EmbeddingCache, repr=False)


CPU = torch.device("cpu")


def _load_role(
    role,
    model_cls,
    load_processor,
    full_config,
    save_tiny,
    save_full_processor,
    bundle_cls,
    *,
    weights,
    checkpoint,
    device,
    dtype,
    cache_dir,
):
    """Gives back one role's bundle: real checkpoint, tiny model saved once, or full-size random build."""
    with _LOAD_LOCK, quiet_loading():
        if weights == "random":
            folder = _saved_once(Path(cache_dir) / "random-full" / role, save_full_processor)
            model = _build(model_cls, full_config(), device).to(device, dtype).eval()
            return bundle_cls(model, load_processor(folder), device, dtype)
        source = checkpoint
        if weights == "tiny":
            source = _saved_once(Path(cache_dir) / "tiny" / role, save_tiny)
        model, processor = _from_pretrained(model_cls, load_processor, source, role, device, dtype)
        return bundle_cls(model, processor, device, dtype)


def load_detector(
    *,
    weights: str,
    checkpoint: str,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: str | os.PathLike,
) -> DetectorBundle:
    """Gives back the GroundingDINO bundle of these weights, in eval mode on `device` in `dtype`.

    Args:
        weights: `real` (the checkpoint), `tiny` or `random` (full-size random weights).
        checkpoint: the Hugging Face id loaded by the `real` weights.
        device: where the model runs.
        dtype: the model's weight dtype.
        cache_dir: where the `tiny` and `random` weights keep what they save.

    Raises:
        ModelUnavailableError: `real` weights, checkpoint neither cached nor downloadable.
    """
    return _load_role(
        "detector",
        GroundingDinoForObjectDetection,
        _load_detector_processor,
        full_detector_config,
        _save_tiny_detector,
        _save_full_detector_processor,
        DetectorBundle,
        weights=weights,
        checkpoint=checkpoint,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
    )


def load_segmenter(
    *,
    weights: str,
    checkpoint: str,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: str | os.PathLike,
) -> SegmenterBundle:
    """Gives back the SAM bundle of these weights, in eval mode on `device` in `dtype` (arguments as load_detector)."""
    return _load_role(
        "segmenter",
        SamModel,
        _load_segmenter_processor,
        full_segmenter_config,
        _save_tiny_segmenter,
        _save_full_segmenter_processor,
        SegmenterBundle,
        weights=weights,
        checkpoint=checkpoint,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
    )


def hub_reachable(timeout: float = _HUB_PROBE_TIMEOUT_S) -> bool:
    """Gives back whether the Hugging Face hub answers one request within `timeout` seconds."""
    if hub_constants.is_offline_mode():
        return False
    try:
        get_session().head(hub_constants.ENDPOINT, timeout=timeout)
    except Exception:  # any failure to get an answer (DNS, refused, timeout, proxy) means unreachable
        return False
    return True


def _from_pretrained(model_class, load_processor, source: str, role: str, device, dtype):
    """Loads a model and its processor from a local folder or a hub id, cache first.

    Raises:
        ModelUnavailableError: neither cached nor downloadable, or gated and this login has no access.
    """
    try:
        return _load(model_class, load_processor, source, device, dtype, local_files_only=True)
    except OSError:  # hub errors are OSErrors too
        if Path(source).is_dir():
            raise
    # Not (fully) cached. The hub client retries a dead connection for tens of seconds per file,
    # so ask once, quickly, before letting it download.
    if not hub_reachable():
        raise unavailable(source, role) from None
    try:
        return _load(model_class, load_processor, source, device, dtype, local_files_only=False)
    except OSError as exc:
        raise (gated(source, role) if access_denied(exc) else unavailable(source, role)) from exc


def _load(model_class, load_processor, source, device, dtype, *, local_files_only: bool):
    processor = load_processor(source, local_files_only=local_files_only)
    model = model_class.from_pretrained(source, dtype=dtype, local_files_only=local_files_only)
    return model.to(device).eval(), processor


# The PIL image processors, named directly: they are what transformers uses without torchvision
# (which chatedit does not install), and the auto classes would warn each time they fall back to them.
def _load_detector_processor(source: str | os.PathLike, **kwargs) -> GroundingDinoProcessor:
    """Gives back GroundingDINO's processor (PIL image processor and tokenizer) from a folder or hub id."""
    return GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessorPil.from_pretrained(source, **kwargs),
        tokenizer=AutoTokenizer.from_pretrained(source, **kwargs),
    )


def _load_segmenter_processor(source: str | os.PathLike, **kwargs) -> SamProcessor:
    """Gives back SAM's processor (PIL image processor) from a folder or hub id."""
    return SamProcessor(image_processor=SamImageProcessorPil.from_pretrained(source, **kwargs))


def _build(model_class, config, device: torch.device = CPU):
    """Builds a random-weight model straight on `device`, seeded so that two builds are equal.

    A few parameters made with the legacy `torch.Tensor(...)` constructor ignore the device context
    and stay on the CPU; callers move the model to `device` afterwards, which moves only those.
    """
    cuda_devices = []
    if device.type == "cuda":
        cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=cuda_devices), torch.device(device):
        torch.manual_seed(TINY_SEED)
        return model_class(config)


def _saved_once(folder: Path, save: Callable[[Path], None]) -> Path:
    """Gives back `folder`, first filling it with `save` when it does not exist yet.

    The content is written into a temporary sibling and renamed into place, so another process
    either sees no folder or a complete one.
    """
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        save(staging)
        os.rename(staging, folder)
    except OSError:
        # Another process renamed its own complete copy into place first: use that one.
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def small_tokenizer() -> BertTokenizer:
    """Gives back a lowercase BERT WordPiece tokenizer with a vocabulary of about 200 tokens."""
    pieces = _SPECIAL_TOKENS + _PUNCTUATION + _DIGITS + _LETTERS + [f"##{letter}" for letter in _LETTERS]
    words = [word for word in _WORDS if word not in pieces]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(pieces + words))}
    return BertTokenizer(vocab=vocab, do_lower_case=True)


def tiny_detector_config() -> GroundingDinoConfig:
    """Gives back a GroundingDINO config small enough to build and run in well under a second."""
    vocab_size = len(small_tokenizer().get_vocab())
    return GroundingDinoConfig(
        backbone_config=SwinConfig(
            image_size=128,
            patch_size=4,
            embed_dim=8,
            depths=[1, 1, 1, 1],
            num_heads=[1, 1, 2, 2],
            window_size=4,
            out_features=["stage2", "stage3", "stage4"],
        ),
        text_config=BertConfig(
            vocab_size=vocab_size,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=256,
        ),
        d_model=32,  # GroupNorm(32, d_model) in the input projections
        encoder_layers=1,
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_layers=2,  # the port's query selection needs at least two decoder layers
        decoder_ffn_dim=32,
        decoder_attention_heads=2,
        num_queries=30,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=256,
    )


def tiny_segmenter_config() -> SamConfig:
    """Gives back a SAM config for 64x64 inputs, small enough to build and run in milliseconds."""
    image_size, patch_size, channels = 64, 8, 16
    return SamConfig(
        vision_config=SamVisionConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            output_channels=channels,
            image_size=image_size,
            patch_size=patch_size,
            window_size=4,
            global_attn_indexes=[1],
            mlp_dim=64,
            num_pos_feats=channels // 2,  # the shared positional embedding is 2 * num_pos_feats wide
        ),
        prompt_encoder_config=SamPromptEncoderConfig(
            hidden_size=channels, image_size=image_size, patch_size=patch_size, mask_input_channels=4
        ),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=channels,
            mlp_dim=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            iou_head_depth=2,
            iou_head_hidden_dim=16,
        ),
    )


def full_detector_config() -> GroundingDinoConfig:
    """Gives back the architecture of IDEA-Research/grounding-dino-tiny: Swin-T and BERT-base."""
    return GroundingDinoConfig(
        backbone_config=SwinConfig(
            image_size=224,
            patch_size=4,
            embed_dim=96,
            depths=[2, 2, 6, 2],
            num_heads=[3, 6, 12, 24],
            window_size=7,
            out_features=["stage2", "stage3", "stage4"],
        ),
        text_config=BertConfig(
            vocab_size=30522,
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            intermediate_size=3072,
            max_position_embeddings=512,
        ),
        d_model=256,
        encoder_layers=6,
        encoder_ffn_dim=2048,
        encoder_attention_heads=8,
        decoder_layers=6,
        decoder_ffn_dim=2048,
        decoder_attention_heads=8,
        num_queries=900,
        num_feature_levels=4,
        encoder_n_points=4,
        decoder_n_points=4,
        max_text_len=256,
        two_stage=True,
    )


def full_segmenter_config() -> SamConfig:
    """Gives back the architecture of facebook/sam-vit-base: ViT-B/16 on 1024x1024 inputs."""
    return SamConfig(
        vision_config=SamVisionConfig(
            hidden_size=768,
            num_hidden_layers=12,
            num_attention_heads=12,
            output_channels=256,
            image_size=1024,
            patch_size=16,
            window_size=14,
            global_attn_indexes=[2, 5, 8, 11],
            mlp_dim=3072,
            num_pos_feats=128,
        ),
        prompt_encoder_config=SamPromptEncoderConfig(
            hidden_size=256, image_size=1024, patch_size=16, mask_input_channels=16
        ),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=256,
            mlp_dim=2048,
            num_hidden_layers=2,
            num_attention_heads=8,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
    )


def _tiny_detector_processor() -> GroundingDinoProcessor:
    image_processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 96, "longest_edge": 128})
    return GroundingDinoProcessor(image_processor=image_processor, tokenizer=small_tokenizer())


def _tiny_segmenter_processor() -> SamProcessor:
    config = tiny_segmenter_config()
    side = config.vision_config.image_size
    # SAM's masks come out at a quarter of the input side; the processor must agree with the model.
    mask_side = config.prompt_encoder_config.image_embedding_size * 4
    image_processor = SamImageProcessorPil(
        size={"longest_edge": side},
        pad_size={"height": side, "width": side},
        mask_size={"longest_edge": mask_side},
        mask_pad_size={"height": mask_side, "width": mask_side},
    )
    return SamProcessor(image_processor=image_processor)


def _save_tiny_detector(folder: Path) -> None:
    _build(GroundingDinoForObjectDetection, tiny_detector_config()).save_pretrained(folder)
    _tiny_detector_processor().save_pretrained(folder)


def _save_tiny_segmenter(folder: Path) -> None:
    _build(SamModel, tiny_segmenter_config()).save_pretrained(folder)
    _tiny_segmenter_processor().save_pretrained(folder)


def _save_full_detector_processor(folder: Path) -> None:
    # grounding-dino-tiny's image preprocessing; the small vocabulary only changes which ids the
    # text maps to, not the shapes the model computes on.
    image_processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 800, "longest_edge": 1333})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=small_tokenizer()).save_pretrained(folder)


def _save_full_segmenter_processor(folder: Path) -> None:
    SamProcessor(image_processor=SamImageProcessorPil()).save_pretrained(folder)

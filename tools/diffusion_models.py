"""Loaders for the two diffusion pipelines: the inpainter and the global (instruction) editor.

`tools/models.py` calls `load_inpainter` and `load_global_editor` once per process; they give back
ready-to-call diffusers pipelines for some weights:

- `default`: the checkpoint through `from_pretrained` (half-precision files when the checkpoint has them).
- `tiny`: tiny random components built here with a fixed seed, saved once to `cache_dir/tiny/<role>`
  and loaded back through the same `from_pretrained` code as `default`. Native resolution 64 px.
- `random-full`: Stable Diffusion 1.5's architectures with random weights, built on the target device
  with nothing on disk; compute and memory match the real checkpoints.

Every pipeline gets the same treatment: DPM-Solver++ (good pictures in 20-25 steps), no safety checker
(people edit their own photos, and the checker blacks out false positives), no progress bars (callers
report progress through step callbacks), eval mode. Attention goes through PyTorch's
scaled_dot_product_attention, which diffusers picks by default on torch 2.

Two GPU speed-ups are settings (`Acceleration`, from the environment), off unless set:
CHATEDIT_CHANNELS_LAST=1 stores the UNet and VAE weights channels-last (NHWC, the layout tensor-core
convolutions read), and CHATEDIT_COMPILE_MODE=reduce-overhead (or default, max-autotune-no-cudagraphs,
max-autotune) compiles the UNet with torch.compile. A compiled UNet is specialised to each working
size it meets: the first edit at a new size compiles (tens of seconds on a GPU), later ones replay it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch
from pydantic_settings import BaseSettings, SettingsConfigDict
from tokenizers import pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from chatedit.tools.errors import InputError
from chatedit.tools.loading import quiet_loading
from chatedit.tools.models import unavailable
from chatedit.tools.quantize import pipeline_quantization, quantize_built, quantized_dtype

# Importing diffusers' pipelines makes transformers say, per image processor, that it falls back to
# PIL without torchvision; PIL is the intended path here (see tools/loading.py).
with quiet_loading():
    from diffusers import (
        AutoencoderKL,
        AutoPipelineForInpainting,
        DiffusionPipeline,
        DPMSolverMultistepScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionInstructPix2PixPipeline,
        UNet2DConditionModel,
    )

INPAINT_IN_CHANNELS = 9
"""Inpainting UNet input: noisy latents (4), the mask (1) and the masked image's latents (4)."""

EDIT_IN_CHANNELS = 8
"""InstructPix2Pix UNet input: noisy latents (4) and the input image's latents (4)."""

TINY_SEED = 0

_NO_SAFETY_CHECKER = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")


class Acceleration(BaseSettings):
    """Speed settings of the diffusion pipelines; CHATEDIT_CHANNELS_LAST and CHATEDIT_COMPILE_MODE set them."""

    model_config = SettingsConfigDict(env_prefix="CHATEDIT_", extra="ignore")

    channels_last: bool = False
    """Store the UNet's and VAE's convolution weights channels-last (NHWC)."""
    compile_mode: str = ""
    """torch.compile mode for the UNet (one of COMPILE_MODES); empty: run eagerly."""


def load_inpainter(
    *,
    weights: str,
    checkpoint: str,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: os.PathLike,
    quantize: str = "none",
    offload: str = "none",
):
    """Gives back the inpainting pipeline of these weights on `device` in `dtype`.

    Args:
        weights: `real` (the checkpoint), `tiny` or `random` (full-size random weights).
        checkpoint: the Hugging Face id or local folder of an inpainting checkpoint (SD 1.5 or SDXL
            inpainting); used by `default` only.
        device: where the pipeline runs.
        dtype: the weights' dtype (fp16 on GPU, fp32 on CPU).
        cache_dir: where the tiny weights are saved.
        quantize: `none`, `int8`, `fp8` or `nf4`: the UNet and the text encoder (tools/quantize.py).
        offload: `none`, `model` or `group` (tools/diffusion_models.on_device).
    """
    # AutoPipeline picks SD 1.5 or SDXL inpainting from a real checkpoint's config.
    return _load_pipeline(
        "inpainter",
        StableDiffusionInpaintPipeline,
        AutoPipelineForInpainting,
        INPAINT_IN_CHANNELS,
        weights=weights,
        checkpoint=checkpoint,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
        quantize=quantize,
        offload=offload,
    )


def load_global_editor(
    *,
    weights: str,
    checkpoint: str,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: os.PathLike,
    quantize: str = "none",
    offload: str = "none",
):
    """Gives back the InstructPix2Pix pipeline of these weights on `device` in `dtype`.

    Args:
        weights: `real` (the checkpoint), `tiny` or `random` (full-size random weights).
        checkpoint: the Hugging Face id or local folder of an InstructPix2Pix checkpoint; used by `default` only.
        device: where the pipeline runs.
        dtype: the weights' dtype (fp16 on GPU, fp32 on CPU).
        cache_dir: where the tiny weights are saved.
        quantize: `none`, `int8`, `fp8` or `nf4`: the UNet and the text encoder (tools/quantize.py).
        offload: `none`, `model` or `group` (tools/diffusion_models.on_device).
    """
    return _load_pipeline(
        "global_editor",
        StableDiffusionInstructPix2PixPipeline,
        StableDiffusionInstructPix2PixPipeline,
        EDIT_IN_CHANNELS,
        weights=weights,
        checkpoint=checkpoint,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
        quantize=quantize,
        offload=offload,
    )


def _load_pipeline(
    role, pipeline_cls, loader_cls, in_channels, *, weights, checkpoint, device, dtype, cache_dir, quantize, offload
):
    """Gives back one role's pipeline: a real checkpoint, the tiny one saved once, or a full-size random build."""
    dtype = quantized_dtype(quantize, dtype)
    if weights == "random":
        pipe = build_random_full(pipeline_cls, in_channels, device).to(dtype=dtype)
        quantize_pipeline(pipe, quantize, "unet", dtype)
    else:
        source = checkpoint
        # chatedit reports its own progress: the libraries' saving and loading bars stay off.
        with quiet_loading():
            if weights == "tiny":
                source = _saved_once(cache_dir, role, lambda: build_tiny(pipeline_cls, in_channels))
            pipe = _from_pretrained(loader_cls, source, role, dtype, pipeline_quantization(quantize, "unet", dtype))
    return _ready(pipe, device, offload=offload)


def _from_pretrained(
    pipeline_cls: Any, source: str | os.PathLike, role: str, dtype: torch.dtype, quantization: Any = None
):
    """Gives back the pipeline at `source` (hub id or folder), quantized while it loads, or raises ModelUnavailableError."""
    source = str(source)
    try:
        components = DiffusionPipeline.load_config(source)
    except OSError as err:
        raise unavailable(source, role) from err
    kwargs: dict[str, Any] = {"dtype": dtype}
    if quantization is not None:
        kwargs["quantization_config"] = quantization
    # SDXL pipelines have no safety checker; naming one there only earns a warning.
    if "safety_checker" in components:
        kwargs.update(_NO_SAFETY_CHECKER)
    try:
        if dtype == torch.float16:
            try:
                return pipeline_cls.from_pretrained(source, variant="fp16", **kwargs)
            except ValueError as err:
                # Not every checkpoint publishes half-precision files; the full ones load cast to fp16.
                if "variant" not in str(err):
                    raise
        return pipeline_cls.from_pretrained(source, **kwargs)
    except OSError as err:
        raise unavailable(source, role) from err


def _ready(pipe, device: torch.device, acceleration: Acceleration | None = None, offload: str = "none"):
    """Gives back `pipe` on `device` (or offloaded to it) with DPM-Solver++, no progress bars, in eval mode, accelerated as set."""
    acceleration = acceleration or Acceleration()
    if acceleration.compile_mode and acceleration.compile_mode not in COMPILE_MODES:
        raise InputError(
            f"CHATEDIT_COMPILE_MODE={acceleration.compile_mode!r} is not a torch.compile mode; "
            f"use one of {', '.join(COMPILE_MODES)}, or leave it empty."
        )
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++")
    on_device(pipe, device, offload)
    if acceleration.channels_last:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if acceleration.compile_mode:
        # Static shapes: each working size gets kernels (and CUDA graphs) of its own, not generic ones.
        pipe.unet = torch.compile(pipe.unet, mode=acceleration.compile_mode, dynamic=False)
    return pipe


def on_device(pipe: DiffusionPipeline, device: torch.device, offload: str = "none") -> DiffusionPipeline:
    """Gives back `pipe` on `device`, every module in eval mode, its progress bars off.

    `offload` keeps the weights in CPU memory until they run, through diffusers' own hooks: `model`
    moves a whole model to the device while it runs (enable_model_cpu_offload), `group` a few blocks
    at a time (enable_group_offload, block level): slower, and the least device memory.
    """
    pipe.set_progress_bar_config(disable=True)
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "group":
        pipe.enable_group_offload(
            onload_device=device, offload_device=torch.device("cpu"), offload_type="block_level", num_blocks_per_group=1
        )
    else:
        pipe.to(device)
    return pipe


def quantize_pipeline(pipe: DiffusionPipeline, quantize: str, denoiser: str, dtype: torch.dtype) -> None:
    """Quantizes a built pipeline's diffusion model and text encoder in place, as loading it quantized would."""
    for name in (denoiser, "text_encoder"):
        module = getattr(pipe, name, None)
        if isinstance(module, torch.nn.Module):
            quantize_built(module, quantize, dtype)


TINY_BUILD = 2
"""The tiny pipelines' build: raised when what they are built from changes (2: Qwen's chat template takes
picture parts), so that a cache saved by an older chatedit is built again rather than loaded."""
BUILD_FILE = "chatedit-build.txt"


def _saved_once(cache_dir: os.PathLike, role: str, build: Callable[[], DiffusionPipeline]) -> Path:
    """Gives back the folder of the tiny `role` pipeline, building and saving it on first use.

    The pipeline is saved to a staging folder and renamed into place, so a process that finds the
    folder always finds it whole, even while another process is saving the same models.
    """
    folder = Path(cache_dir) / "tiny" / role
    if (folder / "model_index.json").exists() and _build_of(folder) == TINY_BUILD:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{role}-", dir=folder.parent))
    try:
        build().save_pretrained(staging)
        (staging / BUILD_FILE).write_text(str(TINY_BUILD))
        if folder.exists() and _build_of(folder) != TINY_BUILD:
            # Saved by an older chatedit: set it aside, then take its place.
            shutil.rmtree(folder.rename(folder.with_name(f".{role}-old-{os.getpid()}")), ignore_errors=True)
        try:
            staging.rename(folder)
        except OSError:
            # Another process got there first; its models were built from the same seed.
            if not (folder / "model_index.json").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _build_of(folder: Path) -> int | None:
    """Gives back the build number of a saved tiny pipeline (None: saved before builds were numbered)."""
    try:
        return int((folder / BUILD_FILE).read_text())
    except (OSError, ValueError):
        return None


def small_tokenizer() -> CLIPTokenizer:
    """Gives back a CLIP tokenizer over the 256 byte symbols alone (no merges): 514 ids, any text encodes.

    Random text encoders need no real vocabulary, and a byte-level one never maps a word to unknown.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = alphabet + [symbol + "</w>" for symbol in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={token: i for i, token in enumerate(tokens)}, merges=[], model_max_length=77)


def _scheduler() -> DPMSolverMultistepScheduler:
    """Gives back DPM-Solver++ on Stable Diffusion's noise schedule."""
    return DPMSolverMultistepScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, algorithm_type="dpmsolver++"
    )


def tiny_configs(in_channels: int, tokenizer: CLIPTokenizer) -> dict[str, dict]:
    """Gives back the configs of a tiny UNet, VAE and text encoder, shaped like Stable Diffusion's.

    The VAE downsamples by 8 as SD's does, so working sizes, latent shapes and rounding follow the
    real models; the UNet's native resolution is 8 latents x 8 = 64 px. Attention runs on the
    UNet's coarser level only, so even a 768 px edit takes seconds on a CPU.
    """
    return {
        "unet": dict(
            sample_size=8,
            in_channels=in_channels,
            out_channels=4,
            block_out_channels=(32, 64),
            layers_per_block=1,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
        ),
        "vae": dict(
            block_out_channels=(16, 16, 32, 32),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            layers_per_block=1,
            norm_num_groups=8,
            sample_size=64,
        ),
        "text_encoder": dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            projection_dim=32,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
    }


def sd15_configs(in_channels: int, tokenizer: CLIPTokenizer) -> dict[str, dict]:
    """Gives back the configs of Stable Diffusion 1.5's UNet, VAE and CLIP ViT-L/14 text encoder."""
    return {
        "unet": dict(
            sample_size=64,
            in_channels=in_channels,
            out_channels=4,
            block_out_channels=(320, 640, 1280, 1280),
            layers_per_block=2,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
            cross_attention_dim=768,
            attention_head_dim=8,
        ),
        "vae": dict(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            layers_per_block=2,
            sample_size=512,
            scaling_factor=0.18215,
        ),
        "text_encoder": dict(
            vocab_size=49408,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            projection_dim=768,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ),
    }


def _models(configs: dict[str, dict]) -> dict[str, torch.nn.Module]:
    """Gives back freshly initialised UNet, VAE and text encoder for `configs`, built in that order."""
    return {name: _model(name, configs[name]) for name in ("unet", "vae", "text_encoder")}


def _model(component: str, config: dict) -> torch.nn.Module:
    """Gives back a freshly initialised `unet`, `vae` or `text_encoder` of `config`."""
    if component == "text_encoder":
        return CLIPTextModel(CLIPTextConfig(**config))
    return {"unet": UNet2DConditionModel, "vae": AutoencoderKL}[component](**config)


def build_full_component(component: str, in_channels: int) -> torch.nn.Module:
    """Gives back one of SD 1.5's full-size components (`unet`, `vae`, `text_encoder`) with random weights.

    `in_channels` is the UNet's input: INPAINT_IN_CHANNELS or EDIT_IN_CHANNELS.
    """
    return _model(component, sd15_configs(in_channels, small_tokenizer())[component])


def build_tiny(pipeline_cls: Any, in_channels: int):
    """Gives back a pipeline of tiny random components, the same ones on every call (fixed seed)."""
    tokenizer = small_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        models = _models(tiny_configs(in_channels, tokenizer))
    return pipeline_cls(**models, tokenizer=tokenizer, scheduler=_scheduler(), **_NO_SAFETY_CHECKER)


def build_random_full(pipeline_cls: Any, in_channels: int, device: torch.device | str):
    """Gives back a pipeline of SD 1.5's full-size components with random weights, built on `device`.

    Building on the device skips a CPU initialisation and a host-to-device copy of about 1 B
    parameters; the caller casts to the working dtype.
    """
    tokenizer = small_tokenizer()
    with torch.device(device):
        models = _models(sd15_configs(in_channels, tokenizer))
    return pipeline_cls(**models, tokenizer=tokenizer, scheduler=_scheduler(), **_NO_SAFETY_CHECKER)

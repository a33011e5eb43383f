"""Loaders for the 2026 editing families: FLUX.2 klein (`modern`) and Qwen-Image-Edit (`max`).

Each family is one set of weights used two ways. The instruction editor (`Flux2KleinPipeline` with
the picture as reference, `QwenImageEditPlusPipeline`) edits from a sentence; the region editor
(`Flux2KleinInpaintPipeline`, `QwenImageEditInpaintPipeline`) is made from it with diffusers'
`from_pipe`, which shares every module, so the second role costs no memory.

Weights, as for the classic family (`tools/diffusion_models.py`):

- `default`: the checkpoint through `from_pretrained`, in bf16 on a GPU (both models are trained and
  published in bf16; fp16 overflows in their attention).
- `tiny`: tiny random components built here with a fixed seed, a byte-level BPE tokenizer written in
  code, saved once to `cache_dir/tiny/<role>` and loaded back through the same `from_pretrained` code.
- `random-full`: the published architectures with random weights, built on the target device.

Pipelines come back with progress bars off (chatedit reports progress through step callbacks) and in
eval mode.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch
from tokenizers import pre_tokenizers
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2TokenizerFast,
    Qwen2VLImageProcessorPil,
    Qwen2VLProcessor,
    Qwen3Config,
    Qwen3ForCausalLM,
)
from transformers.processing_utils import ProcessorMixin

from chatedit.tools.diffusion_models import TINY_SEED, _saved_once, on_device, quantize_pipeline
from chatedit.tools.loading import quiet_loading
from chatedit.tools.models import unavailable
from chatedit.tools.quantize import pipeline_quantization, quantized_dtype

# Importing diffusers' pipelines makes transformers say, per image processor, that it falls back to
# PIL without torchvision; PIL is the intended path here (see tools/loading.py).
with quiet_loading():
    from diffusers import (
        AutoencoderKLFlux2,
        AutoencoderKLQwenImage,
        DiffusionPipeline,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinInpaintPipeline,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
        QwenImageEditInpaintPipeline,
        QwenImageEditPlusPipeline,
        QwenImageTransformer2DModel,
    )

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
"""The control tokens the Qwen chat templates and the Qwen2-VL processor write into prompts."""

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
"""Qwen3's chat layout (what Flux2KleinPipeline renders its prompt with), without tools; a message's
content is text, or a list of text and picture parts as Qwen2.5-VL's template takes them."""

FLUX2_TEXT_LAYERS = 28
"""The tiny Qwen3's depth: Flux2KleinPipeline reads hidden layers 9, 18 and 27, as in Qwen3-4B."""


def load_modern_editor(
    *,
    weights: str,
    checkpoint: str,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: os.PathLike,
    quantize: str = "none",
    offload: str = "none",
) -> Flux2KleinPipeline:
    """Gives back the FLUX.2 klein instruction editor of these weights on `device` (bf16 where `dtype` is half).

    Args:
        weights: `real` (the checkpoint), `tiny` or `random` (full-size random weights).
        checkpoint: the Hugging Face id or local folder of a FLUX.2 klein checkpoint; used by `default` only.
        device: where the pipeline runs.
        dtype: the working dtype asked for; half precision becomes bf16.
        cache_dir: where the tiny weights are saved.
        quantize: `none`, `int8`, `fp8` or `nf4`: the transformer and the text encoder (tools/quantize.py).
        offload: `none`, `model` or `group` (tools/diffusion_models.on_device).
    """
    return _load(
        "modern_editor",
        Flux2KleinPipeline,
        build_tiny_flux2,
        build_full_flux2,
        weights=weights,
        checkpoint=checkpoint,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
        quantize=quantize,
        offload=offload,
    )


def load_max_editor(
    *,
    weights: str,
    checkpoint: str,
    device: torch.device,
    dtype: torch.dtype,
    cache_dir: os.PathLike,
    quantize: str = "none",
    offload: str = "none",
) -> QwenImageEditPlusPipeline:
    """Gives back the Qwen-Image-Edit instruction editor of these weights on `device` (arguments as load_modern_editor)."""
    return _load(
        "max_editor",
        QwenImageEditPlusPipeline,
        build_tiny_qwen,
        build_full_qwen,
        weights=weights,
        checkpoint=checkpoint,
        device=device,
        dtype=dtype,
        cache_dir=cache_dir,
        quantize=quantize,
        offload=offload,
    )


def region_editor(instruction_editor: DiffusionPipeline) -> DiffusionPipeline:
    """Gives back the inpainting pipeline sharing every module of `instruction_editor` (no copy, no load).

    The pipeline is built from the shared modules as they are. diffusers' `from_pipe` would cast them
    to one dtype afterwards, which a quantized transformer refuses and a bf16 one need not pay for.
    """
    region_cls = {
        Flux2KleinPipeline: Flux2KleinInpaintPipeline,
        QwenImageEditPlusPipeline: QwenImageEditInpaintPipeline,
    }[type(instruction_editor)]
    modules, options = region_cls._get_signature_keys(region_cls)
    shared = {name: instruction_editor.components[name] for name in modules}
    config = {name: instruction_editor.config[name] for name in options if name in instruction_editor.config}
    pipe = region_cls(**shared, **config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@contextlib.contextmanager
def _default_dtype(dtype: torch.dtype):
    """Makes new parameters `dtype` for the duration."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _load(
    role, pipeline_cls, build_tiny, build_full, *, weights, checkpoint, device, dtype, cache_dir, quantize, offload
):
    """Gives back one family's instruction editor: a real checkpoint, the tiny one saved once, or a random build."""
    if dtype == torch.float16:
        dtype = torch.bfloat16
    dtype = quantized_dtype(quantize, dtype)
    if weights == "random":
        # Built in the working dtype on the device: Qwen-Image-Edit in float32 would take 112 GB first.
        with torch.device(device), _default_dtype(dtype):
            pipe = build_full()
        quantize_pipeline(pipe, quantize, "transformer", dtype)
    else:
        quantization = pipeline_quantization(quantize, "transformer", dtype)
        with quiet_loading():
            source = str(_saved_once(cache_dir, role, build_tiny)) if weights == "tiny" else checkpoint
            try:
                DiffusionPipeline.load_config(source)
                pipe = pipeline_cls.from_pretrained(
                    source, dtype=dtype, quantization_config=quantization, **_own_components(pipeline_cls, source)
                )
            except OSError as err:
                raise unavailable(source, role) from err
    return on_device(pipe, device, offload)


def _own_components(pipeline_cls, source: str) -> dict[str, Any]:
    """Gives back the components loaded here rather than by diffusers: Qwen's processor, pictures only."""
    if pipeline_cls is not QwenImageEditPlusPipeline:
        return {}
    return {"processor": QwenPictureProcessor.from_pretrained(source, subfolder="processor")}


def small_qwen_tokenizer() -> Qwen2TokenizerFast:
    """Gives back a byte-level BPE tokenizer with Qwen's control tokens and chat template: 263 ids, no merges.

    Random text encoders need no real vocabulary; over the 256 byte symbols any text encodes, and the
    control tokens keep their meaning for the pipelines' prompt templates and the image processor.
    """
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokenizer = Qwen2TokenizerFast(
        vocab={symbol: i for i, symbol in enumerate(alphabet)},
        merges=[],
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS[1:])})
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer


def build_tiny_flux2() -> Flux2KleinPipeline:
    """Gives back a FLUX.2 klein pipeline of tiny random components, the same on every call (fixed seed).

    The VAE downsamples by 8 and the transformer reads 2x2 latent patches, as the real model does, so
    working sizes are multiples of 16 here too.
    """
    tokenizer = small_qwen_tokenizer()
    hidden = 16
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        text_encoder = Qwen3ForCausalLM(
            Qwen3Config(
                vocab_size=len(tokenizer),
                hidden_size=hidden,
                intermediate_size=16,
                num_hidden_layers=FLUX2_TEXT_LAYERS,
                num_attention_heads=2,
                num_key_value_heads=2,
                head_dim=8,
                max_position_embeddings=16384,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        )
        transformer = Flux2Transformer2DModel(
            patch_size=1,
            in_channels=4 * 4,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=3 * hidden,
            timestep_guidance_channels=32,
            axes_dims_rope=(4, 4, 4, 4),
            guidance_embeds=False,
        )
        vae = AutoencoderKLFlux2(
            block_out_channels=(4, 4, 4, 4),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=2,
            sample_size=64,
            use_quant_conv=False,
            use_post_quant_conv=False,
        )
    return Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=True,
    )


def build_full_flux2() -> Flux2KleinPipeline:
    """Gives back FLUX.2-klein-4B's architecture with random weights: 5 double and 20 single blocks, Qwen3-4B."""
    tokenizer = small_qwen_tokenizer()
    return Flux2KleinPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
        vae=AutoencoderKLFlux2(),
        text_encoder=full_flux2_text_encoder(tokenizer),
        tokenizer=tokenizer,
        transformer=full_flux2_transformer(),
        is_distilled=True,
    )


def full_flux2_text_encoder(tokenizer: Qwen2TokenizerFast) -> Qwen3ForCausalLM:
    """Gives back FLUX.2 klein 4B's text encoder, Qwen3-4B, with random weights, over `tokenizer`'s control tokens."""
    return Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=151936,
            hidden_size=2560,
            intermediate_size=9728,
            num_hidden_layers=36,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            max_position_embeddings=40960,
            tie_word_embeddings=True,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def full_flux2_transformer() -> Flux2Transformer2DModel:
    """Gives back FLUX.2 klein 4B's transformer with random weights: 5 double and 20 single blocks."""
    return Flux2Transformer2DModel(
        in_channels=128,
        num_layers=5,
        num_single_layers=20,
        attention_head_dim=128,
        num_attention_heads=24,
        joint_attention_dim=3 * 2560,
        guidance_embeds=False,
    )


class QwenPictureProcessor(Qwen2VLProcessor):
    """Qwen2-VL's processor for pictures and text only.

    Qwen2VLProcessor also requires a video processor. The editors and the planner never send video,
    so this subclass drops that half; it loads the same `processor/` folder of a real checkpoint, with
    whichever image processor transformers picks (the torchvision one when torchvision is installed).
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        self.image_token, self.video_token = "<|image_pad|>", "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template, **kwargs)


def _qwen_processor(tokenizer: Qwen2TokenizerFast) -> QwenPictureProcessor:
    """Gives back the picture processor over `tokenizer` (saved with the PIL image processor's settings)."""
    return QwenPictureProcessor(Qwen2VLImageProcessorPil(), tokenizer, chat_template=QWEN_CHAT_TEMPLATE)


def _qwen_vl_config(tokenizer: Qwen2TokenizerFast, text: dict[str, Any], vision: dict[str, Any]) -> Qwen2_5_VLConfig:
    """Gives back a Qwen2.5-VL config whose image tokens are the tokenizer's own ids.

    `text` names the text model's shape, its `vocab_size` and its rope's `mrope_section` among them.
    """
    ids = dict(zip(QWEN_SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(list(QWEN_SPECIAL_TOKENS)), strict=True))
    text = dict(text)
    rope_scaling = {"mrope_section": text.pop("mrope_section"), "rope_type": "default", "type": "default"}
    return Qwen2_5_VLConfig(
        text_config=dict(
            text,
            bos_token_id=None,
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            rope_scaling=rope_scaling,
        ),
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


def tiny_qwen_vl_config(tokenizer: Qwen2TokenizerFast) -> Qwen2_5_VLConfig:
    """Gives back the tiny Qwen2.5-VL's config (two text layers of width 16, one vision block) over `tokenizer`."""
    return _qwen_vl_config(
        tokenizer,
        text=dict(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            rope_theta=1000000.0,
            mrope_section=[1, 1, 2],
        ),
        vision=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16),
    )


def build_tiny_qwen() -> QwenImageEditPlusPipeline:
    """Gives back a Qwen-Image-Edit pipeline of tiny random components (fixed seed), with a tiny Qwen2.5-VL.

    The VAE downsamples by 8 as the real one does. The pipelines encode the reference picture at
    about 1 MP whatever the working size, so the VAE is kept very narrow.
    """
    tokenizer = small_qwen_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        text_encoder = Qwen2_5_VLForConditionalGeneration(tiny_qwen_vl_config(tokenizer))
        transformer = QwenImageTransformer2DModel(
            patch_size=2,
            in_channels=16,
            out_channels=4,
            num_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=16,
            axes_dims_rope=(8, 4, 4),
        )
        vae = AutoencoderKLQwenImage(
            base_dim=4,
            z_dim=4,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
            latents_mean=[0.0] * 4,
            latents_std=[1.0] * 4,
        )
    return QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        processor=_qwen_processor(tokenizer),
        transformer=transformer,
    )


def build_full_qwen() -> QwenImageEditPlusPipeline:
    """Gives back Qwen-Image-Edit-2511's architecture with random weights: the 20B MMDiT and Qwen2.5-VL-7B."""
    tokenizer = small_qwen_tokenizer()
    return QwenImageEditPlusPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
        vae=AutoencoderKLQwenImage(),
        text_encoder=full_qwen_text_encoder(tokenizer),
        tokenizer=tokenizer,
        processor=_qwen_processor(tokenizer),
        transformer=full_qwen_transformer(),
    )


def full_qwen_text_encoder(tokenizer: Qwen2TokenizerFast) -> Qwen2_5_VLForConditionalGeneration:
    """Gives back Qwen-Image-Edit's text encoder, Qwen2.5-VL-7B, with random weights, over `tokenizer`'s control tokens."""
    return Qwen2_5_VLForConditionalGeneration(
        _qwen_vl_config(
            tokenizer,
            text=dict(
                vocab_size=152064,
                hidden_size=3584,
                intermediate_size=18944,
                num_hidden_layers=28,
                num_attention_heads=28,
                num_key_value_heads=4,
                rope_theta=1000000.0,
                mrope_section=[16, 24, 24],
            ),
            vision=dict(
                depth=32,
                hidden_size=1280,
                intermediate_size=3420,
                num_heads=16,
                out_hidden_size=3584,
                fullatt_block_indexes=[7, 15, 23, 31],
                window_size=112,
            ),
        )
    )


QWEN_IMAGE_BLOCKS = 60
"""Transformer blocks of Qwen-Image-Edit-2511's MMDiT, all of one shape."""


def full_qwen_transformer(num_layers: int = QWEN_IMAGE_BLOCKS) -> QwenImageTransformer2DModel:
    """Gives back Qwen-Image-Edit-2511's MMDiT with random weights; fewer `num_layers` build a part of it."""
    return QwenImageTransformer2DModel(num_layers=num_layers, zero_cond_t=True)

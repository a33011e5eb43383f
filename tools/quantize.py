"""Quantized weights for the editors: int8 and fp8 through torchao, nf4 through bitsandbytes.

A quantized family is the same family with smaller weights in its two big modules, the diffusion
model (transformer or UNet) and the text encoder; the VAE, the finder and the processors stay as
they are. Checkpoints (real and tiny weights) are quantized while they load, through diffusers'
`PipelineQuantizationConfig`; the full-size random builds, which never load, are quantized in place
with the same libraries.

| mode | library | weight bytes per parameter | where it runs |
|------|---------|----------------------------|---------------|
| none | - | 2 (bf16/fp16), 4 on a CPU | everywhere |
| int8 | torchao `Int8WeightOnlyConfig` | about 1 | CUDA, CPU (MPS untried) |
| fp8  | torchao `Float8WeightOnlyConfig` | about 1 | CUDA with compute capability 8.9 or more (Ada, Hopper), CPU |
| nf4  | bitsandbytes 4-bit NF4, no double quantization | about 0.56 | CUDA only |

BENCHMARKS.md ("Weight memory") holds the measured bytes per role and mode.
"""

from __future__ import annotations

from typing import Any

import torch

from chatedit.tools.errors import InputError

QUANTIZE_MODES: tuple[str, ...] = ("none", "int8", "fp8", "nf4")
TEXT_ENCODER = "text_encoder"


def check_quantize(mode: str, device: torch.device) -> None:
    """Raises InputError, saying what would work, when `mode` cannot run on `device`."""
    if mode not in QUANTIZE_MODES:
        raise InputError(f"Unknown quantization {mode!r}; use one of {', '.join(QUANTIZE_MODES)}.")
    if mode == "nf4" and device.type != "cuda":
        raise InputError(
            f"--quantize nf4 needs a CUDA GPU (bitsandbytes quantizes on the GPU); on {device.type} use "
            "--quantize int8, or none."
        )
    if mode == "fp8" and device.type == "mps":
        raise InputError("--quantize fp8 needs float8 kernels, which Apple's MPS lacks; use --quantize int8 or none.")
    if mode == "fp8" and device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 9):
        major, minor = torch.cuda.get_device_capability(device)
        raise InputError(
            f"--quantize fp8 needs a GPU of compute capability 8.9 or more (Ada, Hopper); this one is "
            f"{major}.{minor}. Use --quantize int8 (same memory) or nf4."
        )


def quantized_dtype(mode: str, dtype: torch.dtype) -> torch.dtype:
    """Gives back the dtype a pipeline loads in under `mode`: torchao's weight-only modes compute in bf16."""
    return torch.bfloat16 if mode in ("int8", "fp8") else dtype


def pipeline_quantization(mode: str, denoiser: str, compute_dtype: torch.dtype) -> Any:
    """Gives back diffusers' `PipelineQuantizationConfig` for the denoiser and the text encoder, or None for `none`.

    Args:
        mode: `none`, `int8`, `fp8` or `nf4`.
        denoiser: the pipeline's diffusion model component, `transformer` or `unet`.
        compute_dtype: the dtype the quantized layers compute in.
    """
    if mode == "none":
        return None
    from diffusers import BitsAndBytesConfig as DiffusersBnb
    from diffusers import TorchAoConfig as DiffusersTorchAo
    from diffusers.quantizers import PipelineQuantizationConfig
    from transformers import BitsAndBytesConfig as TransformersBnb
    from transformers import TorchAoConfig as TransformersTorchAo

    if mode == "nf4":
        settings = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute_dtype)
        mapping = {denoiser: DiffusersBnb(**settings), TEXT_ENCODER: TransformersBnb(**settings)}
    else:
        mapping = {
            denoiser: DiffusersTorchAo(_torchao_config(mode)),
            TEXT_ENCODER: TransformersTorchAo(_torchao_config(mode)),
        }
    return PipelineQuantizationConfig(quant_mapping=mapping)


def quantize_built(module: torch.nn.Module, mode: str, compute_dtype: torch.dtype) -> torch.nn.Module:
    """Quantizes a module built in code (the full-size random weights) in place, as loading would have.

    Gives back the module. Its linear layers' weights become torchao int8 or fp8 tensors, or
    bitsandbytes NF4 layers (which pack their weights when moved to a GPU, or at once on a CPU), all
    but the layers loading keeps as they are (`_kept_layers`).
    """
    if mode == "none":
        return module
    kept = _kept_layers(module)
    if mode == "nf4":
        return _to_nf4(module, compute_dtype, kept)
    from torchao.quantization import quantize_

    quantize_(
        module,
        _torchao_config(mode),
        filter_fn=lambda layer, name: isinstance(layer, torch.nn.Linear) and _converted(name, kept),
    )
    return module


def weight_bytes(module: torch.nn.Module) -> int:
    """Gives back the bytes a module's parameters and buffers hold, quantized tensors counted by what they store."""
    total = 0
    seen: set[int] = set()
    for tensor in [*module.parameters(), *module.buffers()]:
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        total += _stored_bytes(tensor)
    return total


def _stored_bytes(tensor: torch.Tensor) -> int:
    """Gives back the bytes a tensor stores: a tensor subclass's inner tensors (torchao), else its own."""
    flatten = getattr(tensor, "__tensor_flatten__", None)
    if flatten is not None and type(tensor) not in (torch.Tensor, torch.nn.Parameter):
        names, _ = flatten()
        return sum(_stored_bytes(getattr(tensor, name)) for name in names)
    quant_state = getattr(tensor, "quant_state", None)
    extra = 0
    if quant_state is not None:  # bitsandbytes Params4bit: the absmax scales beside the packed weights
        extra = sum(t.numel() * t.element_size() for t in _quant_state_tensors(quant_state))
    return tensor.numel() * tensor.element_size() + extra


def _quant_state_tensors(state: Any) -> list[torch.Tensor]:
    tensors = [getattr(state, "absmax", None), getattr(state, "code", None)]
    nested = getattr(state, "state2", None)
    if nested is not None:
        tensors += _quant_state_tensors(nested)
    return [t for t in tensors if isinstance(t, torch.Tensor)]


def _torchao_config(mode: str) -> Any:
    from torchao.quantization import Float8WeightOnlyConfig, Int8WeightOnlyConfig

    return Int8WeightOnlyConfig() if mode == "int8" else Float8WeightOnlyConfig()


def _kept_layers(module: torch.nn.Module) -> list[str]:
    """Gives back the names of the layers that loading a quantized checkpoint leaves unquantized.

    diffusers quantizes every linear layer but a model's `_keep_in_fp32_modules`; transformers also
    keeps a text encoder's output embedding (`lm_head`), its tied weights and its last layer.
    """
    from transformers import PreTrainedModel
    from transformers.quantizers.base import get_keys_to_not_convert

    kept = list(getattr(module, "_keep_in_fp32_modules", None) or [])
    if isinstance(module, PreTrainedModel):
        kept += get_keys_to_not_convert(module)
    return kept


def _converted(name: str, kept: list[str]) -> bool:
    """Gives back whether loading quantizes the linear layer named `name` in its model, `kept` being left as they are."""
    from transformers.quantizers.quantizers_utils import should_convert_module

    return should_convert_module(name, kept)


def _to_nf4(module: torch.nn.Module, compute_dtype: torch.dtype, kept: list[str], prefix: str = "") -> torch.nn.Module:
    """Swaps each linear layer of `module` that loading would quantize for a bitsandbytes NF4 layer of the same weights.

    Without double quantization, as `pipeline_quantization` loads: fp32 scales, one per 64 weights.
    """
    import bitsandbytes as bnb

    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear) and _converted(prefix + name, kept):
            layer = bnb.nn.Linear4bit(
                child.in_features,
                child.out_features,
                bias=child.bias is not None,
                compute_dtype=compute_dtype,
                compress_statistics=False,
                quant_type="nf4",
                device=child.weight.device,
            )
            layer.weight = bnb.nn.Params4bit(
                child.weight.data, requires_grad=False, compress_statistics=False, quant_type="nf4"
            )
            if child.bias is not None:
                layer.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
            setattr(module, name, layer.to(child.weight.device))
        else:
            _to_nf4(child, compute_dtype, kept, f"{prefix}{name}.")
    return module

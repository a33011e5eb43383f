"""`chatedit bench`: per-stage latency and memory of one real turn, as numbers.

The turn is "remove the <object> and make it sunset" (two steps: a region inpaint and a global
edit), planned by the rules planner by default so no LLM time is counted; the LLM calls each turn
made are counted from its report either way. After a warm-up turn, each repeat runs
the turn on a fresh session and records, per stage, the time spent; model calls are timed with device
synchronisation (CUDA work is asynchronous, so a wall clock around it would measure the launch only).
`overhead` is the turn's wall time minus the time inside model calls: everything chatedit itself
does (masks, crops, pastes, checks, the store and the checkpointer).
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from PIL import Image

from chatedit.agent.brain import llm_report
from chatedit.agent.session import Editor
from chatedit.agent.toolbox import EditSettings
from chatedit.tools import region_edit
from chatedit.tools.diffusion_models import Acceleration
from chatedit.tools.diffusion_utils import denoiser
from chatedit.tools.models import ROLES

MODEL_METHODS = {
    "detector": [("model", "forward")],
    "segmenter": [("model", "forward"), ("model", "get_image_embeddings")],
    "inpainter": [
        ("unet", "forward"),
        ("transformer", "forward"),
        ("vae", "encode"),
        ("vae", "decode"),
        ("text_encoder", "forward"),
    ],
    "global_editor": [
        ("unet", "forward"),
        ("transformer", "forward"),
        ("vae", "encode"),
        ("vae", "decode"),
        ("text_encoder", "forward"),
    ],
}
"""The calls into model weights, per role, that count as model time (a pipeline has a UNet or a transformer)."""


class ModelClock:
    """Accumulates time spent inside model calls, synchronising the device around each outermost call."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth = threading.local()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def wrap(self, owner, method: str, role: str) -> None:
        original = getattr(owner, method)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            depth = getattr(self._depth, "value", 0)
            if depth:
                return original(*args, **kwargs)
            self._depth.value = 1
            self._sync()
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self._sync()
                self.seconds[role] += time.perf_counter() - started
                self._depth.value = 0

        setattr(owner, method, timed)

    def reset(self) -> None:
        self.seconds.clear()


def _attach(clock: ModelClock, models) -> None:
    for role, methods in MODEL_METHODS.items():
        bundle = getattr(models, role)
        for attribute, method in methods:
            owner = getattr(bundle, attribute, None)
            if owner is not None:
                clock.wrap(owner, method, role)


def bench_photo(size: tuple[int, int]) -> Image.Image:
    """Gives back the sample photo (examples/images/coffee.jpg when present) resized to `size`."""
    sample = Path(__file__).resolve().parents[1] / "examples" / "images" / "coffee.jpg"
    if sample.exists():
        return Image.open(sample).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    # An installed package without the examples: a smooth synthetic scene keeps the turn's work the same.
    x = torch.linspace(0, 1, size[0])[None, :, None]
    y = torch.linspace(0, 1, size[1])[:, None, None]
    rgb = torch.cat([x.expand(size[1], -1, -1), y.expand(-1, size[0], -1), (x * y).expand(size[1], size[0], 1)], 2)
    return Image.fromarray((rgb * 255).byte().numpy())


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _summary(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def run_bench(
    models: str = "tiny",
    device: str = "auto",
    size: tuple[int, int] = (768, 512),
    repeat: int = 3,
    target: str = "cup",
    settings: Optional[EditSettings] = None,
    planner: str = "rules",
    llm=None,
    quantize: Optional[str] = None,
    offload: Optional[str] = None,
) -> dict:
    """Gives back per-stage timings (ms, median/min/max over `repeat` turns), memory and the LLM calls made.

    Args:
        models: the model choice (`tiny`, `random-full`, `auto`, or `family:weights`).
        device: `auto`, `cpu` or `cuda`.
        size: the photo's (width, height).
        repeat: timed turns after one warm-up turn.
        target: the object the turn removes.
        settings: generation settings (steps, sizes); the defaults otherwise.
        planner: `rules` (no LLM time in the numbers), `auto` or `llm`, as for `Editor`.
        quantize: the editors' quantization (`none`, `int8`, `fp8`, `nf4`; None: the settings').
        offload: `none`, `model` or `group` (None: the settings').
        llm: `editor`, `local:MODEL`, a server URL or a LangChain chat model for the `auto` and `llm`
            planners (else the settings' choice).

    The result says which LLM planned, the tokens it generated per turn (the `plan` stage holds its
    seconds), and `llm_extra_weight_bytes`: the bytes of the LLM's weights that no editor role holds
    (0 for `--llm editor`: the planner is the family's own text encoder).
    """
    instruction = f"remove the {target} and make it sunset"
    # A benchmark cannot answer "which one?": it takes the likeliest target.
    settings = settings or EditSettings()
    settings.ask_when_ambiguous = False
    options = dict(models=models, planner=planner, device=device, llm=llm, quantize=quantize, offload=offload)
    run = _timed_run(instruction, bench_photo(size), settings, repeat, options)
    return {
        "models": models,
        **_device_rows(run.models),
        "size": list(size),
        "repeat": repeat,
        "instruction": instruction,
        "target_found": all(turn.report["steps"][0]["status"] != "not_found" for _, turn in run.turns),
        "load_ms": round(run.load_ms, 1),
        "stages_ms": _stages(run.turns),
        "gpu_memory_resident_gib": round(run.resident / 2**30, 3) if run.resident is not None else None,
        "gpu_memory_peak_gib": _peak_gib(run.models.device),
        "planner": run.warm_up.report.get("planner", planner),
        "llm_calls_warm_up": run.warm_up.report.get("llm_calls", 0),
        "llm_calls_per_turn": [turn.report.get("llm_calls", 0) for _, turn in run.turns],
        "llm": llm_report(run.llm),
        "llm_tokens_per_turn": [turn.report.get("llm_tokens", 0) for _, turn in run.turns],
        "llm_extra_weight_bytes": run.extra,
        "steps": _steps_run(run.models, settings),
        "acceleration": Acceleration().model_dump(),
        "attention": attention_kernels(run.models),
        "versions": {name: _version(name) for name in ("torch", "diffusers", "transformers", "langgraph")},
    }


@dataclass
class _Run:
    """What one benchmark run measured: the models, their load time and memory, the warm-up and the timed turns."""

    models: Any
    llm: Any
    load_ms: float
    resident: Optional[int]
    extra: Optional[int]
    warm_up: Any
    turns: list


def _timed_run(instruction: str, photo, settings: EditSettings, repeat: int, options: dict) -> _Run:
    """Loads the Editor of `options`, runs one warm-up turn and `repeat` timed ones."""
    with tempfile.TemporaryDirectory() as data_dir:
        started = time.perf_counter()
        editor = Editor(data_dir=data_dir, settings=settings, seed=0, **options)
        models_set = editor.toolbox.models
        resident = _load_all(models_set)
        extra = llm_extra_weight_bytes(models_set, editor.llm)
        load_ms = (time.perf_counter() - started) * 1000.0
        clock = ModelClock(models_set.device)
        _attach(clock, models_set)
        warm_up = editor.session().send(instruction, image=photo)  # kernels, caches, allocator
        turns = [_timed_turn(editor, clock, instruction, photo) for _ in range(repeat)]
        # Pending image writes must land before the temporary data folder goes.
        editor.store.flush()
        editor.close()
    return _Run(models_set, editor.llm, load_ms, resident, extra, warm_up, turns)


def _stages(turns: list) -> dict[str, dict]:
    """Gives back each stage's summary over the timed turns."""
    rows: dict[str, list[float]] = defaultdict(list)
    for row, _ in turns:
        for stage, value in row.items():
            rows[stage].append(value)
    return {stage: _summary(values) for stage, values in rows.items()}


def _device_rows(models_set) -> dict:
    """Gives back what ran where: the models' report, the device and its name, the working dtypes."""
    on_cuda = models_set.device.type == "cuda"
    return {
        "models_run": models_set.report(),
        "device": str(models_set.device),
        "device_name": torch.cuda.get_device_name(models_set.device) if on_cuda else "cpu",
        "dtype": str(models_set.dtype).removeprefix("torch."),
        # The modern and max editors run in bf16 where the others run in fp16.
        "editor_dtype": str(models_set.global_editor.dtype).removeprefix("torch."),
    }


def _peak_gib(device) -> Optional[float]:
    """Gives back the peak GPU memory allocated on `device` (None off CUDA)."""
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 3)


def _steps_run(models, settings: EditSettings) -> dict[str, int]:
    """Gives back the denoising steps the editors ran: the classic pair, or the one modern or max editor's."""
    if models.family == "classic":
        return {"inpaint": settings.inpaint_steps, "global_edit": settings.global_steps}
    return {"editor": region_edit.editor_steps(models.global_editor, settings.editor_steps)}


def llm_extra_weight_bytes(models, chat_model) -> Optional[int]:
    """Gives back the bytes of an in-process LLM's weights that no loaded role holds; None for a server or none.

    Weights are the same when they share storage (the editor's text encoder is one module in both).
    """
    loaded = getattr(chat_model, "lm", None)
    if loaded is None:
        return None
    held = {p.data_ptr() for module in role_modules(models) for p in module.parameters()}
    return sum(p.numel() * p.element_size() for p in loaded.model.parameters() if p.data_ptr() not in held)


def role_modules(models) -> list[torch.nn.Module]:
    """Gives back the torch modules of every loaded role: pipeline components and the finders' models."""
    modules: list[torch.nn.Module] = []
    for role in models.loaded():
        holder = getattr(models, role)
        parts = holder.components.values() if hasattr(holder, "components") else [getattr(holder, "model", None)]
        modules.extend(part for part in parts if isinstance(part, torch.nn.Module))
    return modules


def _load_all(models) -> Optional[int]:
    """Loads every role and gives back the GPU memory they hold (None off CUDA)."""
    on_cuda = models.device.type == "cuda"
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(models.device)
    for role in ROLES:
        getattr(models, role)
    if on_cuda:
        torch.cuda.synchronize(models.device)
    return torch.cuda.memory_allocated(models.device) if on_cuda else None


def _timed_turn(editor: Editor, clock: ModelClock, instruction: str, photo: Image.Image):
    """Gives back one turn on a fresh session as (ms per stage, the turn)."""
    clock.reset()
    session = editor.session()
    started = time.perf_counter()
    turn = session.send(instruction, image=photo)
    wall = (time.perf_counter() - started) * 1000.0
    stages = turn.report["timings_ms"]
    model_ms = {role: seconds * 1000.0 for role, seconds in clock.seconds.items()}
    # Image writes, the answer, and what no node accounts for: checkpoint writes and graph bookkeeping.
    unaccounted = wall - sum(stages.values())
    row = {
        "plan": stages.get("plan", 0.0),
        "detect": model_ms.get("detector", 0.0),
        "segment": model_ms.get("segmenter", 0.0),
        "inpaint": stages.get("inpaint", 0.0),
        "global_edit": stages.get("global_edit", 0.0),
        "verify": stages.get("verify", 0.0),
        "store_checkpoint": stages.get("store", 0.0) + stages.get("respond", 0.0) + unaccounted,
        "model": sum(model_ms.values()),
        "overhead": wall - sum(model_ms.values()),
        "turn": wall,
    }
    return row, turn


def attention_kernels(models) -> dict[str, str]:
    """Gives back, per loaded role, which attention implementation its model runs ("sdpa" is PyTorch's fused one)."""
    kernels = {}
    for role in ("inpainter", "global_editor"):
        processors = {type(p).__name__ for p in denoiser(getattr(models, role)).attn_processors.values()}
        # diffusers' AttnProcessor2_0 calls torch's scaled_dot_product_attention.
        kernels[role] = "sdpa" if processors == {"AttnProcessor2_0"} else "+".join(sorted(processors))
    for role in ("detector", "segmenter"):
        kernels[role] = str(getattr(models, role).model.config._attn_implementation)
    return kernels

"""How the modern (FLUX.2 klein) and max (Qwen-Image-Edit) families edit: regions, whole pictures, changes.

All edits keep chatedit's contract: pixels outside the paste mask are the input's, bit for bit.

- Region steps (`remove`, `add`, `background`) cut a crop around the mask, repaint it with the family's
  inpainting pipeline at about 1 MP and the crop's aspect ratio, and paste back only the mask.
- `local` and `replace` steps run the instruction editor on the crop ("make the car red" sees the car
  and keeps its shape, which inpainting from noise loses) and paste back the dilated mask.
- Whole-picture steps run the instruction editor on the picture and carry the result onto the full-size
  photo (`tools/full_resolution.py`).
- Text, move, count and pose steps run the instruction editor on the picture and keep only the region
  that changed, as ZONE does (`tools/blend.py`).

Each model gets its own settings: klein is step-distilled (4 steps, guidance ignored, so none is sent);
Qwen-Image-Edit uses true classifier-free guidance with a negative prompt (`true_cfg_scale`, 40 steps).
"""

from __future__ import annotations

import math

import numpy as np
from diffusers import Flux2KleinInpaintPipeline, Flux2KleinPipeline
from PIL import Image

from chatedit.tools import blend, masks
from chatedit.tools.diffusion_utils import StepCallback, generator, pick_seed, retry_smaller_on_oom, step_callback
from chatedit.tools.errors import InputError
from chatedit.tools.full_resolution import carry_to_full_size
from chatedit.tools.inpaint import (
    REMOVE_NEGATIVE_PROMPT,
    REMOVE_PROMPT,
    EditResult,
    check_mask,
    crop_box,
    feather_for,
    paste,
    resize_mask,
)

MEGAPIXEL = 1024 * 1024
"""Both families are trained at about 1 MP; that is their working area."""

SIZE_MULTIPLE = 16
"""Working sides are multiples of 16: the VAE's 8 times the transformer's 2 x 2 latent patches."""

DEFAULT_STEPS = {"klein": 4, "qwen": 40}
"""Steps each model is made for: klein is distilled to 4, Qwen-Image-Edit's model card uses 40."""

DEFAULT_TRUE_CFG = 4.0
"""Qwen-Image-Edit's true classifier-free guidance scale (its model card's value)."""
INPAINT_CONTEXT = 1.0
"""Padding around a repainted region's box, as a multiple of the box's size on each side."""
OBJECT_CONTEXT = 0.5
"""Padding around an object the instruction editor changes on its crop (it needs less of the scene)."""

NO_NEGATIVE = " "
"""Qwen-Image-Edit's "no negative prompt": true CFG runs only when a negative prompt is given."""


def is_klein(pipe) -> bool:
    """Gives back whether `pipe` is one of FLUX.2 klein's pipelines (else Qwen-Image-Edit's)."""
    return isinstance(pipe, (Flux2KleinPipeline, Flux2KleinInpaintPipeline))


def editor_size(width: int, height: int, area: int = MEGAPIXEL) -> tuple[int, int]:
    """Gives back (width, height) of about `area` pixels with the aspect ratio of `width` x `height`, sides multiples of 16."""
    scale = math.sqrt(area / (width * height))

    def snap(side: int) -> int:
        return max(SIZE_MULTIPLE, round(side * scale / SIZE_MULTIPLE) * SIZE_MULTIPLE)

    return snap(width), snap(height)


def editor_steps(pipe, steps: int | None) -> int:
    """Gives back `steps`, or the number the pipeline's model is made for when it is None; raises InputError below 1."""
    if steps is None:
        return DEFAULT_STEPS["klein" if is_klein(pipe) else "qwen"]
    if steps < 1:
        raise InputError(f"The number of steps must be 1 or more; got {steps}.")
    return steps


def _model_settings(pipe, guidance: float | None, negative_prompt: str) -> dict:
    """Gives back the guidance arguments each model takes: none for distilled klein, true CFG for Qwen."""
    if is_klein(pipe):
        # Distilled klein ignores guidance (and warns when one above 1 is sent); base klein uses it.
        return {"guidance_scale": 1.0} if pipe.config.is_distilled else {"guidance_scale": guidance or 4.0}
    return {"true_cfg_scale": guidance or DEFAULT_TRUE_CFG, "negative_prompt": negative_prompt or NO_NEGATIVE}


def run_instruction_editor(
    pipe,
    image: Image.Image,
    instruction: str,
    *,
    size: tuple[int, int],
    steps: int,
    guidance: float | None,
    seed: int,
    on_step: StepCallback | None,
) -> Image.Image:
    """Gives back the instruction editor's answer for `image` at `size` (the picture is its reference)."""
    return pipe(
        image=image.resize(size, Image.Resampling.LANCZOS),
        prompt=instruction,
        width=size[0],
        height=size[1],
        num_inference_steps=steps,
        generator=generator(pipe, seed),
        callback_on_step_end=step_callback(on_step),
        **_model_settings(pipe, guidance, ""),
    ).images[0]


def run_region_editor(
    pipe,
    image: Image.Image,
    mask: np.ndarray,
    prompt: str,
    *,
    size: tuple[int, int],
    steps: int,
    guidance: float | None,
    negative_prompt: str,
    seed: int,
    on_step: StepCallback | None,
) -> Image.Image:
    """Gives back the inpainting pipeline's answer for `image` with `mask` repainted from noise, at `size`."""
    kwargs = {"width": size[0], "height": size[1]} if is_klein(pipe) else {}
    painted = pipe(
        image=image.resize(size, Image.Resampling.LANCZOS),
        mask_image=resize_mask(mask, size),
        prompt=prompt,
        strength=1.0,
        num_inference_steps=steps,
        generator=generator(pipe, seed),
        callback_on_step_end=step_callback(on_step),
        **kwargs,
        **_model_settings(pipe, guidance, negative_prompt),
    ).images[0]
    # Qwen-Image-Edit's inpainting picks its own 1 MP size; the caller scales every answer to the crop.
    return painted


def _crop_edit(
    image: Image.Image, mask: np.ndarray, paint, *, context: float, feather_px: int | None, area: int, info: dict
) -> EditResult:
    """Gives back `image` with `paint(crop, crop_mask, size)` pasted back through the feathered mask (`inpaint.paste`).

    The crop is the mask's box with `context` times its size around it, magnified at most 4x; it is
    painted at about `area` pixels and its own aspect ratio, scaled back, and only the mask's pixels
    (with an outward feather) are composited into a copy of the input.
    """
    box = masks.box_of(mask)
    if feather_px is None:
        feather_px = feather_for(box)
    crop = crop_box(box, image.size, context=context, margin=feather_px + 1, min_side=round(math.sqrt(area)) // 4)
    x0, y0, x1, y1 = crop
    crop_image, crop_mask = image.crop(crop), mask[y0:y1, x0:x1]
    info.update(crop_box=crop, feather_px=feather_px)

    def run(scale: float) -> Image.Image:
        size = editor_size(x1 - x0, y1 - y0, round(area * scale * scale))
        info["working_size"] = size
        return paint(crop_image, crop_mask, size)

    painted = retry_smaller_on_oom(run, info).resize(crop_image.size, Image.Resampling.LANCZOS)
    alpha = np.zeros(mask.shape, dtype=np.float32)
    alpha[y0:y1, x0:x1] = masks.feather(crop_mask, feather_px)
    return EditResult(image=paste(image, painted, alpha, crop), mask=alpha, info=info)


def _checked(image: Image.Image, mask, steps: int | None, pipe) -> tuple[Image.Image, np.ndarray, int]:
    """Gives back the picture in RGB, the mask checked against it (`inpaint.check_mask`) and the steps to run."""
    image = image.convert("RGB")
    return image, check_mask(mask, image), editor_steps(pipe, steps)


def inpaint_region(
    pipe,
    image: Image.Image,
    mask,
    prompt: str,
    *,
    negative_prompt: str = "",
    steps: int | None = None,
    guidance: float | None = None,
    seed: int | None = None,
    area: int = MEGAPIXEL,
    context: float = INPAINT_CONTEXT,
    feather_px: int | None = None,
    on_step: StepCallback | None = None,
) -> EditResult:
    """Gives back `image` with the region under `mask` repainted to show `prompt` (remove, add, background).

    Args:
        pipe: the family's inpainting pipeline (`ModelSet.inpainter` of `modern` or `max`).
        image: the picture to edit.
        mask: (height, width) array of the image; nonzero pixels are repainted.
        prompt: what the masked region should show.
        negative_prompt: what it should not show (Qwen-Image-Edit; klein has no negative prompt).
        steps: denoising steps; None: what the model is made for (4 for klein, 40 for Qwen).
        guidance: true CFG scale for Qwen; None: 4.0. Distilled klein takes none.
        seed: the random seed; None picks one (recorded in `info`).
        area: the working area in pixels (about 1 MP for the real models).
        context: padding around the mask's box, as a multiple of the box's size on each side.
        feather_px: width of the outward seam blend; None scales it with the mask.
        on_step: called as on_step(step_index, total_steps) after each denoising step.
    """
    image, mask, steps = _checked(image, mask, steps, pipe)
    seed = pick_seed(seed)
    info = {"seed": seed, "steps": steps, "prompt": prompt, "negative_prompt": negative_prompt, "mode": "inpaint"}

    def paint(crop_image, crop_mask, size):
        return run_region_editor(
            pipe,
            crop_image,
            crop_mask,
            prompt,
            size=size,
            steps=steps,
            guidance=guidance,
            negative_prompt=negative_prompt,
            seed=seed,
            on_step=on_step,
        )

    return _crop_edit(image, mask, paint, context=context, feather_px=feather_px, area=area, info=info)


def remove_region(
    pipe, image: Image.Image, mask, target: str, *, prompt: str = REMOVE_PROMPT, dilation: int | None = None, **kwargs
) -> EditResult:
    """Gives back `image` with the object under `mask` removed: the mask grown (edges, shadow), the scene continued.

    Args:
        pipe: the family's inpainting pipeline.
        image: the picture to edit.
        mask: (height, width) array; nonzero pixels belong to the object.
        target: the object's name, e.g. "dog" (Qwen's negative prompt).
        prompt: what is behind the object.
        dilation: pixels to grow the mask by; None scales it with the object.
        **kwargs: passed to `inpaint_region`.
    """
    mask = masks.as_mask(mask)
    if dilation is None:
        dilation = masks.dilation_for(mask)
    negative = ", ".join(part for part in (target, REMOVE_NEGATIVE_PROMPT, kwargs.pop("negative_prompt", "")) if part)
    result = inpaint_region(pipe, image, masks.dilate(mask, dilation), prompt, negative_prompt=negative, **kwargs)
    result.info.update(target=target, dilation=dilation)
    return result


def edit_region(
    pipe,
    image: Image.Image,
    mask,
    instruction: str,
    *,
    dilation: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int | None = None,
    area: int = MEGAPIXEL,
    context: float = OBJECT_CONTEXT,
    on_step: StepCallback | None = None,
) -> EditResult:
    """Gives back `image` with the object under `mask` changed by the instruction editor (local, replace).

    The editor sees the crop around the object and keeps its shape and light; only the dilated mask
    (the object and a rim for a changed outline) is pasted back.

    Args:
        pipe: the family's instruction editor (`ModelSet.global_editor` of `modern` or `max`).
        image: the picture to edit.
        mask: (height, width) array; nonzero pixels belong to the object.
        instruction: the edit, e.g. "make the car red" or "turn the cat into a fox".
        dilation: pixels to grow the paste mask by; None: 2% of the object's larger side, at least 2.
        steps, guidance, seed, area, on_step: as in `inpaint_region`.
        context: padding around the mask's box, as a multiple of the box's size on each side.
    """
    image, mask, steps = _checked(image, mask, steps, pipe)
    if dilation is None:
        box = masks.box_of(mask)
        dilation = max(2, round(0.02 * max(box[2] - box[0], box[3] - box[1])))
    seed = pick_seed(seed)
    info = {"seed": seed, "steps": steps, "instruction": instruction, "dilation": dilation, "mode": "instruction"}

    def paint(crop_image, crop_mask, size):
        return run_instruction_editor(
            pipe, crop_image, instruction, size=size, steps=steps, guidance=guidance, seed=seed, on_step=on_step
        )

    return _crop_edit(
        image, masks.dilate(mask, dilation), paint, context=context, feather_px=None, area=area, info=info
    )


def edit_whole(
    pipe,
    image: Image.Image,
    instruction: str,
    *,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int | None = None,
    area: int = MEGAPIXEL,
    on_step: StepCallback | None = None,
) -> EditResult:
    """Gives back the whole picture edited by the instruction editor, at the input's size and detail (`mask` is None).

    The editor works at about `area` pixels; a larger photo gets the change carried onto its own
    pixels when the edit kept its structure (`full_resolution.carry_to_full_size`).
    """
    image = image.convert("RGB")
    steps = editor_steps(pipe, steps)
    seed = pick_seed(seed)
    info = {"seed": seed, "steps": steps, "instruction": instruction, "guidance": guidance}

    def run(scale: float) -> Image.Image:
        size = editor_size(image.width, image.height, round(min(area, image.width * image.height) * scale * scale))
        info["working_size"] = size
        return run_instruction_editor(
            pipe, image, instruction, size=size, steps=steps, guidance=guidance, seed=seed, on_step=on_step
        )

    edited, carried = carry_to_full_size(image, retry_smaller_on_oom(run, info))
    info.update(carried)
    return EditResult(image=edited, mask=None, info=info)


def edit_changed_region(
    pipe, image: Image.Image, instruction: str, *, candidates=None, region=None, **kwargs
) -> EditResult:
    """Gives back an instruction edit kept only where it changed the picture (text, move, count, pose).

    The instruction editor paints the whole picture; ZONE's layer (`blend.zone_layer`, with SAM
    segments of the edit as `candidates` when given) picks the region that changed, optionally kept
    near `region` (the located object); everything else is the input's, bit for bit.

    Args:
        pipe: the family's instruction editor.
        image: the picture to edit.
        instruction: e.g. "make the sign say OPEN", "move the cup to the left".
        candidates: SAM segments of the edited canvas, or None for the changed region alone.
        region: a mask the change must touch (the object named by the step), or None.
        **kwargs: passed to `edit_whole` (steps, guidance, seed, area, on_step).
    """
    image = image.convert("RGB")
    whole = edit_whole(pipe, image, instruction, **kwargs)
    canvas = whole.image
    layer = blend.zone_layer(image, canvas, candidates(canvas) if callable(candidates) else candidates)
    if region is not None:
        layer = blend.keep_near(layer, region)
    if not layer.any():
        whole.info.update(mode="zone", changed=False)
        return EditResult(image=image.copy(), mask=np.zeros((image.height, image.width), np.float32), info=whole.info)
    edited, alpha = blend.composite(image, canvas, layer)
    whole.info.update(mode="zone", changed=True)
    return EditResult(image=edited, mask=alpha, info=whole.info)


def generate(
    pipe,
    prompt: str,
    size: tuple[int, int] | None = None,
    *,
    seed: int | None = None,
    steps: int | None = None,
    area: int = MEGAPIXEL,
    on_step: StepCallback | None = None,
) -> EditResult:
    """Gives back a picture drawn from `prompt` alone by FLUX.2 klein, `size` (width, height) or square (`mask` is None).

    klein with no reference picture is a text-to-image model. It draws at about `area` pixels with the
    asked aspect ratio (sides multiples of 16, as the model needs); the drawing is then scaled to
    exactly `size`, so any size may be asked for.

    Args:
        pipe: FLUX.2 klein's instruction editor (`ModelSet.global_editor` of `modern`).
        prompt: what to draw.
        size: (width, height) of the answer; None: the model's own square working size.
        seed: the random seed; None picks one (recorded in `info`).
        steps: denoising steps; None: what the model is made for (4).
        area: the working area in pixels (about 1 MP for the real model).
        on_step: called as on_step(step_index, total_steps) after each denoising step.
    """
    if not is_klein(pipe):
        raise InputError("Drawing from text alone needs FLUX.2 klein (the modern models); this editor only edits.")
    if not prompt.strip():
        raise InputError("Say what to draw, e.g. 'a red bicycle against a brick wall'.")
    steps = editor_steps(pipe, steps)
    seed = pick_seed(seed)
    info = {"seed": seed, "steps": steps, "prompt": prompt, "mode": "generate"}

    def run(scale: float) -> Image.Image:
        working = editor_size(*(size or (1, 1)), round(area * scale * scale))
        info["working_size"] = working
        return pipe(
            prompt=prompt,
            width=working[0],
            height=working[1],
            num_inference_steps=steps,
            generator=generator(pipe, seed),
            callback_on_step_end=step_callback(on_step),
            **_model_settings(pipe, None, ""),
        ).images[0]

    drawn = retry_smaller_on_oom(run, info).convert("RGB")
    if size is not None and drawn.size != tuple(size):
        drawn = drawn.resize(size, Image.Resampling.LANCZOS)
    return EditResult(image=drawn, mask=None, info=info)

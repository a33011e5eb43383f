"""Region edits with a diffusion inpainter: repaint what is under a mask, leave every other pixel alone.

An edit never sends the whole photo through the model. It cuts a crop around the mask with some of
the surroundings for context, scales the crop to the model's native resolution at the crop's own
aspect ratio (a 512x512 squash would distort the object and waste resolution), inpaints, scales the
result back and pastes only the masked pixels, with a feather that grows outward from the mask.
Every pixel where the paste mask is 0 is copied from the input unchanged, so chained edits never
wear down the parts of the picture they did not touch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from chatedit.tools import masks
from chatedit.tools.blend import alpha_composite
from chatedit.tools.diffusion_utils import (
    StepCallback,
    generator,
    native_resolution,
    pick_seed,
    retry_smaller_on_oom,
    size_multiple,
    step_callback,
    working_size,
)
from chatedit.tools.errors import InputError
from chatedit.tools.removal import REMOVE_NEGATIVE_PROMPT, REMOVE_PROMPT

Box = tuple[int, int, int, int]

MAX_CUT_TOKENS = 1024
"""Prompts are cut to the text encoder's limit only when it is at most this (CLIP's 77, not an LLM's 100k)."""


@dataclass
class EditResult:
    """An edited image and the exact region that was allowed to change."""

    image: Image.Image
    """The edited image, the size of the input."""
    mask: np.ndarray | None
    """The float32 paste alpha in [0, 1], (height, width) of the input: 0 means the pixel is the input's
    own, unchanged. None when the whole image was edited."""
    info: dict = field(default_factory=dict)
    """What was done: crop box, working size, seed, steps, whether a smaller size was needed, ..."""


def inpaint(
    pipe,
    image: Image.Image,
    mask,
    prompt: str,
    *,
    negative_prompt: str = "",
    steps: int = 25,
    guidance: float = 7.5,
    seed: int | None = None,
    strength: float = 1.0,
    context: float = 1.0,
    feather_px: int | None = None,
    on_step: StepCallback | None = None,
) -> EditResult:
    """Gives back `image` with the region under `mask` repainted to match `prompt`.

    Args:
        pipe: a diffusers inpainting pipeline (`tools.models.ModelSet.inpainter`).
        image: the picture to edit.
        mask: (height, width) array of the image; nonzero pixels are repainted.
        prompt: what the masked region should show.
        negative_prompt: what it should not show.
        steps: denoising steps (DPM-Solver++: 20-30 is plenty).
        guidance: classifier-free guidance scale; higher follows the prompt more closely.
        seed: the random seed; None picks one (recorded in `info`).
        strength: how far the region may move from its current pixels; 1.0 repaints from noise.
        context: padding around the mask's bounding box, as a multiple of the box's size on each side.
        feather_px: width of the outward seam blend; None scales it with the mask (5% of its larger
            side, at least 3 px).
        on_step: called as on_step(step_index, total_steps) after each denoising step.

    Returns:
        The edited image, the paste alpha it used, and `info` with the crop box, working size, seed, ...
    """
    image = image.convert("RGB")
    mask = check_mask(mask, image)
    _check_schedule(steps, strength)
    box = masks.box_of(mask)
    if feather_px is None:
        feather_px = feather_for(box)
    # Small masks still get enough surroundings to continue, and are magnified at most twice.
    crop = crop_box(box, image.size, context=context, margin=feather_px + 1, min_side=native_resolution(pipe) // 2)
    x0, y0, x1, y1 = crop
    seed = pick_seed(seed)
    call = _pipeline_call(pipe, prompt, negative_prompt, steps, guidance, strength, on_step)
    info = {
        "crop_box": crop,
        "seed": seed,
        "steps": steps,
        "guidance": guidance,
        "strength": strength,
        "feather_px": feather_px,
        "prompt": call["prompt"],
        "negative_prompt": call["negative_prompt"] or "",
    }
    painted = _paint(pipe, image.crop(crop), mask[y0:y1, x0:x1], seed, call, info)
    return _pasted(image, painted, mask, crop, feather_px, info)


def _pipeline_call(pipe, prompt, negative_prompt, steps, guidance, strength, on_step) -> dict:
    """Gives back the keyword arguments of the inpainting pipeline's call, the prompts fitted to its encoder."""
    return {
        "prompt": fit_prompt(pipe, prompt),
        # None lets each pipeline use its own "no negative prompt" (SDXL zeroes the embedding).
        "negative_prompt": fit_prompt(pipe, negative_prompt) or None,
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "strength": strength,
        "callback_on_step_end": step_callback(on_step),
    }


def _check_schedule(steps: int, strength: float) -> None:
    """Raises InputError for a denoising schedule that cannot run."""
    if steps < 1:
        raise InputError(f"The number of steps must be 1 or more; got {steps}.")
    if not 0.0 < strength <= 1.0:
        raise InputError(f"The strength must be above 0 and at most 1; got {strength}.")


def _pasted(image, painted, mask, crop, feather_px: int, info: dict) -> EditResult:
    """Gives back `image` with the painted crop blended in through the feathered mask, and that mask."""
    x0, y0, x1, y1 = crop
    alpha = np.zeros(mask.shape, dtype=np.float32)
    alpha[y0:y1, x0:x1] = masks.feather(mask[y0:y1, x0:x1], feather_px)
    # Only the part of the crop that the paste mask reaches is blended.
    px0, py0, px1, py1 = masks.box_of(alpha[y0:y1, x0:x1] > 0)
    patch = painted.crop((px0, py0, px1, py1))
    return EditResult(image=paste(image, patch, alpha, (x0 + px0, y0 + py0, x0 + px1, y0 + py1)), mask=alpha, info=info)


def _paint(pipe, crop_image: Image.Image, crop_mask: np.ndarray, seed: int, call: dict, info: dict) -> Image.Image:
    """Gives back the crop repainted under its mask at the crop's size, at a smaller working size after an OOM."""
    native = native_resolution(pipe)

    def run(scale: float) -> Image.Image:
        size = working_size(crop_image.width, crop_image.height, round(native * scale), size_multiple(pipe))
        info["working_size"] = size
        return pipe(
            image=crop_image.resize(size, Image.Resampling.LANCZOS),
            mask_image=resize_mask(crop_mask, size),
            width=size[0],
            height=size[1],
            # A retry starts from the same noise as the first try.
            generator=generator(pipe, seed),
            **call,
        ).images[0]

    return retry_smaller_on_oom(run, info).resize(crop_image.size, Image.Resampling.LANCZOS)


def fit_prompt(pipe, text: str) -> str:
    """Gives back `text`, cut after a word to what the pipeline's text encoder reads (CLIP: 77 tokens).

    CLIP drops what is past its 77th token anyway, with a warning; cutting first through the
    pipeline's own tokenizer keeps the words it reads and says nothing. Encoders that read long
    prompts (the 2026 editors' language models) get the text unchanged.
    """
    tokenizer = getattr(pipe, "tokenizer", None)
    limit = getattr(tokenizer, "model_max_length", None)
    if not text or tokenizer is None or not isinstance(limit, int) or limit > MAX_CUT_TOKENS:
        return text

    def fits(candidate: str) -> bool:
        return len(tokenizer(candidate, verbose=False)["input_ids"]) <= limit

    if fits(text):
        return text
    words = text.split()
    # Binary search for the longest run of whole words that fits: words[:low] fits, words[:high] does not.
    low, high = 0, len(words)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(" ".join(words[:middle])) else (low, middle)
    return " ".join(words[:low]).rstrip(" ,;")


def remove(
    pipe,
    image: Image.Image,
    mask,
    target: str,
    *,
    prompt: str = REMOVE_PROMPT,
    dilation: int | None = None,
    **kwargs,
) -> EditResult:
    """Gives back `image` with the object under `mask` removed and the scene continued in its place.

    A segmentation mask hugs the object, but the object also lives in the pixels around it: a soft
    edge, a halo, its shadow. Left outside the mask, those pixels keep the object's outline and the
    inpainter grows the object back from them. So the mask is dilated (by default in proportion to
    the object's size, `tools.masks.dilation_for`), and the object's name goes into the negative
    prompt beside generic foreground terms, so that the fill is background, not a new object.

    Args:
        pipe: a diffusers inpainting pipeline.
        image: the picture to edit.
        mask: (height, width) array of the image; nonzero pixels belong to the object.
        target: the object's name, e.g. "dog".
        prompt: what is behind the object.
        dilation: pixels to grow the mask by; None scales it with the object.
        **kwargs: passed to `inpaint` (steps, seed, on_step, ...); a `negative_prompt` is added to
            the object's name.
    """
    mask = masks.as_mask(mask)
    if dilation is None:
        dilation = masks.dilation_for(mask)
    extra_negative = kwargs.pop("negative_prompt", "")
    # The specific words go first: a text encoder with a short limit reads them before the generic terms.
    negative_prompt = ", ".join(part for part in (target, extra_negative, REMOVE_NEGATIVE_PROMPT) if part)
    result = inpaint(pipe, image, masks.dilate(mask, dilation), prompt, negative_prompt=negative_prompt, **kwargs)
    result.info.update(target=target, dilation=dilation)
    return result


def feather_for(box: Box) -> int:
    """Gives back the seam width for a mask with bounding box `box`: 5% of its larger side, at least 3 px."""
    return max(3, round(0.05 * max(box[2] - box[0], box[3] - box[1])))


def crop_box(box: Box, image_size: tuple[int, int], *, context: float, margin: int, min_side: int) -> Box:
    """Gives back the crop (x0, y0, x1, y1) around `box`: padded, at least `min_side`, inside the image.

    Each side gets `context` times the box's size (at least `margin`) of padding. A crop that would
    leave the image is shifted back in before it is cut, so a mask at the border keeps its context.
    """
    width, height = image_size

    def span(low: int, high: int, limit: int) -> tuple[int, int]:
        pad = max(math.ceil(context * (high - low)), margin)
        length = min(max(high - low + 2 * pad, min_side), limit)
        start = min(max((low + high - length) // 2, 0), limit - length)
        return start, start + length

    x0, x1 = span(box[0], box[2], width)
    y0, y1 = span(box[1], box[3], height)
    return x0, y0, x1, y1


def paste(image: Image.Image, patch: Image.Image, alpha: np.ndarray, box: Box) -> Image.Image:
    """Gives back `image` with `patch` (the size of `box`) blended in by `alpha` (the size of `image`).

    Only pixels with alpha > 0 take anything from the patch; every other pixel is the input's, bit for bit.
    """
    x0, y0, x1, y1 = box
    result = image.copy()
    result.paste(alpha_composite(image.crop(box), patch, alpha[y0:y1, x0:x1]), (x0, y0))
    return result


def check_mask(mask, image: Image.Image) -> np.ndarray:
    """Gives back `mask` as a bool array, or raises InputError unless it is the image's size and not empty."""
    mask = masks.as_mask(mask)
    if mask.shape != (image.height, image.width):
        raise InputError(
            f"The mask is {mask.shape[1]}x{mask.shape[0]} but the image is {image.width}x{image.height}; "
            "give a mask of the image's size."
        )
    if not mask.any():
        raise InputError("The mask is empty, so there is nothing to edit; give a mask that covers the region.")
    return mask


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """Gives back the mask as an "L" image of `size`; a working pixel touched by the mask is inside."""
    scaled = masks.to_image(mask).resize(size, Image.Resampling.BOX)
    return scaled.point(lambda value: 255 if value else 0)

"""Whole-image edits from an instruction ("make it winter"), with InstructPix2Pix.

Style, season, time of day, weather and lighting change every pixel, so there is no mask: the whole
picture goes through the model at its own aspect ratio and comes back at its own size; a photo larger
than the working size gets the change carried onto its own pixels when the edit kept its structure
(`tools/full_resolution.py`).
"""

from __future__ import annotations

from PIL import Image

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
from chatedit.tools.full_resolution import carry_to_full_size
from chatedit.tools.inpaint import EditResult


def global_edit(
    pipe,
    image: Image.Image,
    instruction: str,
    *,
    steps: int = 20,
    guidance: float = 7.5,
    image_guidance: float = 1.5,
    max_side: int | None = None,
    seed: int | None = None,
    on_step: StepCallback | None = None,
) -> EditResult:
    """Gives back `image` edited as `instruction` says, at the input's size (`mask` is None).

    Args:
        pipe: a diffusers InstructPix2Pix pipeline (`tools.models.ModelSet.global_editor`).
        image: the picture to edit.
        instruction: the edit, phrased as an instruction ("turn it into a watercolour").
        steps: denoising steps.
        guidance: text guidance; higher follows the instruction more closely.
        image_guidance: image guidance; higher stays closer to the input.
        max_side: the longer side of the working size; None means 1.5x the model's native resolution
            (768 for InstructPix2Pix on SD 1.5, 96 for the tiny test model).
        seed: the random seed; None picks one (recorded in `info`).
        on_step: called as on_step(step_index, total_steps) after each denoising step.
    """
    image = image.convert("RGB")
    if steps < 1:
        raise InputError(f"The number of steps must be 1 or more; got {steps}.")
    if max_side is None:
        max_side = native_resolution(pipe) * 3 // 2
    seed = pick_seed(seed)
    info = {
        "seed": seed,
        "steps": steps,
        "guidance": guidance,
        "image_guidance": image_guidance,
        "instruction": instruction,
    }

    def run(scale: float) -> Image.Image:
        size = working_size(image.width, image.height, round(max_side * scale), size_multiple(pipe))
        info["working_size"] = size
        return pipe(
            prompt=instruction,
            image=image.resize(size, Image.Resampling.LANCZOS),
            num_inference_steps=steps,
            guidance_scale=guidance,
            image_guidance_scale=image_guidance,
            generator=generator(pipe, seed),
            callback_on_step_end=step_callback(on_step),
        ).images[0]

    edited, carried = carry_to_full_size(image, retry_smaller_on_oom(run, info))
    info.update(carried)
    return EditResult(image=edited, mask=None, info=info)

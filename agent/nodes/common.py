"""What the nodes share: events and progress for the stream, timings, and the pictures a turn composes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Optional

from langgraph.config import get_stream_writer

from chatedit.agent.state import ChatState
from chatedit.agent.store import ImageStore
from chatedit.tools import blend
from chatedit.tools.errors import InputError

if TYPE_CHECKING:
    pass


# ---- helpers over ids ----------------------------------------------------------------------------


def emit(event: str, **data: Any) -> None:
    """Sends a progress event to whoever streams the run in "custom" mode."""
    get_stream_writer()({"event": event, **data})


def progress(index: int, i: int, total: int) -> None:
    """Reports denoising step `i` of `total` of plan step `index` (the editors' step callback)."""
    emit("progress", index=index, step=i + 1, total=total)


def timed(stage: str, timings: dict, started: float) -> None:
    """Adds the milliseconds since `started` to the stage's total."""
    timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - started) * 1000.0


def current_image_id(state: ChatState) -> Optional[str]:
    """Gives back the id of the current version's image, or None before any upload."""
    versions = state.get("versions") or []
    return versions[state["cursor"]]["image"] if versions else None


def current_picture(state: ChatState) -> str:
    """Gives back the current version's image id; the nodes that ask run only once the session has a picture."""
    image_id = current_image_id(state)
    if image_id is None:
        raise InputError("Send an image first (attach it to your message), then tell me what to change.")
    return image_id


def compose(state: ChatState, upto: int, images: ImageStore) -> str:
    """Gives back the id of the version image with the kept attempts of steps before `upto` applied."""
    image_id = current_picture(state)
    for work in state["work"][:upto]:
        kept = work.get("kept")
        if kept is None:
            continue
        attempt = work["attempts"][kept]
        if work.get("base") == image_id or attempt["mask"] is None:
            image_id = attempt["image"]
            continue
        # The step was made on an older base (an earlier step was retried): paste only its region.
        alpha = images.get_mask(attempt["mask"])
        image_id = images.put(blend.alpha_composite(images.get(image_id), images.get(attempt["image"]), alpha))
    return image_id


def history_lines(state: ChatState) -> list[str]:
    """Gives back the instructions of the latest edits, for the planner's sense of "it" and "again"."""
    return [v["instruction"] for v in (state.get("versions") or [])[1:]][-6:]


def previous_targets(state: ChatState) -> list[str]:
    """Gives back what the turn that made the current version acted on."""
    versions = state.get("versions") or []
    return versions[state["cursor"]]["targets"] if versions else []

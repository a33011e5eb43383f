"""Helpers several test modules share."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import uvicorn
from PIL import Image

from chatedit.agent.session import Editor
from chatedit.agent.toolbox import EditSettings, Toolbox
from chatedit.tools.detect import Detection
from chatedit.tools.masks import box_mask
from chatedit.tools.models import get_models

FAST = EditSettings(inpaint_steps=2, global_steps=2, global_max_side=64)
"""Two diffusion steps on a 64-pixel working size: the tiny models' edits in a fraction of a second."""


def decoded(b64: str) -> Image.Image:
    """Gives back the picture of an OpenAI-style `b64_json` field."""
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def png(image: Image.Image) -> bytes:
    """Gives back the picture as PNG bytes, the way a client uploads it."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def random_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """Gives back a picture of uniform random noise, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@contextmanager
def serve(app) -> Iterator[str]:
    """Gives back the base URL of `app` served by uvicorn in a thread on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    instance = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        instance.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextmanager
def tiny_editor(data_dir: Path) -> Iterator[Editor]:
    """Gives back an Editor on the tiny models and the rules planner, with fast settings and one attempt."""
    editor = Editor(models="tiny", planner="rules", data_dir=data_dir, settings=FAST, max_attempts=1)
    try:
        yield editor
    finally:
        editor.close()


class Spy:
    """Wraps a pipeline and records the keyword arguments of every call; can run out of memory first."""

    def __init__(self, pipe, out_of_memory_calls: int = 0):
        self.pipe = pipe
        self.out_of_memory_calls = out_of_memory_calls
        self.calls: list[dict] = []

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if len(self.calls) <= self.out_of_memory_calls:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 4.00 GiB")
        return self.pipe(**kwargs)


def run_in_threads(work: Callable[[], object], count: int) -> tuple[list, list[Exception]]:
    """Gives back (results, errors) of `work` run on `count` threads started together."""
    results: list = []
    errors: list[Exception] = []

    def run():
        try:
            results.append(work())
        except Exception as exc:  # collected to fail the test in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def record_calls(pipe, monkeypatch) -> list[dict]:
    """Gives back the list that each later call of `pipe` (any pipeline of its class) adds its keyword arguments to."""
    calls: list[dict] = []
    original_call = type(pipe).__call__

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return original_call(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", spy)
    return calls


@contextmanager
def held_edits(editor: Editor) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Makes the editor's whole-picture edits wait inside the worker: gives (entered, go_on) events.

    `entered` is set once an edit is waiting; it goes on when `go_on` is set (at the latest when the block ends).
    """
    entered, go_on = threading.Event(), threading.Event()
    toolbox = editor.toolbox
    global_edit = toolbox.global_edit

    def held(*args, **kwargs):
        entered.set()
        go_on.wait(120)
        return global_edit(*args, **kwargs)

    toolbox.global_edit = held
    try:
        yield entered, go_on
    finally:
        go_on.set()
        del toolbox.global_edit


@dataclass
class PointingToolbox(Toolbox):
    """The tiny models, with a finder that sees where the user points and the objects it is told of.

    A click is outlined as a disk of `radius` pixels around it, a box as itself; the detector sees the
    boxes listed in `objects` (random detectors see noise), all equally likely, so two of one kind make
    chatedit ask which one.
    """

    objects: dict[str, list[tuple]] = field(default_factory=dict)
    radius: int = 16

    def segment_selection(self, image, selection):
        if not selection.points:
            return box_mask((image.height, image.width), selection.box)
        ys, xs = np.ogrid[: image.height, : image.width]
        disks = [(xs - x) ** 2 + (ys - y) ** 2 <= self.radius**2 for x, y in selection.points]
        return np.logical_or.reduce(disks)

    def detect(self, image, phrases):
        boxes = {p: self.objects.get(p, []) for p in phrases}
        return {p: [Detection(p, tuple(float(v) for v in box), 0.8) for box in found] for p, found in boxes.items()}

    def segment_box(self, image, box):
        return box_mask((image.height, image.width), box)


def pointing_toolbox(objects: dict[str, list[tuple]] | None = None, radius: int = 16) -> PointingToolbox:
    """Gives back a PointingToolbox over the tiny classic models with fast settings."""
    return PointingToolbox(get_models("classic:tiny", "cpu"), FAST, objects=objects or {}, radius=radius)

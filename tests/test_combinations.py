"""One tiny-weight turn per cell of family x quantization x kind of step x way in.

The cells run in CI are a pairwise cover: every two choices (a family and a quantization, a kind and a
way in, ...) meet in at least one cell, in 24 turns. The whole product (216 turns) is marked `slow`:
`python -m pytest -m slow tests/test_combinations.py`.

Each cell checks that the turn completes, that the report names what ran (family, quantization,
kind of step), that no pixel outside the step's mask changed, and that nothing says "Internal error".
The finder sees one object where it is asked (a random detector sees noise); everything else is the
family's own tiny models.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openai
import pytest
from PIL import Image
from typer.testing import CliRunner

from chatedit.agent.server import ServerSettings, create_app
from chatedit.agent.session import Editor
from chatedit.agent.store import ImageStore
from chatedit.agent.toolbox import EditSettings, Toolbox
from chatedit.tools.detect import Detection
from chatedit.tools.masks import box_mask
from tests.helpers import decoded, png, serve

FAMILIES = ("classic", "modern", "max")
QUANTIZATIONS = ("none", "int8", "fp8")
WAYS = ("editor", "cli", "http")
SIZE = (128, 96)
OBJECT = (40, 24, 88, 72)
DRAWN = (16, 16, 64, 56)
KEY = "sk-combinations"
STEPS = {"CHATEDIT_INPAINT_STEPS": "2", "CHATEDIT_GLOBAL_STEPS": "2", "CHATEDIT_EDITOR_STEPS": "2"}


@dataclass(frozen=True)
class Kind:
    """A kind of step as a user asks for it: the words, and the category the plan must give them."""

    name: str
    words: str
    category: str
    drawn: bool = False


KINDS = (
    Kind("remove", "remove the cup", "remove"),
    Kind("add", "add a cat next to the cup", "add"),
    Kind("replace", "replace the cup with a bowl", "replace"),
    Kind("local", "make the cup blue", "local"),
    Kind("background", "replace the background with a beach", "background"),
    Kind("global", "make it look like winter", "global"),
    Kind("text", "make the sign say OPEN", "text"),
    Kind("drawn mask", "make it red", "local", drawn=True),
)


def pairwise() -> list[tuple[str, str, Kind, str]]:
    """Gives back 24 cells in which every pair of choices of two different axes meets at least once.

    For kind k and way w the family is (k + w) mod 3 and the quantization (k + 2w) mod 3: over the
    three ways each kind meets every family and every quantization, and over k mod 3 the two form a
    Latin square, so every family meets every quantization and every way.
    """
    return [
        (FAMILIES[(k + w) % 3], QUANTIZATIONS[(k + 2 * w) % 3], kind, way)
        for k, kind in enumerate(KINDS)
        for w, way in enumerate(WAYS)
    ]


def every_cell() -> list[tuple[str, str, Kind, str]]:
    return list(itertools.product(FAMILIES, QUANTIZATIONS, KINDS, WAYS))


def _cell_id(cell) -> str:
    family, quantize, kind, way = cell
    return f"{family}-{quantize}-{kind.name.replace(' ', '_')}-{way}"


@pytest.fixture
def seeing_finder(monkeypatch):
    """Makes every family's finder see one object, OBJECT, for whatever it is asked to find."""

    def detect(self, image, phrases):
        return {phrase: [Detection(phrase, tuple(float(v) for v in OBJECT), 0.8)] for phrase in phrases}

    def segment_box(self, image, box):
        return box_mask((image.height, image.width), box)

    monkeypatch.setattr(Toolbox, "detect", detect)
    monkeypatch.setattr(Toolbox, "segment_box", segment_box)


@pytest.fixture
def photo(coffee) -> Image.Image:
    return coffee.resize(SIZE)


def _drawn() -> np.ndarray:
    return box_mask((SIZE[1], SIZE[0]), DRAWN)


def _editor(family: str, quantize: str, data_dir: Path) -> Editor:
    settings = EditSettings(inpaint_steps=2, global_steps=2, editor_steps=2, global_max_side=64)
    return Editor(
        models=f"{family}:tiny",
        quantize=quantize,
        planner="rules",
        device="cpu",
        data_dir=data_dir,
        max_attempts=1,
        settings=settings,
        seed=0,
    )


def through_editor(family, quantize, kind, photo, tmp_path) -> tuple[Image.Image, dict, str, ImageStore]:
    editor = _editor(family, quantize, tmp_path / "data")
    try:
        mask = _drawn() if kind.drawn else None
        turn = editor.session().send(kind.words, image=photo, mask=mask)
        return turn.image, turn.report, turn.message, editor.store
    finally:
        editor.close()


def through_cli(family, quantize, kind, photo, tmp_path, monkeypatch) -> tuple[Image.Image, dict, str, ImageStore]:
    from chatedit.agent.cli import app

    for name, value in STEPS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "data"))
    source, output = tmp_path / "in.png", tmp_path / "out.png"
    photo.save(source)
    args = ["edit", str(source), kind.words, "-o", str(output), "--json", "--planner", "rules", "--device", "cpu"]
    args += ["--models", family, "--weights", "tiny", "--quantize", quantize, "--max-attempts", "1", "--seed", "0"]
    if kind.drawn:
        Image.fromarray(_drawn()).save(tmp_path / "mask.png")
        args += ["--mask", str(tmp_path / "mask.png")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    return Image.open(output).convert("RGB"), report, report["message"], ImageStore(tmp_path / "data" / "images")


def through_http(family, quantize, kind, photo, tmp_path) -> tuple[Image.Image, dict, str, ImageStore]:
    """Chat completions with the official client; a drawn mask goes through the Images API, as chat has none."""
    editor = _editor(family, quantize, tmp_path / "data")
    try:
        with serve(create_app(editor, ServerSettings(api_key=KEY))) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=300)
            if kind.drawn:
                return _images_api(client, editor, kind, photo)
            reply = client.chat.completions.create(model="chatedit", messages=[_user(kind.words, photo)])
            report = reply.model_extra["chatedit"]["report"]
            return editor.store.get(report["image"]), report, reply.choices[0].message.content, editor.store
    finally:
        editor.close()


def _images_api(client, editor, kind, photo) -> tuple[Image.Image, dict, str, ImageStore]:
    alpha = Image.fromarray(np.where(_drawn(), 0, 255).astype(np.uint8))
    mask = Image.new("RGBA", photo.size)
    mask.putalpha(alpha)
    reply = client.images.edit(
        image=("photo.png", png(photo), "image/png"), mask=("mask.png", png(mask), "image/png"), prompt=kind.words
    )
    report = editor.session(reply.model_extra["chatedit"]["session"])._state()["report"]
    return decoded(reply.data[0].b64_json).convert("RGB"), report, reply.data[0].revised_prompt or "", editor.store


def _user(text: str, image: Image.Image) -> dict:
    url = "data:image/png;base64," + base64.b64encode(png(image)).decode("ascii")
    return {
        "role": "user",
        "content": [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": url}}],
    }


def run_cell(cell, photo, tmp_path, monkeypatch):
    family, quantize, kind, way = cell
    if way == "editor":
        return through_editor(family, quantize, kind, photo, tmp_path)
    if way == "cli":
        return through_cli(family, quantize, kind, photo, tmp_path, monkeypatch)
    return through_http(family, quantize, kind, photo, tmp_path)


def check_cell(cell, photo, result) -> None:
    family, quantize, kind, _ = cell
    image, report, message, store = result
    assert "Internal error" not in message and "Internal error" not in json.dumps(report)
    assert report["models"]["family"] == family and report["models"]["quantize"] == quantize
    assert [step["category"] for step in report["steps"]] == [kind.category], report["steps"]
    step = report["steps"][0]
    before, after = np.asarray(photo), np.asarray(image)
    assert after.shape == before.shape
    if family == "classic" and kind.category == "text":
        # Classic cannot rewrite text: the step is refused with the way out, and nothing changes.
        assert step["status"] == "skipped" and "--models modern" in message
        assert np.array_equal(after, before)
        return
    assert step["status"] in ("done", "failed"), step
    assert step["attempts"], step
    # The step's mask is soft at its border; where it is 0, the picture is the original's, pixel for pixel.
    touched = store.get_mask(step["mask"]) > 0 if step.get("mask") else np.ones(before.shape[:2], bool)
    if kind.drawn:
        assert np.array_equal(touched, _drawn()) and step["region_source"] != "located"
    outside = ~touched
    assert np.array_equal(after[outside], before[outside]), f"{int((after != before).any(-1)[outside].sum())} changed"


@pytest.mark.parametrize("cell", pairwise(), ids=_cell_id)
def test_a_turn_in_each_cell_completes_and_keeps_what_is_outside_its_mask(
    cell, photo, tmp_path, monkeypatch, seeing_finder, one_torch_thread
):
    check_cell(cell, photo, run_cell(cell, photo, tmp_path, monkeypatch))


@pytest.mark.slow
@pytest.mark.parametrize("cell", sorted(set(every_cell()) - set(pairwise()), key=_cell_id), ids=_cell_id)
def test_every_other_cell(cell, photo, tmp_path, monkeypatch, seeing_finder, one_torch_thread):
    check_cell(cell, photo, run_cell(cell, photo, tmp_path, monkeypatch))


def test_the_cells_run_here_meet_every_pair_of_choices():
    cells = pairwise()
    axes = [FAMILIES, QUANTIZATIONS, KINDS, WAYS]
    for a, b in itertools.combinations(range(4), 2):
        met = {(cell[a], cell[b]) for cell in cells}
        assert met == set(itertools.product(axes[a], axes[b])), (a, b)


@pytest.mark.parametrize("family", ["modern", "max"])
def test_nf4_on_a_cpu_is_refused_with_the_choices_that_work(family, photo, tmp_path):
    from chatedit.tools.errors import InputError

    with pytest.raises(InputError) as refused:
        _editor(family, "nf4", tmp_path).session().send("remove the cup", image=photo)
    assert "needs a CUDA GPU" in str(refused.value) and "--quantize int8" in str(refused.value)

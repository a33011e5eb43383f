"""The finder setting: SAM 3 or GroundingDINO + SAM, how `auto` picks, whole turns, and gated access."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from huggingface_hub.errors import GatedRepoError
from typer.testing import CliRunner

import chatedit.tools.models as models_module
import chatedit.tools.vision_models as vision_models
from chatedit.agent import cli
from chatedit.agent.config import Settings
from chatedit.agent.session import Editor
from chatedit.agent.toolbox import EditSettings
from chatedit.tools import sam3
from chatedit.tools.checkpoints import Checkpoints
from chatedit.tools.errors import InputError, ModelUnavailableError
from chatedit.tools.finders import DinoSam, Sam3
from chatedit.tools.models import ModelSet, get_models, resolve_finder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SAM3_FAST = EditSettings(
    inpaint_steps=2, global_steps=2, global_max_side=64, box_threshold=0.2, ask_when_ambiguous=False
)
"""Fast edits, and a score floor the tiny random SAM 3's instances (scores near 0.25) pass."""


def _cached_only(*names: str):
    return lambda checkpoint: checkpoint in names


def test_auto_is_sam3_when_its_snapshot_is_cached_and_dino_sam_otherwise(monkeypatch):
    checkpoints = Checkpoints()
    monkeypatch.setattr(models_module, "cached", _cached_only("facebook/sam3"))
    assert resolve_finder("auto", "real", checkpoints) == "sam3"
    # Built weights never come from the cache.
    assert resolve_finder("auto", "tiny", checkpoints) == "dino-sam"
    models = ModelSet("classic", "cpu", checkpoints=checkpoints)
    assert models.finder == "sam3"
    assert (models.roles()["detector"], models.roles()["segmenter"]) == ("facebook/sam3", "facebook/sam3")
    assert models.report()["finder"] == "sam3"

    monkeypatch.setattr(models_module, "cached", _cached_only("IDEA-Research/grounding-dino-tiny"))
    assert resolve_finder("auto", "real", checkpoints) == "dino-sam"
    models = ModelSet("classic", "cpu", checkpoints=checkpoints)
    assert models.finder == "dino-sam" and models.roles()["detector"] == "IDEA-Research/grounding-dino-tiny"
    # Asked for, SAM 3 runs whether cached or not.
    assert resolve_finder("sam3", "real", checkpoints) == "sam3"
    with pytest.raises(InputError, match="Unknown finder 'sam2'; use one of auto, dino-sam, sam3"):
        resolve_finder("sam2", "real", checkpoints)


def test_the_finder_comes_from_the_environment_the_editor_and_its_argument(monkeypatch, tmp_path):
    monkeypatch.setenv("CHATEDIT_FINDER", "sam3")
    assert Settings().finder == "sam3"
    editor = Editor(models="tiny", planner="rules", data_dir=tmp_path)
    try:
        assert editor.toolbox.models.finder == "sam3" and isinstance(editor.toolbox.finder, Sam3)
    finally:
        editor.close()
    editor = Editor(models="tiny", planner="rules", data_dir=tmp_path, finder="dino-sam")
    try:
        assert editor.toolbox.models.finder == "dino-sam" and isinstance(editor.toolbox.finder, DinoSam)
    finally:
        editor.close()


def test_a_turn_with_sam3_edits_the_instance_it_outlined_without_a_second_segmentation(small_photo, tmp_path):
    editor = Editor(
        models="tiny", finder="sam3", planner="rules", data_dir=tmp_path, settings=SAM3_FAST, max_attempts=1
    )
    segmented = []
    finder = editor.toolbox.finder
    segment = finder.segment
    finder.segment = lambda *args, **kwargs: segmented.append(kwargs) or segment(*args, **kwargs)
    try:
        turn = editor.session().send("remove the cup", image=small_photo)
        step = turn.report["steps"][0]
        region = editor.store.get_mask(step["region"]) > 0.5
    finally:
        editor.close()

    models = turn.report["models"]
    assert models["finder"] == "sam3" and models["weights"] == "tiny"
    assert models["roles"]["detector"] == models["roles"]["segmenter"] == "facebook/sam3"
    assert step["status"] in ("done", "failed") and step["region_source"] == "located"
    # The region is the mask SAM 3 gave its best instance of the target: no box went to a segmenter.
    found = sam3.find(editor.toolbox.models.detector, small_photo, [step["target"]], threshold=0.2)
    assert np.array_equal(region, found[step["target"]][0].mask)
    assert segmented == []
    assert turn.image is not None and not np.array_equal(np.asarray(turn.image), np.asarray(small_photo))


def test_the_cli_names_the_finder_in_its_models_line_and_report(small_photo, tmp_path, monkeypatch):
    source, output = tmp_path / "in.png", tmp_path / "out.png"
    small_photo.save(source)
    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHATEDIT_BOX_THRESHOLD", "0.2")
    monkeypatch.setenv("CHATEDIT_ASK_WHEN_AMBIGUOUS", "false")
    monkeypatch.setenv("CHATEDIT_INPAINT_STEPS", "2")
    args = ["edit", str(source), "make the cup blue", "-o", str(output), "--json", "--models", "tiny"]
    result = CliRunner().invoke(cli.app, [*args, "--planner", "rules", "--max-attempts", "1", "--finder", "sam3"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Models:")]
    assert lines == [
        "Models: classic, finder sam3, tiny random stand-ins for: detector facebook/sam3, segmenter facebook/sam3, "
        "inpainter stable-diffusion-v1-5/stable-diffusion-inpainting, global_editor timbrooks/instruct-pix2pix "
        "(pictures come out as noise)"
    ]
    assert json.loads(result.stdout)["models"]["finder"] == "sam3"


def test_models_list_shows_sam3_beside_the_default_finder_and_alone_with_it(monkeypatch):
    monkeypatch.setattr(models_module, "cached", _cached_only())
    runner = CliRunner()
    listed = runner.invoke(cli.app, ["models", "list", "--models", "classic"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "grounding-dino-tiny" in listed.stdout and "facebook/sam3" in listed.stdout
    assert "--finder sam3" in listed.stdout
    listed = runner.invoke(
        cli.app, ["models", "list", "--models", "classic", "--finder", "sam3"], env={"COLUMNS": "200"}
    )
    rows = {line.split()[-3]: line for line in listed.stdout.splitlines() if "facebook/" in line}
    assert "grounding-dino-tiny" not in listed.stdout and "sam-vit-base" not in listed.stdout
    assert rows["facebook/sam3"].strip().startswith("detector, segmenter")


def _gated_hub(monkeypatch, wrapped: bool) -> None:
    """Makes every checkpoint load fail as a gated repository does for a login without access (no network)."""
    request = httpx.Request("GET", "https://huggingface.co/facebook/sam3/resolve/main/config.json")
    refusal = GatedRepoError(
        "403 Client Error. Cannot access gated repo: access to model facebook/sam3 is restricted.",
        response=httpx.Response(403, request=request),
    )

    def load(*args, local_files_only: bool, **kwargs):
        if local_files_only:
            raise OSError("facebook/sam3 is not in the cache")
        if not wrapped:
            raise refusal
        # As transformers hands it on: an OSError whose cause is the hub's error.
        raise OSError("You are trying to access a gated repo.") from refusal

    monkeypatch.setattr(vision_models, "_load", load)
    monkeypatch.setattr(vision_models, "hub_reachable", lambda: True)


def _says_what_to_do(message: str) -> None:
    assert "'facebook/sam3' is gated" in message
    assert "the SAM License on https://huggingface.co/facebook/sam3" in message
    assert "hf auth login" in message and "HF_TOKEN" in message
    assert "--finder dino-sam" in message


@pytest.mark.parametrize("role", ["detector", "segmenter"])
@pytest.mark.parametrize("wrapped", [False, True], ids=["hub error", "wrapped by transformers"])
def test_sam3_without_access_is_one_sentence_of_what_to_accept_and_how_to_log_in(wrapped, role, monkeypatch, tmp_path):
    _gated_hub(monkeypatch, wrapped)
    models = ModelSet("classic", "cpu", cache_dir=tmp_path, finder="sam3")
    with pytest.raises(ModelUnavailableError) as caught:
        getattr(models, role)
    _says_what_to_do(str(caught.value))
    assert str(caught.value).count("--finder dino-sam") == 1
    assert models.loaded() == []


def test_the_editor_raises_model_unavailable_and_the_cli_exits_3_without_a_traceback(
    small_photo, monkeypatch, tmp_path
):
    _gated_hub(monkeypatch, wrapped=True)
    editor = Editor(models="classic", finder="sam3", planner="rules", device="cpu", data_dir=tmp_path / "a")
    try:
        session = editor.session()
        with pytest.raises(ModelUnavailableError) as caught:
            session.send("remove the cup", image=small_photo)
        _says_what_to_do(str(caught.value))
    finally:
        editor.close()

    source = tmp_path / "in.png"
    small_photo.save(source)
    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "b"))
    args = ["edit", str(source), "remove the cup", "-o", str(tmp_path / "o.png"), "--models", "classic"]
    result = CliRunner().invoke(cli.app, [*args, "--weights", "real", "--planner", "rules", "--finder", "sam3"])
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith("Models: classic (real weights), finder sam3:")
    _says_what_to_do(" ".join(result.stderr.split()))
    assert "Traceback" not in result.output and not (tmp_path / "o.png").exists()


def test_the_images_api_answers_503_with_the_sentence(small_photo, monkeypatch, tmp_path):
    from fastapi.testclient import TestClient

    from chatedit.agent.server import ServerSettings, create_app
    from tests.helpers import png

    _gated_hub(monkeypatch, wrapped=True)
    editor = Editor(models="classic", finder="sam3", planner="rules", device="cpu", data_dir=tmp_path)
    try:
        with TestClient(create_app(editor, ServerSettings())) as client:
            answer = client.post(
                "/v1/images/edits",
                files={"image": ("photo.png", png(small_photo), "image/png")},
                data={"prompt": "remove the cup"},
            )
    finally:
        editor.close()
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "model_unavailable"
    _says_what_to_do(error["message"])


def test_downloading_sam3_without_access_exits_3_with_the_sentence(monkeypatch):
    import huggingface_hub

    request = httpx.Request("GET", "https://huggingface.co/api/models/facebook/sam3/tree/main")

    def refuse(self, repo, *args, **kwargs):
        if repo == "facebook/sam3":
            raise GatedRepoError("403 Client Error.", response=httpx.Response(403, request=request))
        return []

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", refuse)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo, **kwargs: f"/cache/{repo}")
    monkeypatch.setattr(models_module, "hub_unreachable", lambda: None)
    result = CliRunner().invoke(cli.app, ["models", "download", "--models", "classic", "--finder", "sam3"])
    assert result.exit_code == 3, result.output
    message = " ".join(result.stderr.split())
    assert (
        "'facebook/sam3' is gated" in message and "the SAM License on https://huggingface.co/facebook/sam3" in message
    )
    assert "hf auth login" in message and "Traceback" not in result.output


def test_get_models_keeps_one_model_set_per_finder():
    assert get_models("tiny", "cpu", finder="sam3") is get_models("tiny", "cpu", finder="sam3")
    assert get_models("tiny", "cpu", finder="sam3") is not get_models("tiny", "cpu", finder="dino-sam")


def test_a_planners_box_on_a_sam3_instance_takes_its_mask_and_elsewhere_is_outlined(small_photo):
    from chatedit.agent.regions import Found, find_region
    from chatedit.agent.toolbox import Toolbox

    toolbox = Toolbox(get_models("tiny", "cpu", finder="sam3"), SAM3_FAST)
    instance = toolbox.detect(small_photo, ["cup"])["cup"][0]
    outlined = []
    segment = toolbox.finder.segment
    toolbox.finder.segment = lambda image, **marks: outlined.append(marks) or segment(image, **marks)
    step = {"category": "local", "target": "cup", "prompt": "a blue cup"}

    found = find_region({**step, "box": list(instance.box)}, small_photo, toolbox)
    assert isinstance(found, Found) and np.array_equal(found.mask, instance.mask) and outlined == []

    # A box that points at no instance is outlined as the planner drew it.
    found = find_region({**step, "box": [0, 0, 12, 10]}, small_photo, toolbox)
    assert isinstance(found, Found) and outlined == [{"box": (0.0, 0.0, 12.0, 10.0)}]

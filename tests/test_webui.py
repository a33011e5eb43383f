"""chatedit inside Open WebUI, driven in Debian's chromium: as the chat model (attach a photo, edit,
follow up), and as Open WebUI's image-edit engine behind another chat model.

Runs only when asked: `bash .ci/webui && python -m pytest -m webui`. Screenshots, the servers' logs
and result.json go to out/webui/; the screenshots of the answers also to docs/openwebui.png and
docs/openwebui-image-edit.png.
"""

from __future__ import annotations

import pytest
from PIL import Image

from tests.webui.run import EDIT_INSTRUCTIONS, INSTRUCTIONS, PHOTO, ROOT, missing_prerequisites, run, run_image_edit

pytestmark = pytest.mark.webui


@pytest.fixture(autouse=True)
def prerequisites():
    """Fails the test, saying what to install, when Open WebUI, chromium or playwright-core is missing."""
    missing = missing_prerequisites()
    if missing:
        pytest.fail(" ".join(missing))


def shown_sizes(result: dict) -> list[tuple[int, int]]:
    """Gives back the natural size of the picture each answer of a driver's result showed."""
    return [(answer["naturalWidth"], answer["naturalHeight"]) for answer in result["answers"]]


def test_an_edit_and_a_follow_up_render_in_open_webui():
    result = run(ROOT / "out" / "webui", screenshot=ROOT / "docs" / "openwebui.png")

    # Each answer shows its picture at the photo's own size, the follow-up's too (it edits the first answer).
    assert shown_sizes(result) == [Image.open(PHOTO).size] * len(INSTRUCTIONS)
    # Title, tags and follow-up suggestions were asked of chatedit too, and answered without an edit.
    assert result["chatedit"]["turns"] == len(INSTRUCTIONS)
    assert result["chatedit"]["side_requests"] >= 3
    assert "remove the cup" in result["title"].lower()
    assert "Image Editing" in result["tags"]


def test_open_webui_edits_pictures_through_chatedit_while_another_model_chats():
    result = run_image_edit(ROOT / "out" / "webui", screenshot=ROOT / "docs" / "openwebui-image-edit.png")

    # Each edit shows chatedit's picture at the photo's own size.
    assert shown_sizes(result) == [Image.open(PHOTO).size] * len(EDIT_INSTRUCTIONS)
    assert result["chatedit"]["turns"] == len(EDIT_INSTRUCTIONS)
    # The follow-up edited the latest picture: one session starts from the picture the other made.
    made = {versions[-1] for versions in result["sessions"]}
    assert any(versions[0] in made for versions in result["sessions"])

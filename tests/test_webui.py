"""chatedit inside Open WebUI with its default settings, driven in Debian's chromium: attach a photo, edit, follow up.

Runs only when asked: `bash .ci/webui && python -m pytest -m webui`. Screenshots, both servers' logs
and result.json go to out/webui/; the screenshot of the first answer also to docs/openwebui.png.
"""

from __future__ import annotations

import pytest
from PIL import Image

from tests.webui.run import INSTRUCTIONS, PHOTO, ROOT, missing_prerequisites, run

pytestmark = pytest.mark.webui


def test_an_edit_and_a_follow_up_render_in_open_webui():
    missing = missing_prerequisites()
    if missing:
        pytest.fail(" ".join(missing))
    result = run(ROOT / "out" / "webui", screenshot=ROOT / "docs" / "openwebui.png")

    # Each answer shows its picture at the photo's own size, the follow-up's too (it edits the first answer).
    width, height = Image.open(PHOTO).size
    shown = [(answer["naturalWidth"], answer["naturalHeight"]) for answer in result["answers"]]
    assert shown == [(width, height)] * len(INSTRUCTIONS)
    # Title, tags and follow-up suggestions were asked of chatedit too, and answered without an edit.
    assert result["chatedit"]["turns"] == len(INSTRUCTIONS)
    assert result["chatedit"]["side_requests"] >= 3
    assert "remove the cup" in result["title"].lower()
    assert "Image Editing" in result["tags"]

"""Serves `chatedit ui` for the browser test: the tiny models, with a finder that outlines each click.

    python -m tests.webui.ui_app --port 7860 --data-dir /tmp/chatedit-ui

The tiny random SAM outlines arbitrary regions (often the whole picture), so the browser could not
check that an edit stays near the click; here a click is outlined as a disk around it
(tests.helpers.PointingToolbox). Everything else is the real UI over a real Editor and store.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from chatedit.agent.config import ServerSettings
from chatedit.agent.session import Editor
from chatedit.agent.ui import launch
from tests.helpers import FAST, pointing_toolbox

RADIUS = 24
"""Pixels around a click that the finder outlines."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    # The tiny models gain nothing from more threads, and the browser needs the other core.
    torch.set_num_threads(1)
    editor = Editor(
        models="tiny",
        planner="rules",
        data_dir=args.data_dir,
        toolbox=pointing_toolbox(radius=RADIUS),
        settings=FAST,
        max_attempts=1,
    )
    launch(editor, ServerSettings(), port=args.port)


if __name__ == "__main__":
    main()

"""A short chat about one photo: three edits, then an undo, then the history.

    python examples/chat_session.py                   # real models
    python examples/chat_session.py --models tiny     # a dry run on tiny random models

Each turn edits the version the previous turn made; undo steps back one version. Sessions persist in
the data dir, so `chatedit chat --session ID` can continue this one later.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chatedit import Editor
from chatedit.agent.toolbox import EditSettings

HERE = Path(__file__).resolve().parent

TURNS = [
    "change the background to a beach",
    "make it look like a sunset",
    "turn it into a pencil sketch",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="auto", choices=["auto", "tiny", "random-full"])
    parser.add_argument("--planner", default="auto", choices=["auto", "llm", "rules"])
    parser.add_argument("--image", type=Path, default=HERE / "images" / "astronaut.jpg")
    parser.add_argument("--out-dir", type=Path, default=Path("chat_session"))
    args = parser.parse_args()

    # Tiny models paint noise: a few denoising steps at a small size are enough to see the flow.
    settings = EditSettings(inpaint_steps=4, global_steps=4, global_max_side=128) if args.models == "tiny" else None
    editor = Editor(models=args.models, planner=args.planner, seed=0, settings=settings)
    session = editor.session()
    args.out_dir.mkdir(parents=True, exist_ok=True)

    image = args.image
    for number, text in enumerate(TURNS, 1):
        turn = session.send(text, image=image)
        image = None  # later turns edit the current version
        path = args.out_dir / f"turn{number}.png"
        turn.image.save(path)
        print(f"you> {text}\nchatedit> {turn.message}\n  -> {path}")

    session.undo()
    session.image.save(args.out_dir / "after_undo.png")
    print("you> undo")
    for version in session.history():
        marker = "*" if version.current else " "
        print(f"{marker} {version.index}. {version.instruction}  (image {version.image_id[:12]})")
    print(f"session {session.id}: continue with `chatedit chat --session {session.id}`")
    editor.close()


if __name__ == "__main__":
    main()

"""Edit one photo with one compound instruction through the Python API.

    python examples/edit_one.py                       # real models (downloaded on first use)
    python examples/edit_one.py --models tiny         # a dry run on tiny random models: the output is noise

Writes the edited picture and prints the agent's message and what each step did.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from chatedit import Editor
from chatedit.agent.toolbox import EditSettings

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="auto", choices=["auto", "tiny", "random-full"])
    parser.add_argument("--planner", default="auto", choices=["auto", "llm", "rules"])
    parser.add_argument("--image", type=Path, default=HERE / "images" / "coffee.jpg")
    parser.add_argument("--instruction", default="remove the spoon and make it look like a watercolor painting")
    parser.add_argument("--output", type=Path, default=Path("edited.png"))
    parser.add_argument("--masks-dir", type=Path, default=None, help="save each step's mask here as a PNG")
    args = parser.parse_args()

    # Tiny models paint noise: a few denoising steps at a small size are enough to see the flow.
    settings = EditSettings(inpaint_steps=4, global_steps=4, global_max_side=128) if args.models == "tiny" else None
    editor = Editor(models=args.models, planner=args.planner, seed=0, settings=settings)
    session = editor.session()

    def show(event: dict) -> None:
        # Denoising progress arrives once per step; the rest is worth a line each.
        if event["event"] != "progress":
            print("  event:", {k: v for k, v in event.items() if k != "plan"})

    turn = session.send(args.instruction, image=args.image, on_event=show)
    turn.image.save(args.output)
    # The report names masks by their id in the editor's store.
    if args.masks_dir is not None:
        args.masks_dir.mkdir(parents=True, exist_ok=True)
        for i, step in enumerate(turn.report["steps"], 1):
            if step["mask"]:
                (args.masks_dir / f"step{i}_mask.png").write_bytes(editor.store.png(step["mask"]))
    print(turn.message)
    for step in turn.report["steps"]:
        print(json.dumps({k: step[k] for k in ("category", "target", "passed", "mask")}))
    print(f"wrote {args.output} ({turn.image.width}x{turn.image.height}); session {session.id}")
    editor.close()


if __name__ == "__main__":
    main()

"""Draws a before / mask / after strip from one edit, as in the README.

    python examples/before_after.py examples/images/coffee.jpg "remove the spoon" -o docs/before_after.png --models tiny

With `--models tiny` the painted region is noise (random weights); what the figure shows is where
chatedit was allowed to paint, and that every pixel outside that mask is the original's.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
from PIL import Image, ImageDraw

from chatedit import Editor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image")
    parser.add_argument("instruction")
    parser.add_argument("-o", "--output", default="before_after.png")
    parser.add_argument("--models", default="auto", choices=["auto", "tiny", "random-full"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    editor = Editor(models=args.models, planner="rules", data_dir=tempfile.mkdtemp(), seed=args.seed)
    before = Image.open(args.image).convert("RGB")
    turn = editor.session().send(args.instruction, image=before)
    masks = [editor.store.get_mask(s["mask"]) > 0 for s in turn.report["steps"] if s["mask"]]
    allowed = np.logical_or.reduce(masks) if masks else np.zeros(before.size[::-1], bool)

    overlay = np.asarray(before).copy()
    overlay[allowed] = (0.5 * overlay[allowed] + 0.5 * np.array([255, 40, 40])).astype(np.uint8)
    after = np.asarray(turn.image)
    print(f"pixels outside the masks unchanged: {np.array_equal(np.asarray(before)[~allowed], after[~allowed])}")

    panels = [before, Image.fromarray(overlay), turn.image]
    width, height = before.size
    strip = Image.new("RGB", (3 * width + 20, height + 24), "white")
    draw = ImageDraw.Draw(strip)
    for i, (panel, label) in enumerate(zip(panels, ["before", "paste mask", "after"], strict=True)):
        strip.paste(panel, (i * (width + 10), 24))
        draw.text((i * (width + 10) + 4, 6), label, fill="black")
    strip.save(args.output)
    print(turn.message)


if __name__ == "__main__":
    main()

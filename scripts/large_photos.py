"""Time and peak memory of one turn on large photos: what the work around the models costs at full size.

    python scripts/large_photos.py                      # 24 MP and 48 MP, modern family, tiny weights
    python scripts/large_photos.py --megapixels 24 --instruction "make the cup blue"

The photo (the astronaut scaled up, with a little noise, saved as a JPEG as a camera would) is made
first; then each size runs in a process of its own that loads the editor and sends the file, so its
peak resident memory is the turn's. The tiny weights make the models' share small: what is left is
decoding, checks, blending, storing and encoding at full size. Prints one JSON line per size: wall
seconds, the turn's stage timings, resident memory before the turn and at its peak.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time


def make_photo(megapixels: float, path: str) -> str:
    """Writes a camera-like JPEG of about `megapixels` to `path` and gives back its size as WIDTHxHEIGHT."""
    import numpy as np
    from PIL import Image
    from skimage import data

    width = round((megapixels * 1e6 * 1.5) ** 0.5)
    height = round(width / 1.5)
    photo = Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(0).integers(-6, 7, (height, width, 3), dtype=np.int16)
    Image.fromarray(np.clip(np.asarray(photo, np.int16) + noise, 0, 255).astype(np.uint8)).save(path, quality=90)
    return f"{width}x{height}"


def _rss_gib() -> float:
    with open("/proc/self/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return round(kib / 2**20, 2)


def one(path: str, instruction: str, models: str) -> dict:
    from chatedit import Editor
    from chatedit.agent.toolbox import EditSettings

    with tempfile.TemporaryDirectory() as folder:
        editor = Editor(
            models=models,
            planner="rules",
            device="cpu",
            data_dir=folder,
            max_attempts=1,
            settings=EditSettings(editor_steps=1),
        )
        session = editor.session()
        _ = editor.toolbox.models.global_editor  # loaded before the clock starts
        before = _rss_gib()
        started = time.perf_counter()
        turn = session.send(instruction, image=path)
        wall = time.perf_counter() - started
        editor.close()
    return {
        "instruction": instruction,
        "wall_s": round(wall, 2),
        "stages_ms": turn.report["timings_ms"],
        "rss_before_turn_gib": before,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "steps": [s["status"] for s in turn.report["steps"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, nargs="*", default=[24, 48])
    parser.add_argument("--instruction", default="make it look like winter")
    parser.add_argument("--models", default="modern:tiny")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.instruction, args.models)))
        return
    with tempfile.TemporaryDirectory() as folder:
        for megapixels in args.megapixels:
            path = f"{folder}/photo-{megapixels:g}mp.jpg"
            size = make_photo(megapixels, path)
            done = subprocess.run(
                [sys.executable, __file__, "--child", path, "--instruction", args.instruction, "--models", args.models],
                check=True,
                capture_output=True,
                text=True,
            )
            print(json.dumps({"size": size, **json.loads(done.stdout.strip().splitlines()[-1])}))


if __name__ == "__main__":
    main()

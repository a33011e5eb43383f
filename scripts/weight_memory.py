"""Weight memory of every family, role and quantization mode, measured on full-size builds.

    python scripts/weight_memory.py                    # every family and the finders
    python scripts/weight_memory.py --family modern    # one of classic, modern, max, finders
    python scripts/weight_memory.py --family max --no-write

Weight bytes do not depend on the device, so a CPU measures what a GPU will hold. Each role runs in a
process of its own per quantization mode, so that its memory is returned: the module is built full
size with random weights in bf16 (fp16, which classic and dino-sam run in on a GPU, takes the same
bytes), quantized with `quantize_built` (the layers and settings loading a quantized checkpoint
uses), and counted with `weight_bytes` (what the tensors store, quantized ones included).
Quantization applies to the diffusion model and the text encoder; the VAEs and the finders are
measured once, as they are.

Qwen-Image-Edit-2511's transformer (20 B parameters, 40 GB in bf16) is more than a small machine
holds: one of its 60 identical blocks and every part outside them are built and measured, and the
blocks multiplied; its parameter counts are checked against the whole model built on the meta device.

Prints one JSON line per row (family, role, mode, bytes, parameters, source, seconds, peak resident
GiB), then writes tools/memory.toml (rows of other families kept) and the "Weight memory" section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

import torch

from chatedit.tools.memory import DEFAULT_FINDER, FINDERS_KEY, MEMORY_FILE, family_bytes, weight_table
from chatedit.tools.quantize import QUANTIZE_MODES, quantize_built, weight_bytes

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"
SECTION = "## Weight memory"
FAMILIES = ("classic", "modern", "max")
GROUPS = (*FAMILIES, FINDERS_KEY)
GIB = 2**30
BF16 = torch.bfloat16
CPU = torch.device("cpu")


def parameter_count(module: torch.nn.Module) -> tuple[int, int]:
    """Gives back the parameters of `module` in its linear layers and in the rest, each shared one once."""
    linear = {
        id(p): p.numel() for layer in module.modules() if isinstance(layer, torch.nn.Linear) for p in layer.parameters()
    }
    every = {id(p): p.numel() for p in module.parameters()}
    return sum(linear.values()), sum(every.values()) - sum(linear.values())


@dataclass(frozen=True)
class Role:
    """One module a family holds, built full size with random weights on the CPU and measured."""

    family: str
    name: str
    module: str
    """What the module is, for the table."""
    build: Callable[..., torch.nn.Module]
    quantized: bool = True
    """Whether quantization applies (diffusion models, text encoders); if not, measured once as it is."""

    @property
    def modes(self) -> tuple[str, ...]:
        return QUANTIZE_MODES if self.quantized else ("none",)

    def measure(self, mode: str) -> dict[str, Any]:
        """Gives back the bytes and parameters of the module built and quantized with `mode`."""
        module = self.build().to(BF16)  # a few legacy constructors ignore the default dtype
        parameters = sum(parameter_count(module))  # before quantizing: NF4 packs two weights a byte
        quantize_built(module, mode, BF16)
        return {"bytes": weight_bytes(module), "parameters": parameters, "source": "measured"}


@dataclass(frozen=True)
class BlockwiseRole(Role):
    """A module too big to build whole here, made of identical blocks: one block and the rest are measured.

    `build()` gives the whole module (built here on the meta device, to count), `build(num_layers=1)`
    the module with one block; bytes are the rest's plus the block's times the number of blocks.
    """

    blocks_attribute: str = "transformer_blocks"

    def measure(self, mode: str) -> dict[str, Any]:
        with torch.device("meta"):
            whole = self.build()
        blocks, counted = len(getattr(whole, self.blocks_attribute)), parameter_count(whole)
        part = self.build(num_layers=1).to(BF16)
        block = getattr(part, self.blocks_attribute)[0]
        (linear, other), (block_linear, block_other) = parameter_count(part), parameter_count(block)
        computed = (linear + (blocks - 1) * block_linear, other + (blocks - 1) * block_other)
        if computed != counted:
            raise RuntimeError(f"{self.family} {self.name}: blocks and rest make {computed} parameters, not {counted}")
        quantize_built(part, mode, BF16)
        rest, one = weight_bytes(part) - weight_bytes(block), weight_bytes(block)
        how = (
            f"1 of its {blocks} identical blocks and every part outside them built on the CPU, quantized and "
            f"measured; bytes = outside + {blocks} x block; parameter counts (linear layers and the rest) equal "
            "those of the whole model built on the meta device"
        )
        return {"bytes": rest + blocks * one, "parameters": sum(counted), "source": "computed", "how": how}


# The builders import their libraries in the process that measures, not in the one that runs them all.


def _flux2_transformer() -> torch.nn.Module:
    from chatedit.tools.editor_models import full_flux2_transformer

    return full_flux2_transformer()


def _flux2_text_encoder() -> torch.nn.Module:
    from chatedit.tools.editor_models import full_flux2_text_encoder, small_qwen_tokenizer

    return full_flux2_text_encoder(small_qwen_tokenizer())


def _flux2_vae() -> torch.nn.Module:
    from diffusers import AutoencoderKLFlux2

    return AutoencoderKLFlux2()


def _qwen_transformer(**layers: int) -> torch.nn.Module:
    from chatedit.tools.editor_models import full_qwen_transformer

    return full_qwen_transformer(**layers)


def _qwen_text_encoder() -> torch.nn.Module:
    from chatedit.tools.editor_models import full_qwen_text_encoder, small_qwen_tokenizer

    return full_qwen_text_encoder(small_qwen_tokenizer())


def _qwen_vae() -> torch.nn.Module:
    from diffusers import AutoencoderKLQwenImage

    return AutoencoderKLQwenImage()


def _sd15(component: str, pipeline: str) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        from chatedit.tools.diffusion_models import EDIT_IN_CHANNELS, INPAINT_IN_CHANNELS, build_full_component

        in_channels = {"inpaint": INPAINT_IN_CHANNELS, "instruct": EDIT_IN_CHANNELS}[pipeline]
        return build_full_component(component, in_channels)

    return build


def _dino_sam() -> torch.nn.Module:
    """Gives back GroundingDINO-tiny and SAM ViT-B as the random weights load them."""
    from chatedit.tools.vision_models import load_detector, load_segmenter

    with tempfile.TemporaryDirectory() as folder:
        where = dict(weights="random", checkpoint="", device=CPU, dtype=BF16, cache_dir=folder)
        return torch.nn.ModuleList([load_detector(**where).model, load_segmenter(**where).model])


def _sam3() -> torch.nn.Module:
    """Gives back SAM 3's concept model and tracker as the random weights load them, one vision backbone shared."""
    from chatedit.tools.sam3_models import load_sam3

    with tempfile.TemporaryDirectory() as folder:
        bundle = load_sam3(weights="random", checkpoint="", device=CPU, dtype=BF16, cache_dir=folder)
        return torch.nn.ModuleList([bundle.model, bundle.tracker])


ROLES: tuple[Role, ...] = (
    Role("classic", "inpaint_unet", "SD 1.5 inpainting UNet", _sd15("unet", "inpaint")),
    Role("classic", "inpaint_text_encoder", "CLIP ViT-L/14 text encoder", _sd15("text_encoder", "inpaint")),
    Role("classic", "inpaint_vae", "SD 1.5 VAE", _sd15("vae", "inpaint"), quantized=False),
    Role("classic", "instruct_unet", "InstructPix2Pix UNet", _sd15("unet", "instruct")),
    Role("classic", "instruct_text_encoder", "CLIP ViT-L/14 text encoder", _sd15("text_encoder", "instruct")),
    Role("classic", "instruct_vae", "SD 1.5 VAE", _sd15("vae", "instruct"), quantized=False),
    Role("modern", "transformer", "FLUX.2 klein 4B transformer", _flux2_transformer),
    Role("modern", "text_encoder", "Qwen3-4B", _flux2_text_encoder),
    Role("modern", "vae", "FLUX.2 VAE", _flux2_vae, quantized=False),
    BlockwiseRole("max", "transformer", "Qwen-Image-Edit-2511 MMDiT", _qwen_transformer),
    Role("max", "text_encoder", "Qwen2.5-VL-7B", _qwen_text_encoder),
    Role("max", "vae", "Qwen-Image VAE", _qwen_vae, quantized=False),
    Role(FINDERS_KEY, "dino-sam", "GroundingDINO-tiny + SAM ViT-B", _dino_sam, quantized=False),
    Role(FINDERS_KEY, "sam3", "SAM 3: concept model + tracker, one vision backbone", _sam3, quantized=False),
)


def find_role(family: str, name: str) -> Role:
    return next(role for role in ROLES if (role.family, role.name) == (family, name))


def measure_here(family: str, name: str, mode: str) -> dict[str, Any]:
    """Gives back one row, measured in this process (which should do nothing else)."""
    torch.set_default_dtype(BF16)
    role = find_role(family, name)
    row = {"family": family, "role": name, "mode": mode, **role.measure(mode)}
    # ru_maxrss is in KiB on Linux.
    row["peak_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return row


def measure_apart(role: Role, mode: str) -> dict[str, Any]:
    """Gives back one row, measured in a process of its own so that its memory is returned, with its wall seconds."""
    started = time.perf_counter()
    command = [sys.executable, __file__, "--row", role.family, role.name, mode]
    # glibc keeps the freed temporaries of quantizing (megabytes each) in its heaps; with a fixed mmap
    # threshold they go back to the system: the 7B text encoder's fp8 process peaks at 17 GiB, not 19.
    env = {"MALLOC_MMAP_THRESHOLD_": str(2**20), **os.environ}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{role.family} {role.name} {mode}: the measuring process exited with {done.returncode}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def merged(table: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Gives back `table` with `rows` in place of the entries they measure, roles in ROLES' order."""
    for row in rows:
        role = find_role(row["family"], row["role"])
        entry = table.setdefault(role.family, {}).setdefault(role.name, {})
        entry["module"] = role.module
        if "how" in row:
            entry["how"] = row["how"]
        entry[row["mode"]] = {key: row[key] for key in ("bytes", "parameters", "source", "seconds", "peak_gib")}
    ordered: dict[str, Any] = {}
    for role in ROLES:
        if role.name in table.get(role.family, {}):
            ordered.setdefault(role.family, {})[role.name] = table[role.family][role.name]
    return ordered


TOML_HEADER = """\
# Weight memory: the bytes each role's weights hold on any device, per quantization mode, with its
# parameter count; `source` says whether the row was measured on a full-size build or computed (`how`).
# A role with `none` alone is never quantized. `seconds` and `peak_gib` are the measuring process's wall
# time and peak resident memory. Written by scripts/weight_memory.py; read by tools/memory.py.
# BENCHMARKS.md ("Weight memory") shows the same numbers in GiB.
"""


def toml_text(table: dict[str, Any]) -> str:
    """Gives back the table as TOML, one inline table per mode."""
    lines = [TOML_HEADER]
    for group, roles in table.items():
        for name, entry in roles.items():
            lines += [f"[{group}.{name}]", f"module = {json.dumps(entry['module'])}"]
            if "how" in entry:
                lines.append(f"how = {json.dumps(entry['how'])}")
            for mode in QUANTIZE_MODES:
                if mode in entry:
                    row = entry[mode]
                    fields = ", ".join(f"{key} = {json.dumps(value)}" for key, value in row.items())
                    lines.append(f"{mode} = {{ {fields} }}")
            lines.append("")
    return "\n".join(lines)


def gib(count: int) -> str:
    return f"{count / GIB:.2f}"


def machine() -> str:
    """Gives back this machine and the libraries that measured, in words."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    libraries = ", ".join(
        f"{name} {version(name)}" for name in ("torch", "torchao", "bitsandbytes", "diffusers", "transformers")
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB. Python {platform.python_version()}, "
        f"{libraries}. Date: {date.today().isoformat()}."
    )


def totals_table(table: dict[str, Any]) -> list[str]:
    """Gives back the markdown lines of each family's total GiB per mode, the default finder included."""
    lines = ["| family | " + " | ".join(QUANTIZE_MODES) + " |", "|---|" + "---:|" * len(QUANTIZE_MODES)]
    for family in FAMILIES:
        if family in table and DEFAULT_FINDER in table.get(FINDERS_KEY, {}):
            cells = " | ".join(gib(family_bytes(table, family, mode)) for mode in QUANTIZE_MODES)
            lines.append(f"| {family} | {cells} |")
    return lines


def roles_table(table: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Gives back the markdown lines of each role's GiB per mode, and the notes saying how computed rows were made."""
    lines = [
        "| family | role | module | parameters (B) | " + " | ".join(QUANTIZE_MODES) + " | source |",
        "|---|---|---|---:|" + "---:|" * len(QUANTIZE_MODES) + "---|",
    ]
    notes = []
    for group, roles in table.items():
        for name, entry in roles.items():
            cells = " | ".join(gib(entry[mode]["bytes"]) if mode in entry else "-" for mode in QUANTIZE_MODES)
            source = entry["none"]["source"]
            if "how" in entry:
                notes.append(f"{len(notes) + 1}. {group} {name}: {entry['how']}.")
                source += f" ({len(notes)})"
            parameters = f"{entry['none']['parameters'] / 1e9:.3f}"
            lines.append(f"| {group} | {name} | {entry['module']} | {parameters} | {cells} | {source} |")
    return lines, notes


def section_text(table: dict[str, Any]) -> str:
    """Gives back the "Weight memory" section of BENCHMARKS.md for the table."""
    rows = [
        entry[mode] for roles in table.values() for entry in roles.values() for mode in QUANTIZE_MODES if mode in entry
    ]
    seconds = sum(row["seconds"] for row in rows)
    peak = max(row["peak_gib"] for row in rows)
    roles, notes = roles_table(table)
    computed = "\n\nComputed rows:\n\n" + "\n".join(notes) if notes else ""
    return f"""{SECTION}

What each family's weights hold in memory (GiB), per `--quantize` mode (tools/quantize.py). Weight bytes
do not depend on the device, so they are measured here on a CPU. The diffusion model and the text
encoder are quantized; the VAEs and the finders stay in bf16/fp16 ("-": not quantized, their `none`
bytes count in every mode). The same numbers, in bytes, are in tools/memory.toml.

Machine: {machine()}

```
python scripts/weight_memory.py                    # every family and the finders
python scripts/weight_memory.py --family modern    # one family: its rows replace those in both files
```

Each row is one process: the module is built full size with random weights in bf16 on the CPU,
quantized with `quantize_built` (the layers and settings loading a quantized checkpoint uses: torchao
weight-only int8 and fp8 with one scale per output row, bitsandbytes NF4 with one fp32 scale per 64
weights; text encoders keep their output embedding and tied weights, as transformers does) and
counted with `weight_bytes`. All rows took {seconds:.0f} s; the largest process peaked at {peak:.1f} GiB resident.
Only linear layers are quantized: convolutions (most of SD 1.5's UNets), embeddings and norms keep
2 bytes a parameter, so the classic family shrinks least.

Family totals: every module the family holds (editors, text encoders, VAEs) and the default finder,
{DEFAULT_FINDER}:

{chr(10).join(totals_table(table))}

Per role:

{chr(10).join(roles)}{computed}
"""


def write_section(text: str, path: Path = BENCHMARKS) -> None:
    """Puts the section into BENCHMARKS.md, in place of the one there (up to the next `## `), else at the end."""
    document = path.read_text()
    start = document.find(SECTION + "\n")
    if start < 0:
        path.write_text(document.rstrip("\n") + "\n\n" + text)
        return
    end = document.find("\n## ", start + len(SECTION))
    path.write_text(document[:start] + text + (document[end:] if end >= 0 else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=("all", *GROUPS), default="all")
    parser.add_argument("--no-write", action="store_true", help="print the rows only")
    parser.add_argument("--row", nargs=3, metavar=("FAMILY", "ROLE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        print(json.dumps(measure_here(*args.row)))
        return
    rows = []
    for role in ROLES:
        if args.family in ("all", role.family):
            for mode in role.modes:
                rows.append(measure_apart(role, mode))
                print(json.dumps(rows[-1]), flush=True)
    if not args.no_write:
        table = merged(weight_table() if MEMORY_FILE.exists() else {}, rows)
        MEMORY_FILE.write_text(toml_text(table))
        write_section(section_text(table))


if __name__ == "__main__":
    main()

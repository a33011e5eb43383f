"""What the `chatedit` commands share: the option types, the settings they make, the one editor they build."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape

from chatedit.agent.cli.support import stderr


class Planner(str, Enum):
    auto = "auto"
    llm = "llm"
    rules = "rules"


class Models(str, Enum):
    auto = "auto"
    classic = "classic"
    modern = "modern"
    max = "max"
    tiny = "tiny"
    random_full = "random-full"


class Weights(str, Enum):
    real = "real"
    tiny = "tiny"
    random = "random"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Quantize(str, Enum):
    auto = "auto"
    none = "none"
    int8 = "int8"
    fp8 = "fp8"
    nf4 = "nf4"


class Offload(str, Enum):
    none = "none"
    model = "model"
    group = "group"


class Finder(str, Enum):
    auto = "auto"
    dino_sam = "dino-sam"
    sam3 = "sam3"


# Options left out come from the settings (chatedit.agent.config.Settings): CHATEDIT_* variables, then defaults.
PlannerOption = Annotated[
    Optional[Planner],
    typer.Option(
        "--planner",
        help="auto: the vision LLM when one is configured, else rules [default: CHATEDIT_PLANNER or auto].",
        show_default=False,
    ),
]
LLMOption = Annotated[
    Optional[str],
    typer.Option(
        "--llm",
        help="Who plans, judges and answers: editor (the family's own text encoder, in-process: modern, max), "
        "local:MODEL (a transformers chat model, in-process), server (CHATEDIT_LLM_BASE_URL) or a server URL "
        "[default: CHATEDIT_LLM, else a configured server, else the editor's encoder on a GPU, else the rules].",
        show_default=False,
    ),
]
ModelsOption = Annotated[
    Optional[Models],
    typer.Option(
        "--models",
        help="Model family: auto (modern on a big enough GPU, else classic), classic, modern (FLUX.2 klein), "
        "max (Qwen-Image-Edit); tiny and random-full are classic with those weights "
        "[default: CHATEDIT_MODELS or auto].",
        show_default=False,
    ),
]
WeightsOption = Annotated[
    Optional[Weights],
    typer.Option(
        "--weights",
        help="real checkpoints, tiny random models (smoke runs) or random full-size (benchmarks) "
        "[default: CHATEDIT_WEIGHTS, else what --models implies, else real].",
        show_default=False,
    ),
]
FinderOption = Annotated[
    Optional[Finder],
    typer.Option(
        "--finder",
        help="What finds and outlines objects: dino-sam (GroundingDINO + SAM), sam3 (SAM 3, facebook/sam3: "
        "gated, accept the SAM License on its page and log in with `hf auth login`), or auto (sam3 when it is "
        "in the Hugging Face cache, else dino-sam) [default: CHATEDIT_FINDER or auto].",
        show_default=False,
    ),
]
QuantizeOption = Annotated[
    Optional[Quantize],
    typer.Option(
        "--quantize",
        help="The editors' diffusion model and text encoder: none, int8 (torchao), fp8 (torchao; GPUs of compute "
        "capability 8.9+), nf4 (bitsandbytes; CUDA), or auto (on a GPU, as little as fits its free memory) "
        "[default: CHATEDIT_QUANTIZE or auto].",
        show_default=False,
    ),
]
OffloadOption = Annotated[
    Optional[Offload],
    typer.Option(
        "--offload",
        help="Keep the editors' weights in CPU memory until they run: model (a whole model at a time) or group "
        "(a few blocks at a time: least GPU memory, slowest) [default: CHATEDIT_OFFLOAD or none].",
        show_default=False,
    ),
]
DeviceOption = Annotated[
    Optional[Device],
    typer.Option("--device", help="Where the models run [default: CHATEDIT_DEVICE or auto].", show_default=False),
]
SeedOption = Annotated[
    Optional[int],
    typer.Option(
        "--seed",
        help="Base seed of every generation (repeatable results) [default: CHATEDIT_SEED or 0].",
        show_default=False,
    ),
]
AttemptsOption = Annotated[
    Optional[int],
    typer.Option(
        "--max-attempts",
        min=1,
        help="Tries per step before the best failed try is kept [default: CHATEDIT_MAX_ATTEMPTS or 3].",
        show_default=False,
    ),
]
DataDirOption = Annotated[
    Optional[Path],
    typer.Option(
        "--data-dir", help="Where sessions and images are kept [default: CHATEDIT_DATA_DIR or ~/.local/share/chatedit]."
    ),
]
DatabaseOption = Annotated[
    Optional[str],
    typer.Option(
        "--database",
        help="postgresql://USER:PASSWORD@HOST:PORT/DB to share sessions and pictures between replicas "
        "[default: CHATEDIT_DATABASE_URL, else SQLite in the data dir].",
    ),
]


def value_of(choice: Optional[Enum]) -> Optional[str]:
    return None if choice is None else choice.value


def settings_of(
    *,
    models: Optional[Models] = None,
    weights: Optional[Weights] = None,
    planner: Optional[Planner] = None,
    device: Optional[Device] = None,
    finder: Optional[Finder] = None,
    quantize: Optional[Quantize] = None,
    offload: Optional[Offload] = None,
    **given: Any,
):
    """Gives back the run's `Settings`: the flags that were given over the CHATEDIT_* variables."""
    from chatedit.agent.config import Settings

    return Settings.given(
        models=value_of(models),
        weights=value_of(weights),
        planner=value_of(planner),
        device=value_of(device),
        finder=value_of(finder),
        quantize=value_of(quantize),
        offload=value_of(offload),
        **given,
    )


def models_line(report: dict[str, Any]) -> str:
    """Gives back the one line that says which models and finder run; tiny and random weights are named as stand-ins."""
    roles = ", ".join(f"{role} {checkpoint}" for role, checkpoint in report["roles"].items())
    finder = f"finder {report['finder']}"
    if report.get("quantize", "none") != "none":
        finder += f", quantized {report['quantize']}"
    if report.get("offload", "none") != "none":
        finder += f", offloaded ({report['offload']})"
    stand_in = {"tiny": "tiny random stand-ins for", "random": "full-size random-weight stand-ins for"}
    if report["weights"] in stand_in:
        return (
            f"Models: {report['family']}, {finder}, {stand_in[report['weights']]}: {roles} (pictures come out as noise)"
        )
    return f"Models: {report['family']} ({report['weights']} weights), {finder}: {roles}"


def make_editor(config):
    """Gives back an `agent.Editor` with these settings (the one place the CLI builds one).

    The models that will run are said once on stderr.
    """
    from chatedit.agent.brain import llm_line
    from chatedit.agent.session import Editor

    editor = Editor(config=config)
    stderr.print(escape(models_line(editor.toolbox.models.report())))
    if editor.toolbox.models.choice:
        stderr.print(escape(f"Chosen by free GPU memory: {editor.toolbox.models.choice}"))
    stderr.print(escape(llm_line(editor.llm)))
    return editor


def rules_plan(config) -> bool:
    """Gives back whether the rules will plan this run (no LLM chosen), found without loading a model."""
    from chatedit.agent.brain import llm_choice
    from chatedit.agent.session import models_of

    models = models_of(config)
    return llm_choice(config, models) is None

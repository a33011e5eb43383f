"""The `chatedit` command: edit a picture, chat about it, print plans, fetch models, serve the API.

    chatedit edit photo.jpg "remove the cup and make it sunset" -o out.png
    chatedit chat photo.jpg
    chatedit plan "make the car red" ; chatedit plan --input instructions.jsonl
    chatedit models list ; chatedit models download
    chatedit serve --port 8000
    chatedit ui

Progress goes to stderr, results to stdout, so `--json` output can be piped. Exit codes: 0 an image
was written (even when a step failed: the report says so), 2 bad input or usage, 1 internal error.
Heavy imports (torch, diffusers) happen inside the commands that need them, so `--help` and
`chatedit plan` start fast.
"""

from __future__ import annotations

import contextlib
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chatedit.agent import cli_support as support
from chatedit.agent.cli_chat import CHAT_HELP, chat_command, chat_turn, is_quit, open_image, read_lines
from chatedit.agent.cli_progress import ProgressView
from chatedit.agent.cli_support import check_output, exit_codes, save_image, say, stderr
from chatedit.agent.eval.command import register as register_eval
from chatedit.tools.errors import InputError, ModelUnavailableError

app = typer.Typer(
    name="chatedit",
    help="A chat agent that edits images: say what to change, get the edited picture back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
models_app = typer.Typer(
    help="See which model checkpoints are cached, and download them ahead of time.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


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


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks of internal errors (or set CHATEDIT_DEBUG=1).")
    ] = False,
) -> None:
    """A chat agent that edits images: say what to change, get the edited picture back."""
    from chatedit.agent.config import Settings

    support.verbose = verbose or Settings().debug


def _value(choice: Optional[Enum]) -> Optional[str]:
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
        models=_value(models),
        weights=_value(weights),
        planner=_value(planner),
        device=_value(device),
        finder=_value(finder),
        quantize=_value(quantize),
        offload=_value(offload),
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


@app.command(cls=support.Command)
def edit(
    image: Annotated[Path, typer.Argument(help="The picture to edit (PNG, JPEG, WebP, ...).", show_default=False)],
    instruction: Annotated[
        str, typer.Argument(help='What to change, e.g. "remove the cup and make it sunset".', show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Where to write the result (.png, .jpg or .webp).", show_default=False),
    ],
    json_report: Annotated[
        bool, typer.Option("--json", help="Print the turn report as one JSON object on stdout.")
    ] = False,
    debug_dir: Annotated[
        Optional[Path],
        typer.Option("--debug-dir", help="Save each step's region and masks as PNGs here; the report points to them."),
    ] = None,
    mask: Annotated[
        Optional[Path],
        typer.Option(
            "--mask",
            help="A picture of the image's size marking the region to edit: white (or, with transparency, "
            "fully transparent) pixels. No detection then: every step acts inside it.",
            show_default=False,
        ),
    ] = None,
    box: Annotated[
        Optional[str],
        typer.Option(
            "--box",
            help="Instead of --mask, a box x0,y0,x1,y1 around the object to edit, in the picture's pixels: the "
            "object in it is outlined, and the outline acts as the mask.",
            show_default=False,
        ),
    ] = None,
    point: Annotated[
        Optional[list[str]],
        typer.Option(
            "--point",
            help="Instead of --mask, a click x,y on the object to edit, in the picture's pixels (repeat it for "
            "more clicks on the same object; with --box, they pick the object in the box).",
            show_default=False,
        ),
    ] = None,
    planner: PlannerOption = None,
    llm: LLMOption = None,
    models: ModelsOption = None,
    weights: WeightsOption = None,
    device: DeviceOption = None,
    finder: FinderOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    seed: SeedOption = None,
    max_attempts: AttemptsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Edit one picture with one instruction and write the result.

    Progress (plan, steps, denoising, checks) goes to stderr. Exit code 0 when an image was written,
    even if a step failed (the message says which); 2 for bad input or an instruction with nothing to
    edit; 3 when the models cannot be loaded; 1 for an internal error.
    """
    with exit_codes():
        from chatedit.agent.plan import instruction_text
        from chatedit.tools.images import check_editable, load_image, load_mask
        from chatedit.tools.selection import MASK_AND_SELECTION, read_selection

        check_output(output)
        config = settings_of(
            models=models,
            weights=weights,
            planner=planner,
            llm=llm,
            device=device,
            finder=finder,
            quantize=quantize,
            offload=offload,
            seed=seed,
            max_attempts=max_attempts,
            database_url=database,
        )
        # Bad input is refused before the models load: the picture, the mask or box and points, the words
        # and, when the rules plan the turn, an instruction with no edit in it.
        picture = check_editable(load_image(image))
        region = load_mask(mask, picture.size) if mask is not None else None
        points = ";".join(point) if point else None
        if region is not None and (box is not None or points is not None):
            raise InputError(MASK_AND_SELECTION)
        read_selection(box, points, picture.size)
        instruction = instruction_text(instruction)
        if not instruction:
            _nothing_edited({"steps": [], "output": None}, 'Say what to change, e.g. "remove the cup".', json_report)
        if _rules_plan(config):
            from chatedit.agent.rules import plan_rules

            planned = plan_rules(instruction)
            if not planned.steps:
                _nothing_edited({"steps": [], "output": None}, planned.message or "", json_report)
        editor = make_editor(config)
        with ProgressView() as view:
            turn = editor.session().send(instruction, image=picture, mask=region, box=box, point=points, on_event=view)
        report = dict(turn.report)
        if debug_dir is not None:
            report = support.write_masks(report, editor.store, debug_dir)
        if report.get("question") or not report.get("steps"):
            # Nothing was edited: an ambiguous target (the CLI cannot answer back) or no edit in the words.
            hint = " Say which one in the instruction." if report.get("question") else ""
            _nothing_edited({**report, "output": None}, turn.message + hint, json_report)
        save_image(turn.image, output)
        report["output"] = str(output)
        stderr.print(escape(turn.message))
        session = report.get("session")
        stderr.print(f"Wrote {escape(str(output))} (continue with: chatedit chat --session {session})")
        if json_report:
            say(json.dumps(report, default=str))


def _rules_plan(config) -> bool:
    """Gives back whether the rules will plan this run (no LLM chosen), found without loading a model."""
    from chatedit.agent.brain import llm_choice
    from chatedit.agent.session import models_of

    models = models_of(config)
    return llm_choice(config, models) is None


def _nothing_edited(report: dict, message: str, json_report: bool) -> None:
    """Says that nothing was edited, and why, then exits 2 (the instruction could not be made)."""
    if json_report:
        say(json.dumps(report, default=str))
    stderr.print(f"[red]Nothing edited:[/] {escape(message)}")
    raise typer.Exit(2)


@app.command(cls=support.Command)
def chat(
    image: Annotated[
        Optional[Path], typer.Argument(help="A picture to start with (or /open one later).", show_default=False)
    ] = None,
    session_id: Annotated[
        Optional[str], typer.Option("--session", help="Resume this session (its id is printed when it starts).")
    ] = None,
    planner: PlannerOption = None,
    llm: LLMOption = None,
    models: ModelsOption = None,
    weights: WeightsOption = None,
    device: DeviceOption = None,
    finder: FinderOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    data_dir: DataDirOption = None,
    seed: SeedOption = None,
    max_attempts: AttemptsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Chat with the editor in the terminal: one instruction per line, with undo and history.

    Reads lines from stdin, so it also works with a pipe:
    `printf 'make it sunset\\n/undo\\n' | chatedit chat photo.jpg`.
    Commands: /undo, /redo, /history, /save PATH, /open PATH, /quit (quit and exit work without the
    slash too). Every version stays in the session; /save PATH writes the current one.
    """
    with exit_codes():
        editor = make_editor(
            settings_of(
                models=models,
                weights=weights,
                planner=planner,
                llm=llm,
                device=device,
                finder=finder,
                quantize=quantize,
                offload=offload,
                data_dir=data_dir,
                max_attempts=max_attempts,
                seed=seed,
                database_url=database,
            )
        )
        session = editor.session(session_id)
        started = "Resumed" if session_id else "Started"
        stderr.print(f"{started} session [bold]{session.id}[/] (resume with --session {session.id}). {CHAT_HELP}")
        if image is not None:
            open_image(session, image)
        for line in read_lines(stderr):
            if not line:
                continue
            if is_quit(line):
                break
            if line.startswith("/"):
                verb, _, argument = line[1:].partition(" ")
                chat_command(session, verb, argument.strip())
                continue
            chat_turn(session, line)


@app.command(cls=support.Command)
def plan(
    instruction: Annotated[Optional[str], typer.Argument(help="The instruction to plan.", show_default=False)] = None,
    input_file: Annotated[
        Optional[Path],
        typer.Option(
            "--input",
            "-i",
            help='A JSONL file of {"id", "instruction"} lines ("-": stdin); prints one {"id", "steps"} line each.',
        ),
    ] = None,
    planner: Annotated[
        Planner,
        typer.Option("--planner", help="rules: instant, no model; llm: the LLM (a model that sees needs --image)."),
    ] = Planner.rules,
    image: Annotated[Optional[Path], typer.Option("--image", help="The picture the LLM planner looks at.")] = None,
    llm: LLMOption = None,
    models: ModelsOption = None,
    weights: WeightsOption = None,
) -> None:
    """Print the plan of an instruction as JSON, without editing anything.

    With --input, prints one line per input line, in order (thousands per second with the rules planner).
    """
    with exit_codes():
        if (instruction is None) == (input_file is None):
            raise InputError('Give either an INSTRUCTION or --input FILE.jsonl, e.g. chatedit plan "remove the cup".')
        make = _planner(settings_of(planner=planner, llm=llm, models=models, weights=weights), image)
        if instruction is not None:
            say(_plan_row(make(instruction), None))
            return
        out = sys.stdout
        assert input_file is not None  # either an instruction or --input, checked above
        with _open_text(input_file) as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    text = item["instruction"]
                except (ValueError, KeyError, TypeError):
                    raise InputError(
                        f'Line {number} of {input_file} is not a JSON object with an "instruction"; '
                        'each line must look like {"id": "1", "instruction": "remove the cup"}.'
                    ) from None
                out.write(_plan_row(make(text), item.get("id", number)) + "\n")
                out.flush()


def _plan_row(planned, item_id) -> str:
    """Gives back one line of `chatedit plan`: the plan, who made it, why the rules stood in, tokens, seconds."""
    row: dict[str, Any] = {} if item_id is None else {"id": item_id}
    row["steps"] = [step.model_dump(exclude_none=True) for step in planned.plan.steps]
    if planned.plan.message:
        row["message"] = planned.plan.message
    row["planner"] = planned.planner
    for key in ("note", "mode"):
        if getattr(planned, key):
            row["planner_" + key] = getattr(planned, key)
    if planned.mode:
        row["llm_tokens"], row["seconds"] = planned.tokens, planned.seconds
    return json.dumps(row)


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[Any]:
    if str(path) == "-":
        yield sys.stdin
        return
    try:
        handle = open(path, encoding="utf-8")
    except OSError:
        raise InputError(f"Cannot read {path}; check the path.") from None
    with handle:
        yield handle


def _planner(config, image_path: Optional[Path]):
    """Gives back a function instruction -> Planned for the chosen planner; an LLM's failures fall back to the rules."""
    from chatedit.agent.planner import make_plan

    if config.planner == "rules":
        return lambda text: make_plan(text, None, [], [])
    from chatedit.agent.brain import planner_llm
    from chatedit.agent.session import models_of

    llm = planner_llm(config, models_of(config))
    if llm is None:
        return lambda text: make_plan(text, None, [], [])
    picture = None
    if image_path is not None:
        from chatedit.tools.images import load_image

        picture = load_image(image_path)
    elif getattr(llm, "sees_images", True):
        raise InputError("This LLM planner looks at the picture: pass --image FILE, or use --planner rules.")
    return lambda text: make_plan(text, picture, [], [], llm=llm)


@app.command(cls=support.Command)
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    models: ModelsOption = None,
    weights: WeightsOption = None,
    planner: PlannerOption = None,
    llm: LLMOption = None,
    device: DeviceOption = None,
    finder: FinderOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
    api_key: Annotated[
        Optional[str], typer.Option("--api-key", help="Require `Authorization: Bearer KEY` (also CHATEDIT_API_KEY(S)).")
    ] = None,
) -> None:
    """Serve the OpenAI-compatible API (POST /v1/chat/completions, GET /v1/models) for chat frontends.

    Add it to Open WebUI or any OpenAI-compatible client as base URL http://HOST:PORT/v1, model
    `chatedit`. More settings (size limits, image links, remote images) come from CHATEDIT_*
    variables; see agent/server/settings.py. The MCP tools of `chatedit mcp` are served at /mcp too.
    """
    with exit_codes():
        import uvicorn

        from chatedit.agent.server import create_app

        config = settings_of(
            models=models,
            weights=weights,
            planner=planner,
            llm=llm,
            device=device,
            finder=finder,
            quantize=quantize,
            offload=offload,
            data_dir=data_dir,
            database_url=database,
        )
        settings = _served(config, api_key, exposed=host not in LOCAL_HOSTS, what="use the server")
        editor = make_editor(config)
        stderr.print(
            f"chatedit serving at http://{host}:{port}/v1 (model id: {settings.model_id}); "
            f"sessions in {editor.database.where}"
        )
        uvicorn.run(create_app(editor, settings), host=host, port=port, log_level="info")


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _served(config, api_key: Optional[str], *, exposed: bool, what: str):
    """Gives back the server settings with `--api-key` added, warning when an exposed address needs no key."""
    settings = config.server
    if api_key:
        settings.api_keys = [*settings.api_keys, api_key]
    if exposed and not settings.keys:
        stderr.print(f"[yellow]Warning:[/] no API key: anyone who can reach this address can {what}.")
    return settings


@app.command(cls=support.Command)
def ui(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 7860,
    share: Annotated[
        bool, typer.Option("--share", help="Also open a temporary public link through Gradio's share servers.")
    ] = False,
    models: ModelsOption = None,
    weights: WeightsOption = None,
    planner: PlannerOption = None,
    llm: LLMOption = None,
    device: DeviceOption = None,
    finder: FinderOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
    api_key: Annotated[
        Optional[str],
        typer.Option("--api-key", help="Ask for this key at login, as the password (also CHATEDIT_API_KEY(S))."),
    ] = None,
) -> None:
    """Open the web UI: a chat beside the picture, where a click, a box or a brush stroke says where to edit.

    Needs the ui extra (`pip install -e ".[ui]"`). Sessions are the CLI's and the server's: the browser
    keeps its session's id, so a reload or a restart reopens it. Uploads are bounded as the server bounds
    them (CHATEDIT_MAX_IMAGE_BYTES, CHATEDIT_MAX_PIXELS).
    """
    with exit_codes():
        try:
            from chatedit.agent.ui import launch
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("gradio"):
                raise
            raise InputError(
                'chatedit ui needs Gradio: pip install -e ".[ui]" (or pip install "chatedit[ui]").'
            ) from None
        config = settings_of(
            models=models,
            weights=weights,
            planner=planner,
            llm=llm,
            device=device,
            finder=finder,
            quantize=quantize,
            offload=offload,
            data_dir=data_dir,
            database_url=database,
        )
        settings = _served(config, api_key, exposed=share or host not in LOCAL_HOSTS, what="edit with it")
        editor = make_editor(config)
        stderr.print(f"chatedit ui at http://{host}:{port} ; sessions in {editor.database.where}")
        launch(editor, settings, host=host, port=port, share=share)


@app.command(cls=support.Command)
def mcp(
    models: ModelsOption = None,
    weights: WeightsOption = None,
    planner: PlannerOption = None,
    llm: LLMOption = None,
    device: DeviceOption = None,
    finder: FinderOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
) -> None:
    """Serve chatedit's tools over MCP on stdio (Claude Desktop, code editors, any MCP client).

    Tools: edit_image, undo, redo, history and plan; the models load on the first edit.
    """
    with exit_codes():
        from chatedit.agent.server.mcp_tools import run_stdio

        config = settings_of(
            models=models,
            weights=weights,
            planner=planner,
            llm=llm,
            device=device,
            finder=finder,
            quantize=quantize,
            offload=offload,
            data_dir=data_dir,
            database_url=database,
        )
        run_stdio(lambda: make_editor(config))


@app.command(cls=support.Command)
def bench(
    models: Annotated[Models, typer.Option("--models", help="Model family to time.")] = Models.tiny,
    weights: WeightsOption = None,
    device: DeviceOption = None,
    size: Annotated[str, typer.Option("--size", help="Photo size WIDTHxHEIGHT.")] = "768x512",
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Timed turns after one warm-up turn.")] = 3,
    planner: Annotated[
        Planner, typer.Option("--planner", help="rules: no LLM time in the numbers; auto or llm: the configured LLM.")
    ] = Planner.rules,
    llm: LLMOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as one JSON object.")] = False,
) -> None:
    """Time one turn, "remove the cup and make it sunset", per stage: median, min and max in ms.

    Stages: load, plan, detect, segment, inpaint, global_edit, verify, store_checkpoint, and overhead
    (the turn's wall time minus time inside model calls), plus GPU memory. Model calls are timed with
    device synchronisation. `--models random-full` times the full-size architectures without downloads.
    """
    with exit_codes():
        try:
            width, height = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise InputError(f"--size must look like 768x512, not {size!r}.") from None
        from chatedit.agent.bench import run_bench

        result = run_bench(
            models=models.value if weights is None else f"{models.value}:{weights.value}",
            device=_value(device) or "auto",
            size=(width, height),
            repeat=repeat,
            planner=planner.value,
            llm=llm,
            quantize=_value(quantize),
            offload=_value(offload),
        )
        if as_json:
            say(json.dumps(result))
            return
        table = Table(title=f"chatedit bench: {result['models']} on {result['device_name']}, {width}x{height}")
        for column in ("stage", "median ms", "min ms", "max ms"):
            table.add_column(column, justify="right" if column != "stage" else "left")
        table.add_row("load", f"{result['load_ms']:.1f}", "", "")
        for stage, row in result["stages_ms"].items():
            table.add_row(stage, f"{row['median']:.1f}", f"{row['min']:.1f}", f"{row['max']:.1f}")
        Console().print(table)
        if result["gpu_memory_peak_gib"] is not None:
            Console().print(
                f"GPU memory: resident {result['gpu_memory_resident_gib']} GiB, peak {result['gpu_memory_peak_gib']} GiB"
            )
        calls = ", ".join(str(n) for n in result["llm_calls_per_turn"])
        tokens = ", ".join(str(n) for n in result["llm_tokens_per_turn"])
        Console().print(f"Planner: {result['planner']}; LLM calls per timed turn: {calls}; tokens: {tokens}")
        if result["llm_extra_weight_bytes"] is not None:
            extra = result["llm_extra_weight_bytes"]
            Console().print(
                f"LLM: {result['llm']['model']} ({result['llm']['source']}); weights beyond the editors': "
                f"{extra / 2**30:.2f} GiB" + (" (it is the editor's own text encoder)" if extra == 0 else "")
            )


DIFFUSERS_ROLES = ("inpainter", "global_editor")


def _files_to_fetch(files: list[str], role: str, fp16: bool) -> list[str]:
    """Gives back the files of a checkpoint repo that chatedit loads: configs, tokenizers, safetensors weights.

    Skipped: .bin / .h5 / .ckpt copies of the same weights, diffusers' root single-file checkpoints,
    the never-loaded safety checker, and the precision the loader will not pick.
    """
    wanted = [f for f in files if f.endswith((".json", ".txt", ".jinja", ".safetensors"))]
    if role not in DIFFUSERS_ROLES:
        return wanted
    wanted = [
        f
        for f in wanted
        if (f == "model_index.json" or "/" in f)
        and not f.startswith(("safety_checker/", "feature_extractor/"))
        and "non_ema" not in f
    ]
    has_fp16 = any(f.endswith(".fp16.safetensors") for f in wanted)
    # The loader takes *.fp16.safetensors on the GPU when the repo has them, the full files otherwise.
    half = fp16 and has_fp16
    return [f for f in wanted if not f.endswith(".safetensors") or f.endswith(".fp16.safetensors") == half]


def _family(models: Models) -> str:
    """Gives back the family whose checkpoints `models list|download` handle: auto resolves as a run would here."""
    from chatedit.tools.models import resolve_device, resolve_family

    return resolve_family(models.value, None, resolve_device("auto"))[0]


def _finder(finder: Finder) -> str:
    """Gives back the finder whose checkpoints `models list|download` handle: auto resolves as a run would here."""
    from chatedit.tools.checkpoints import Checkpoints
    from chatedit.tools.models import resolve_finder

    return resolve_finder(finder.value, "real", Checkpoints())


def _no_download_needed(models: Models) -> bool:
    if models not in (Models.tiny, Models.random_full):
        return False
    say(f"--models {models.value} builds its models in code: nothing to download.")
    return True


@models_app.command("list", cls=support.Command)
def models_list(
    models: Annotated[
        Models, typer.Option("--models", help="Model family to check (auto: the one a run here picks).")
    ] = Models.auto,
    finder: Annotated[
        Finder, typer.Option("--finder", help="Finder to check (auto: the one a run here picks).")
    ] = Finder.auto,
) -> None:
    """Show which checkpoints of the model family are in the Hugging Face cache, and their size.

    SAM 3 is listed too when the finder is not sam3: `--finder sam3` runs it, once its gated checkpoint
    is downloaded.
    """
    with exit_codes():
        if _no_download_needed(models):
            return
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound

        from chatedit.tools.checkpoints import Checkpoints
        from chatedit.tools.models import family_checkpoints

        try:
            cached = {repo.repo_id: repo for repo in scan_cache_dir().repos}
        except CacheNotFound:
            cached = {}
        chosen = _finder(finder)
        wanted = family_checkpoints(_family(models), finder=chosen)
        optional = {} if chosen == "sam3" else {Checkpoints().sam3: ["--finder sam3"]}
        table = Table("role", "checkpoint", "cached", "size", box=None)
        for checkpoint, roles in {**wanted, **optional}.items():
            repo = cached.get(checkpoint)
            table.add_row(
                ", ".join(roles),
                checkpoint,
                "[green]yes[/]" if repo else "[red]no[/]",
                repo.size_on_disk_str if repo else "-",
            )
        Console(highlight=False).print(table)
        if any(checkpoint not in cached for checkpoint in wanted):
            say(f"Fetch the missing ones with: chatedit models download --models {models.value} --finder {chosen}")
        Console(highlight=False).print(_memory_table(None if models == Models.auto else _family(models)))


def _memory_table(family: Optional[str]) -> Table:
    """Gives back each family's GPU memory per quantization, and the smallest GPU on which `auto` picks it."""
    from chatedit.tools import memory
    from chatedit.tools.models import FAMILIES

    table = Table(
        "family", "quantize", "weights", "with a 1 MP edit", "auto picks it from", box=None, title="GPU memory"
    )
    for name in [family] if family else FAMILIES:
        for quantize, size in memory.table()["totals"][name].items():
            smallest = memory.smallest_gpu(name, quantize)
            table.add_row(
                name,
                quantize,
                f"{size / 2**30:.1f} GiB",
                f"{memory.needed_bytes(name, quantize) / 2**30:.1f} GiB",
                f"{smallest} GiB free" if smallest else "only when asked for",
            )
    return table


def _check_hub_reachable() -> None:
    """Raises ModelUnavailableError at once when downloads are switched off or the hub does not answer."""
    from chatedit.tools.models import hub_offline, hub_unreachable

    why = hub_unreachable()
    if why is not None:
        fix = (
            "Unset it on a machine with network access and run `chatedit models download` again."
            if hub_offline()
            else "Check the network and any proxy (HTTPS_PROXY), or copy a Hugging Face cache that holds the "
            "checkpoints onto this machine."
        )
        raise ModelUnavailableError(f"Nothing can be downloaded: {why}. {fix}")


@models_app.command("download", cls=support.Command)
def models_download(
    models: Annotated[
        Models, typer.Option("--models", help="Model family to download (auto: the one a run here picks).")
    ] = Models.auto,
    fp16: Annotated[
        Optional[bool],
        typer.Option(
            "--fp16/--fp32",
            help="Diffusion weights in half precision (GPU) or full [default: fp16 when CUDA is present].",
        ),
    ] = None,
    finder: Annotated[
        Finder,
        typer.Option(
            "--finder",
            help="Finder to download (auto: the one a run here picks; sam3 needs access to the gated facebook/sam3).",
        ),
    ] = Finder.auto,
) -> None:
    """Download the model family's checkpoints into the Hugging Face cache (once, on a machine with network).

    Afterwards chatedit runs offline: set HF_HUB_OFFLINE=1.
    """
    with exit_codes():
        if _no_download_needed(models):
            return
        from huggingface_hub import HfApi, snapshot_download

        from chatedit.tools.models import access_denied, family_checkpoints, gated

        if fp16 is None:
            import torch

            fp16 = torch.cuda.is_available()
        _check_hub_reachable()
        for repo, roles in family_checkpoints(_family(models), finder=_finder(finder)).items():
            role = roles[0]
            stderr.print(f"Downloading {role}: {repo} ...")
            try:
                files = _files_to_fetch(HfApi().list_repo_files(repo), role, fp16)
                folder = snapshot_download(repo, allow_patterns=files)
            except Exception as exc:
                if access_denied(exc):
                    raise gated(repo, role) from None
                raise ModelUnavailableError(
                    f"Could not download {repo}: {type(exc).__name__}: {str(exc)[:200]}. Check the network "
                    "(and HF_TOKEN for gated checkpoints)."
                ) from None
            say(f"{role}: {repo} -> {folder}")


register_eval(app)

if __name__ == "__main__":
    app()

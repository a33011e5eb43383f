"""`chatedit plan`: the plan of an instruction as JSON, one or a file of them, without editing."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer

from chatedit.agent.cli import support
from chatedit.agent.cli.common import (
    LLMOption,
    ModelsOption,
    Planner,
    WeightsOption,
    settings_of,
)
from chatedit.agent.cli.support import exit_codes, say
from chatedit.tools.errors import InputError


def register(app: typer.Typer) -> None:
    app.command(cls=support.Command)(plan)


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

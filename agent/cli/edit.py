"""`chatedit edit`: one picture, one instruction, one result written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from chatedit.agent.cli import common, support
from chatedit.agent.cli.common import (
    AttemptsOption,
    DatabaseOption,
    DeviceOption,
    FinderOption,
    LLMOption,
    ModelsOption,
    OffloadOption,
    PlannerOption,
    QuantizeOption,
    SeedOption,
    WeightsOption,
    settings_of,
)
from chatedit.agent.cli.progress import ProgressView
from chatedit.agent.cli.support import check_output, exit_codes, save_image, say, stderr
from chatedit.tools.errors import InputError


def register(app: typer.Typer) -> None:
    app.command(cls=support.Command)(edit)


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
        if common.rules_plan(config):
            from chatedit.agent.rules import plan_rules

            planned = plan_rules(instruction)
            if not planned.steps:
                _nothing_edited({"steps": [], "output": None}, planned.message or "", json_report)
        editor = common.make_editor(config)
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


def _nothing_edited(report: dict, message: str, json_report: bool) -> None:
    """Says that nothing was edited, and why, then exits 2 (the instruction could not be made)."""
    if json_report:
        say(json.dumps(report, default=str))
    stderr.print(f"[red]Nothing edited:[/] {escape(message)}")
    raise typer.Exit(2)

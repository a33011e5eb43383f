"""The `chatedit eval` command: `register(app)` adds it to the `chatedit` typer app.

    chatedit eval examples/eval/photos.jsonl --out runs/photos --baseline whole-image
    chatedit eval gedit.jsonl --format gedit --images gedit_asset --language en --out runs/gedit --judge http://localhost:8000/v1
    chatedit eval --rounds 10 --out runs/rounds --baseline whole-image

The options shared with `edit` (models, weights, planner, LLM, device, ...) come from the CLI's own
definitions, so an item runs with the settings `chatedit edit` would use. Sessions and their
pictures are kept in DIR/data unless --database says otherwise.
"""

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from chatedit.agent.cli import common, support

EVAL_HELP = """Run a set of pictures and turns through the agent, score every turn and write the results.

The set is a JSONL file of {id, image, turns} lines, or a benchmark's own file with --format.
Each output picture goes to DIR/items/ID/, a line per item to DIR/results.jsonl; a run that stopped
resumes where it was. It ends with a summary table and, for several turns, the preservation table
(written to DIR/summary.md too). Scores outside the masks compare each turn with the original,
inside with the turn before; SC, PQ and O come from a judge (--judge)."""


def register(app: typer.Typer) -> None:
    """Adds `chatedit eval` to `app`, with the edit options of the CLI the app belongs to."""

    def eval_set(
        out: Annotated[
            Path, typer.Option("--out", help="The folder of this run's pictures and results.", show_default=False)
        ],
        set_file: Annotated[
            Optional[Path],
            typer.Argument(help="The set: a JSONL file, or a benchmark's file (see --format).", show_default=False),
        ] = None,
        fmt: Annotated[
            str,
            typer.Option(
                "--format", help="jsonl, gedit (GEdit-Bench), imgedit (ImgEdit, single or multi-turn), edival."
            ),
        ] = "jsonl",
        images: Annotated[
            Optional[Path],
            typer.Option(
                "--images", help="Where the benchmark's pictures are (a folder, or EdiVal's zip).", show_default=False
            ),
        ] = None,
        language: Annotated[
            Optional[str], typer.Option("--language", help="GEdit-Bench: en or cn (default: both).", show_default=False)
        ] = None,
        limit: Annotated[
            Optional[int], typer.Option("--limit", help="Run only the first N items.", min=1, show_default=False)
        ] = None,
        rounds: Annotated[
            Optional[int],
            typer.Option(
                "--rounds",
                help="Give every item N turns (its own, repeated); with no SET, the built-in photos and everyday turns.",
                min=1,
                show_default=False,
            ),
        ] = None,
        baseline: Annotated[
            Optional[str],
            typer.Option(
                "--baseline",
                help="whole-image: the family's instruction editor on the whole picture, beside chatedit.",
                show_default=False,
            ),
        ] = None,
        judge: Annotated[
            Optional[str],
            typer.Option(
                "--judge", help="A VLM that scores SC and PQ: a server URL, local:MODEL or editor.", show_default=False
            ),
        ] = None,
        planner: common.PlannerOption = None,
        llm: common.LLMOption = None,
        models: common.ModelsOption = None,
        weights: common.WeightsOption = None,
        device: common.DeviceOption = None,
        finder: common.FinderOption = None,
        quantize: common.QuantizeOption = None,
        offload: common.OffloadOption = None,
        seed: common.SeedOption = None,
        max_attempts: common.AttemptsOption = None,
        database: common.DatabaseOption = None,
    ) -> None:
        with support.exit_codes():
            given = dict(
                models=models, weights=weights, planner=planner, llm=llm, device=device, finder=finder,
                quantize=quantize, offload=offload, seed=seed, max_attempts=max_attempts, database_url=database,
            )  # fmt: skip
            options = dict(
                set_file=set_file, out=out, fmt=fmt, images=images, language=language, limit=limit,
                rounds=rounds, baseline=baseline, judge=judge,
            )  # fmt: skip
            run_eval(common, given, **options)

    eval_set.__doc__ = EVAL_HELP
    app.command("eval", cls=support.Command)(eval_set)


def run_eval(cli: Any, given: dict, *, set_file, out, fmt, images, language, limit, rounds, baseline, judge) -> None:
    """Runs the set with the CLI's settings, resuming in `out`, and prints the tables."""
    from chatedit.agent.eval import converters, sets
    from chatedit.agent.eval.baseline import BASELINES
    from chatedit.agent.eval.judge import judge_choice
    from chatedit.tools.errors import InputError

    if baseline is not None and baseline not in BASELINES:
        raise InputError(f"Unknown baseline {baseline!r}; use {', '.join(BASELINES)}.")
    if judge is not None:
        judge_choice(judge)
    if set_file is None:
        if rounds is None:
            raise InputError("Give a SET file, or --rounds N to run the built-in photos and everyday turns.")
        set_file, fmt = sets.ROUNDS_SET, "jsonl"
    out.mkdir(parents=True, exist_ok=True)
    items = converters.read_items(fmt, set_file, images, out, language)[:limit]
    if rounds is not None:
        items = sets.with_rounds(items, rounds)
    sets.write_set(items, out / "set.jsonl")
    config = common.settings_of(**given, data_dir=out / "data")
    from chatedit.agent.eval.runner import start_run

    described = {"set": str(set_file.resolve()), "format": fmt, "language": language, "limit": limit}
    described.update(rounds=rounds, baseline=baseline, judge=judge, models=config.models, weights=config.weights)
    described.update(seed=config.seed, planner=config.planner)
    start_run(out, described)
    editor = common.make_editor(config)
    try:
        _run_items(cli, editor, items, out, baseline, judge)
    finally:
        editor.close()


def _run_items(cli: Any, editor: Any, items: list, out: Path, baseline: Optional[str], judge: Optional[str]) -> None:
    """Runs the items not yet finished in `out` with a progress bar, then prints and writes the tables."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from chatedit.agent.eval import tables
    from chatedit.agent.eval.judge import make_judge
    from chatedit.agent.eval.runner import Runner, read_results
    from chatedit.agent.eval.scores import Perceptual

    stderr = support.stderr
    perceptual = Perceptual.load()
    if perceptual.note:
        stderr.print(escape(perceptual.note))
    finished = {key for key, result in read_results(out).items() if "error" not in result}
    todo = [item for item in items if item.id not in finished]
    if finished:
        stderr.print(f"Resuming: {len(items) - len(todo)} of {len(items)} items are done in {escape(str(out))}.")
    systems = 2 if baseline else 1
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as progress:
        bar = progress.add_task("eval", total=sum(len(item.turns) for item in todo) * systems)
        runner = Runner(editor, out, baseline, make_judge(judge, editor.config, editor.toolbox.models), perceptual)
        runner.on_turn = lambda system, number: progress.advance(bar)
        for item in todo:
            progress.update(bar, description=item.id)
            result = runner.run(item)
            if "error" in result:
                stderr.print(f"[red]{escape(item.id)}:[/] {escape(result['error'])}")
    found = read_results(out)
    results = [found[item.id] for item in items if item.id in found and "error" not in found[item.id]]
    _print_tables(cli, results, out, tables)


def _print_tables(cli: Any, results: list[dict], out: Path, tables: Any) -> None:
    """Prints the summary (and, for several turns, the per-turn preservation table) and writes DIR/summary.md."""
    summary = tables.summary_rows(results)
    text = "## Summary\n\n" + tables.markdown(tables.SUMMARY_HEADER, summary)
    support.stderr.print(tables.rich_table(f"chatedit eval: {len(results)} items", tables.SUMMARY_HEADER, summary))
    if any(len(result["turns"]) > 1 for result in results):
        header, rows = tables.rounds_header(results), tables.rounds_rows(results)
        support.stderr.print(tables.rich_table("Preservation per turn", header, rows))
        text += "\n## Preservation per turn\n\n" + tables.markdown(header, rows)
    (out / "summary.md").write_text(text, encoding="utf-8")
    support.say(f"Wrote {out / 'results.jsonl'} and {out / 'summary.md'}")

"""`chatedit bench`: one turn timed per stage."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chatedit.agent.cli import support
from chatedit.agent.cli.common import (
    DeviceOption,
    LLMOption,
    Models,
    OffloadOption,
    Planner,
    QuantizeOption,
    WeightsOption,
    value_of,
)
from chatedit.agent.cli.support import exit_codes, say
from chatedit.tools.errors import InputError


def register(app: typer.Typer) -> None:
    app.command(cls=support.Command)(bench)


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
            device=value_of(device) or "auto",
            size=(width, height),
            repeat=repeat,
            planner=planner.value,
            llm=llm,
            quantize=value_of(quantize),
            offload=value_of(offload),
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

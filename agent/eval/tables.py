"""The tables a run ends with: a summary per system, and the preservation of each turn.

Both are built from the results' lines as rows of text, then shown as a rich table on the terminal
and written as Markdown (DIR/summary.md). PSNR is summed up by its median (identical regions are
infinite), the other scores by their mean over the items that have them; "-" where none has.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Callable, Iterable, Optional

from rich.table import Table

SYSTEMS = ("chatedit", "baseline")

SUMMARY_HEADER = [
    "system",
    "turns",
    "changed outside",
    "PSNR outside",
    "SSIM outside",
    "LPIPS outside",
    "changed inside",
    "shift px",
    "SC",
    "PQ",
    "O",
]
ROUNDS_COLUMNS = ("PSNR outside", "changed outside", "shift px")


def _values(records: Iterable[dict], pick: Callable[[dict], Any]) -> list[float]:
    found = []
    for record in records:
        try:
            value = pick(record)
        except (KeyError, TypeError):
            continue
        if value is not None:
            found.append(float(value))
    return found


def _mean(values: list[float]) -> Optional[float]:
    return statistics.fmean(values) if values else None


def _median(values: list[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def _db(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return "∞" if math.isinf(value) else f"{value:.2f}"


def _share(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _number(value: Optional[float], digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _turns(results: Iterable[dict], system: str, number: Optional[int] = None) -> list[dict]:
    """Gives back the turn records of `system` (only turn `number`, 1-based, when given) of the finished items."""
    found = []
    for result in results:
        for row in result.get("turns", []):
            if system in row and (number is None or row["turn"] == number):
                found.append(row[system])
    return found


def summary_rows(results: list[dict]) -> list[list[str]]:
    """Gives back one row per system that ran: its scores over every turn of every item."""
    rows = []
    for system in SYSTEMS:
        turns = _turns(results, system)
        if not turns:
            continue
        rows.append(
            [
                system,
                str(len(turns)),
                _share(_mean(_values(turns, lambda t: t["outside"]["changed"]))),
                _db(_median(_values(turns, lambda t: t["outside"]["psnr"]))),
                _number(_mean(_values(turns, lambda t: t["outside"]["ssim"]))),
                _number(_mean(_values(turns, lambda t: t["outside"]["lpips"]))),
                _share(_mean(_values(turns, lambda t: t["inside"]["changed"]))),
                _number(_mean(_values(turns, lambda t: t["shift"]["pixels"])), 2),
                _number(_mean(_values(turns, lambda t: t["judge"]["sc"])), 2),
                _number(_mean(_values(turns, lambda t: t["judge"]["pq"])), 2),
                _number(_mean(_values(turns, lambda t: t["judge"]["overall"])), 2),
            ]
        )
    return rows


def rounds_header(results: list[dict]) -> list[str]:
    """Gives back the preservation table's header: the turn, then each column per system that ran."""
    ran = [system for system in SYSTEMS if _turns(results, system)]
    return ["turn", *[f"{system} {column}" for system in ran for column in ROUNDS_COLUMNS]]


def rounds_rows(results: list[dict]) -> list[list[str]]:
    """Gives back one row per turn: PSNR outside the masks, changed pixels and shift, per system."""
    ran = [system for system in SYSTEMS if _turns(results, system)]
    count = max((len(result.get("turns", [])) for result in results), default=0)
    rows = []
    for number in range(1, count + 1):
        row = [str(number)]
        for system in ran:
            turns = _turns(results, system, number)
            row += [
                _db(_median(_values(turns, lambda t: t["outside"]["psnr"]))),
                _share(_mean(_values(turns, lambda t: t["outside"]["changed"]))),
                _number(_mean(_values(turns, lambda t: t["shift"]["pixels"])), 2),
            ]
        rows.append(row)
    return rows


def rich_table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    """Gives back the rows as a rich table for the terminal."""
    table = Table(title=title)
    for name in header:
        table.add_column(name, justify="left" if name in ("system", "turn") else "right")
    for row in rows:
        table.add_row(*row)
    return table


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """Gives back the rows as a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"

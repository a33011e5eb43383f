"""Tests for tools/memory.toml and BENCHMARKS.md's "Weight memory" section: they agree, and quantizing shrinks.

Both are written by scripts/weight_memory.py from full-size builds; these tests read them only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatedit.tools.memory import DEFAULT_FINDER, FINDERS_KEY, family_bytes, weight_table
from chatedit.tools.quantize import QUANTIZE_MODES

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
SECTION = "## Weight memory"
FAMILIES = ("classic", "modern", "max")
GIB = 2**30


def section() -> str:
    """Gives back BENCHMARKS.md's "Weight memory" section, up to the next section."""
    text = BENCHMARKS.read_text()
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else len(text)]


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Gives back each markdown table in `text` as its rows, each a dict from column name to cell."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            header, _separator, *rows = block
            tables.append([dict(zip(header, row, strict=True)) for row in rows])
            block = []
    return tables


@pytest.fixture(scope="module")
def table():
    return weight_table()


@pytest.fixture(scope="module")
def totals_and_roles():
    totals, roles = markdown_tables(section())
    return totals, roles


def gib(count: int) -> str:
    return f"{count / GIB:.2f}"


def test_every_family_lists_its_roles_and_the_finders_are_there(table):
    assert set(table) == {*FAMILIES, FINDERS_KEY}
    assert {DEFAULT_FINDER, "sam3"} <= set(table[FINDERS_KEY])
    for group, roles in table.items():
        for name, entry in roles.items():
            modes = [mode for mode in QUANTIZE_MODES if mode in entry]
            assert modes in (["none"], list(QUANTIZE_MODES)), (group, name)
            assert all(entry[mode]["source"] in ("measured", "computed") for mode in modes), (group, name)
    for family in FAMILIES:
        quantized = [name for name, entry in table[family].items() if "int8" in entry]
        assert len(quantized) >= 2, family  # the diffusion model(s) and the text encoder(s)


def test_each_role_row_of_the_markdown_is_the_toml_in_gib(table, totals_and_roles):
    _, roles = totals_and_roles
    rows = {(row["family"], row["role"]): row for row in roles}
    assert set(rows) == {(group, name) for group, entries in table.items() for name in entries}
    for (group, name), row in rows.items():
        entry = table[group][name]
        assert row["module"] == entry["module"]
        assert row["parameters (B)"] == f"{entry['none']['parameters'] / 1e9:.3f}"
        for mode in QUANTIZE_MODES:
            assert row[mode] == (gib(entry[mode]["bytes"]) if mode in entry else "-"), (group, name, mode)
        assert row["source"].split()[0] == entry["none"]["source"]


def test_each_family_total_of_the_markdown_is_the_toml_in_gib(table, totals_and_roles):
    totals, _ = totals_and_roles
    assert [row["family"] for row in totals] == list(FAMILIES)
    for row in totals:
        for mode in QUANTIZE_MODES:
            assert row[mode] == gib(family_bytes(table, row["family"], mode)), (row["family"], mode)


def test_a_family_total_counts_every_role_and_the_default_finder(table):
    for family in FAMILIES:
        roles = [*table[family].values(), table[FINDERS_KEY][DEFAULT_FINDER]]
        assert family_bytes(table, family, "none") == sum(role["none"]["bytes"] for role in roles)


def test_every_family_total_shrinks_from_none_to_int8_and_fp8_to_nf4(table):
    for family in FAMILIES:
        total = {mode: family_bytes(table, family, mode) for mode in QUANTIZE_MODES}
        assert total["none"] > total["int8"] > total["nf4"], family
        assert total["none"] > total["fp8"] > total["nf4"], family


def test_computed_rows_say_how_in_both_files(table):
    notes = section()
    computed = {
        (group, name): entry
        for group, roles in table.items()
        for name, entry in roles.items()
        if entry["none"]["source"] == "computed"
    }
    assert computed, "the max transformer is computed from one of its blocks"
    for (group, name), entry in computed.items():
        assert entry["how"] and f"{group} {name}: {entry['how']}." in notes

"""The JSON schema an in-process model decodes under: bounded so that every reply fits its token budget.

A grammar without limits lets a weak model write one string until the budget runs out, and a reply
cut there does not parse. Here the limits come from the budget: `limits_for` finds the longest
strings and lists for which the longest reply the grammar allows (`longest_reply`, in characters)
still fits. Strings are plain printable ASCII with no escapes, and each token of a tokenizer is at
least one character of such text, so a reply of at most B characters takes at most B tokens: every
reply ends, and parses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

from chatedit.tools.errors import InputError

TEXT_LIMIT = 200
"""Longest string field, in characters, a constrained reply may hold (the schemas' own limits win)."""
ITEMS_LIMIT = 6
"""Most items of a list field a constrained reply may hold (the schemas' own limits win)."""
NUMBER_LIMIT = 10_000
"""Largest number a constrained reply may hold: pixels of a picture shown (at most 768 wide), step numbers."""
MIN_TEXT = 32
"""Shortest string limit worth decoding with: below it, a list is given fewer items instead."""
SEPARATORS = (", ", ": ")
"""What xgrammar writes between items and after keys when no other whitespace is allowed."""

_PLAIN_TEXT = "[ !#-\\[\\]-~]"
"""One printable ASCII character other than a quote or a backslash: one character of JSON, no escapes."""


@dataclass(frozen=True)
class Limits:
    """How long a constrained reply's strings and lists may be."""

    text: int = TEXT_LIMIT
    """Longest string, in characters."""
    items: int = ITEMS_LIMIT
    """Most items of a list."""


def bounded(schema: Any, limits: Limits = Limits()) -> Any:
    """Gives back a copy of a JSON schema for decoding: strings, lists and numbers are bounded, every field is written.

    Limits the schema already sets are kept when tighter. Every property is required (optional ones
    are nullable already), as in OpenAI's strict mode, so that a reply cannot stop at `{}`: it says
    null where it means nothing. A free string is plain text of at most `limits.text` characters; a
    number is a whole number from 0 to NUMBER_LIMIT unless the schema says otherwise (a JSON number's
    digits have no end otherwise; pixels and step numbers are whole and not negative).
    """
    if isinstance(schema, list):
        return [bounded(item, limits) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: bounded(value, limits) for key, value in schema.items()}
    kind = out.get("type")
    if kind == "string" and "enum" not in out and "const" not in out:
        longest = min(out.pop("maxLength", limits.text), limits.text)
        shortest = min(out.pop("minLength", 0), longest)
        out["pattern"] = f"^{_PLAIN_TEXT}{{{shortest},{longest}}}$"
    if kind == "array":
        out["maxItems"] = min(out.get("maxItems", limits.items), max(limits.items, out.get("minItems", 0)))
    if kind == "number":
        out["type"] = "integer"
    if out.get("type") == "integer":
        out["minimum"] = max(out.get("minimum", 0), -NUMBER_LIMIT)
        out["maximum"] = min(out.get("maximum", NUMBER_LIMIT), NUMBER_LIMIT)
    if isinstance(out.get("properties"), dict):
        out["required"] = list(out["properties"])
    return out


def longest_reply(schema: dict) -> int:
    """Gives back the most characters a reply under a bounded schema (from `bounded`) can take."""
    return _longest(schema, schema.get("$defs", {}))


def limits_for(schema: dict, budget: int) -> Limits:
    """Gives back the longest limits under which every reply to `schema` fits `budget` tokens.

    Lists keep as many items as they can while strings stay at least MIN_TEXT characters long.

    Raises:
        InputError: the budget is too small for even one item of every list.
    """
    for items in range(ITEMS_LIMIT, 0, -1):
        text = _longest_text(schema, items, budget)
        if text >= MIN_TEXT or (items == 1 and text >= 1):
            return Limits(text, items)
    raise InputError(
        f"A token budget of {budget} is too small for a reply to this schema; raise CHATEDIT_LLM_MAX_TOKENS "
        f"(at least {longest_reply(bounded(schema, Limits(MIN_TEXT, 1)))})."
    )


def _longest_text(schema: dict, items: int, budget: int) -> int:
    """Gives back the longest string limit (at most TEXT_LIMIT) for which every reply fits `budget`; 0 if none."""
    low, high = 0, TEXT_LIMIT
    while low < high:
        middle = (low + high + 1) // 2
        if longest_reply(bounded(schema, Limits(middle, items))) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _longest(schema: Any, defs: dict) -> int:
    """Gives back the most characters a value of a bounded schema can take, as xgrammar writes it."""
    if not isinstance(schema, dict):
        return 0
    if "$ref" in schema:
        return _longest(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return len(json.dumps(schema["const"]))
    if "enum" in schema:
        return max(len(json.dumps(option)) for option in schema["enum"])
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return max(_longest(option, defs) for option in options)
    return _longest_of_type(schema, defs)


def _longest_of_type(schema: dict, defs: dict) -> int:
    kind: Optional[str] = schema.get("type")
    if kind == "object":
        fields = schema.get("properties", {})
        keys = sum(len(json.dumps(key)) + len(SEPARATORS[1]) + _longest(value, defs) for key, value in fields.items())
        return 2 + keys + len(SEPARATORS[0]) * max(len(fields) - 1, 0)
    if kind == "array":
        items = schema["maxItems"]
        return 2 + items * _longest(schema.get("items", {}), defs) + len(SEPARATORS[0]) * max(items - 1, 0)
    if kind == "string":
        return 2 + int(schema["pattern"].rsplit(",", 1)[1].split("}")[0])
    if kind == "integer":
        return max(len(str(schema["minimum"])), len(str(schema["maximum"])))
    if kind == "boolean":
        return len("false")
    if kind == "null":
        return len("null")
    raise InputError(f"The decoding grammar cannot bound a value of type {kind!r}; give it a type and limits.")

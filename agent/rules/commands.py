"""Session commands and questions: what the graph routes on before any plan (undo, redo, history; a question)."""

from __future__ import annotations

import re
from typing import Literal, Optional

from chatedit.agent.rules.clauses import (
    as_imperative,
    split_clauses,
    starts_clause,
)
from chatedit.agent.rules.frames import (
    parse_clause,
)
from chatedit.agent.rules.lexicon import (
    CLAUSE_VERBS,
    PHRASES,
    RE,
    VERBS,
    phrase_pattern,
    words_of,
)

# Session commands and questions.

_COMMANDS = {name: phrase_pattern(f"commands.{name}") for name in PHRASES["commands"]}


def parse_command(text: str) -> Optional[Literal["undo", "redo", "history"]]:
    """Gives back the session command a message asks for ("undo that", "/redo", "show the history"), or None."""
    words = " ".join(words_of(text.lower().replace("/", " ").replace("’", "'")))
    words = re.sub(r"^(?:please|ok|okay|hmm|no|nah|oops|ugh|actually|just|can you|could you|would you)\s+", "", words)
    words = re.sub(r"\s+(?:please|thanks|thank you)$", "", words)
    for name, pattern in _COMMANDS.items():
        if pattern.match(words):
            return name
    return None


_AUXILIARIES = ("has", "have", "had", "can", "could", "should", "would", "will", "may", "might", "shall")


def is_question(text: str) -> bool:
    """Gives back whether a message asks about the picture rather than asking for an edit.

    "what is in this picture?" and "how many cats are there?" are questions; "can you remove the
    cat?", "could the sky be bluer?" and "how about adding a hat?" are edits phrased as questions.
    """
    low = " ".join(text.lower().replace("’", "'").split())
    low = re.sub(r"^(?:hey|hi|hello|ok|okay|so|and|but|um|hmm|well|please|honestly|ugh|oh|uh)[,!.]?\s+", "", low)
    if not low or parse_command(low):
        return False
    request = RE.request.match(low)
    if request:
        rest = low[request.end() :]
        return not starts_clause(rest) and not _edit_like(rest) and not _edit_like(low)
    if RE.wish.match(low) and _edit_like(low):
        return False
    asking = RE.asking.match(low)
    if asking and asking.group(0) in _AUXILIARIES[3:] and _edit_like(low):
        # "can the billboard go?", "could the van disappear?": a wish.
        return False
    if asking:
        # "have the dog wear a hat" and "have it be night" are orders; "have you seen it?" asks.
        subject = re.match(r"^\S+\s+(?:you|i|we|they|he|she|it|there|this|that|u)\s+(?P<next>\S+)", low)
        ordered = subject and asking.group(0) in ("have", "let") and subject["next"] in VERBS.actions | CLAUSE_VERBS
        return asking.group(0) not in _AUXILIARIES or low.endswith("?") or bool(subject and not ordered)
    if low.endswith("?"):
        # "the bin bothers me, could it go?": the question asks for the edit before it.
        return not any(_edit_like(clause) for clause in split_clauses(low))
    return False


def _edit_like(text: str) -> bool:
    """Gives back whether a sentence reads as an edit request once polite wording is set aside."""
    return bool(parse_clause(text)) and starts_clause(as_imperative(text))

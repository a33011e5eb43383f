"""The plan of a turn: its clauses read by the frames, then linked ("it", "where it was")."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Optional

from chatedit.agent.plan import Plan
from chatedit.agent.rules.clauses import (
    _imperative,
    _noun_phrase,
    _split_clauses,
    _target,
)
from chatedit.agent.rules.commands import (
    is_question,
    parse_command,
)
from chatedit.agent.rules.frames import (
    _Draft,
    _listed_edits,
    _parse_clause,
)
from chatedit.agent.rules.lexicon import (
    _CAPABILITIES,
    _NO_EDIT_MESSAGE,
    _QUESTION_MESSAGE,
    _RE,
    _respell,
    _strip_determiners,
)

# The plan of a turn.


def plan_rules(instruction: str) -> Plan:
    """Gives back the Plan for an instruction, read with rules alone (no model, no image).

    Args:
        instruction: what the user asked, in English: one edit or several ("remove the dog and
            make it sunset"), possibly polite or phrased as a question ("could you ...?").

    Returns:
        A Plan with one Step per edit, in order; for text with no edit (a question, small talk,
        a session command), no steps and a `message` saying what chatedit can do.
    """
    text = _respell((instruction or "").replace("\r", "\n"))
    if not text.strip():
        return Plan(steps=[], message=_NO_EDIT_MESSAGE)
    if parse_command(text):
        return Plan(steps=[], message=f'"{text.strip()}" is a session command, not an edit. {_CAPABILITIES}')
    if is_question(text):
        return Plan(steps=[], message=_QUESTION_MESSAGE)
    drafts: list[_Draft] = []
    last: Optional[_Draft] = None
    named: Optional[str] = None
    for clause in (edit for said in _split_clauses(text) for edit in _listed_edits(said)):
        if named:
            # "the rug is too red, make it beige": after a description, "it" is what was described.
            clause = re.sub(r"\b(?:it|them|they)\b", f"the {named}", clause, count=1, flags=re.IGNORECASE)
        parsed = _parse_clause(clause)
        focus = _RE.focus.match(_imperative(clause)) if not parsed else None
        named = None
        if focus:
            last = _Draft("local", clause, target=_target(_noun_phrase(focus["np"] or focus["subject"])[0]))
            named = last.target
        elif parsed and _RE.complaint.match(_RE.polite_start.sub("", clause)):
            named = parsed[0].target
        for draft in parsed:
            last = _link(draft, last, drafts)
            if drafts and drafts[-1].category == "remove" and drafts[-1].target == last.target:
                # "the lamp bothers me, make it blue": what is edited after it was complained about stays.
                if last.category == "remove":
                    last = drafts[-1]
                    continue
                drafts.pop()
            drafts.append(last)
    if not drafts:
        return Plan(steps=[], message=_NO_EDIT_MESSAGE)
    return Plan(steps=[draft.step() for draft in drafts])


def _link(draft: _Draft, previous: Optional[_Draft], drafts: list[_Draft]) -> _Draft:
    """Gives back a step tied to the one before: "it" becomes the previous object, "where it was" a replace."""
    if previous is None:
        return draft
    if (
        draft.category == "add"
        and draft.in_place
        and previous.category == "remove"
        and drafts
        and drafts[-1] is previous
    ):
        drafts.pop()
        return replace(draft, category="replace", target=previous.target, anchor=None, relation=None)
    subject = _result_object(previous)
    if subject is None:
        return draft
    # "the woman's earrings ... her": a person pronoun means the owner, not the thing owned.
    owner = re.match(r"^(?P<owner>.+?)['’]s\s", subject)
    if owner and (draft.target in ("him", "her") or draft.anchor in ("him", "her")):
        subject = owner["owner"]
    owned = draft.target and re.search(rf"\b(?:his|her|their)\s+{re.escape(draft.target)}\b", draft.instruction, re.I)
    if owned and owner:
        return replace(draft, target=f"{owner['owner']}'s {draft.target}")
    pointers = ("it", "them", "him", "her")
    if draft.target in pointers and draft.category not in ("add", "global"):
        return replace(draft, target=subject)
    if draft.category == "add" and draft.anchor in pointers:
        return replace(draft, anchor=subject)
    return draft


def _result_object(draft: _Draft) -> Optional[str]:
    """Gives back what "it" means after a step: the new object of a replace or add, else the target."""
    if draft.category in ("replace", "add"):
        return _strip_determiners(draft.prompt or "") or None
    if draft.category != "global":
        # "move the bike left, then make it red", "put the kids on a beach and make them wave".
        return draft.target
    return None

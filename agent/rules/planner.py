"""The plan of a turn: its clauses read by the frames, then linked ("it", "where it was")."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Optional

from chatedit.agent.plan import Plan
from chatedit.agent.rules.clauses import (
    as_imperative,
    noun_phrase,
    shared_verb_clauses,
    split_clauses,
    target_of,
)
from chatedit.agent.rules.commands import (
    is_question,
    parse_command,
)
from chatedit.agent.rules.drafts import Draft
from chatedit.agent.rules.frames import parse_clause
from chatedit.agent.rules.lexicon import (
    CAPABILITIES,
    GRAMMAR,
    NO_EDIT_MESSAGE,
    QUESTION_MESSAGE,
    RE,
    is_attribute,
    is_look_word,
    respell,
    strip_determiners,
    words_of,
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
    text = respell((instruction or "").replace("\r", "\n"))
    if not text.strip():
        return Plan(steps=[], message=NO_EDIT_MESSAGE)
    if parse_command(text):
        return Plan(steps=[], message=f'"{text.strip()}" is a session command, not an edit. {CAPABILITIES}')
    if is_question(text):
        return Plan(steps=[], message=QUESTION_MESSAGE)
    drafts: list[Draft] = []
    last: Optional[Draft] = None
    named: Optional[str] = None
    for clause in (edit for said in split_clauses(text) for edit in listed_edits(said)):
        if named:
            # "the rug is too red, make it beige": after a description, "it" is what was described.
            clause = re.sub(r"\b(?:it|them|they)\b", f"the {named}", clause, count=1, flags=re.IGNORECASE)
        parsed = parse_clause(clause)
        focus = RE.focus.match(as_imperative(clause)) if not parsed else None
        named = None
        if focus:
            last = Draft("local", clause, target=target_of(noun_phrase(focus["np"] or focus["subject"])[0]))
            named = last.target
        elif parsed and RE.complaint.match(RE.polite_start.sub("", clause)):
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
        return Plan(steps=[], message=NO_EDIT_MESSAGE)
    return Plan(steps=[draft.step() for draft in drafts])


def _link(draft: Draft, previous: Optional[Draft], drafts: list[Draft]) -> Draft:
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


def _result_object(draft: Draft) -> Optional[str]:
    """Gives back what "it" means after a step: the new object of a replace or add, else the target."""
    if draft.category in ("replace", "add"):
        return strip_determiners(draft.prompt or "") or None
    if draft.category != "global":
        # "move the bike left, then make it red", "put the kids on a beach and make them wave".
        return draft.target
    return None


def listed_edits(clause: str) -> list[str]:
    """Gives back the edits of a clause that lists them with no verb ("sunset, streetlights on"), else the clause.

    Every piece must be an edit by itself, not only a noun or a look ("add a hat, a scarf", "red, white").
    """
    pieces = [piece.strip() for piece in re.split(r"\s*,\s*(?:and\s+)?", clause) if piece.strip()]
    said_verb, _, rest = clause.partition(" ")
    if len(pieces) < 2 or shared_verb_clauses(said_verb, rest):
        return [clause]
    for piece in pieces[1:]:
        words = words_of(piece)
        opens = words[0] in GRAMMAR.function_words - GRAMMAR.determiners or RE.fronted_start.match(piece)
        if opens or is_attribute(piece):
            return [clause]
        if not noun_phrase(piece)[1] and not is_look_word(words[-1]) and not RE.no_more.match(piece):
            return [clause]
    return pieces if all(parse_clause(piece) for piece in pieces) else [clause]

"""Edits for an instruction-following editor: new text on a thing, a count, a pose, a move (or a new setting)."""

from __future__ import annotations

import re
from typing import Optional

from chatedit.agent.rules.clauses import (
    noun_phrase,
    target_of,
)
from chatedit.agent.rules.drafts import Draft, background_step
from chatedit.agent.rules.lexicon import (
    PHRASES,
    RE,
    SCENE,
    VERBS,
    head_noun,
    is_background,
    lemma_of,
)

_QUOTED_OR_CAPS = PHRASES["fragments"]["quoted_or_caps"]


_TITLE = PHRASES["fragments"]["title_case"]


_SAYS = re.compile(
    r"^(?:(?:make|have|let|get|change|turn|can|could)\s+)?(?P<np>.+?)\s+(?:to\s+)?"
    r"(?:(?:should|will|would|must|needs?\s+to|has\s+to|ought\s+to)\s+)?"
    r"(?P<say>" + "|".join(sorted(VERBS.say)) + r")\s+(?P<what>\S.*)$",
    re.IGNORECASE,
)


def _written_on(text: str) -> tuple[bool, Optional[str]]:
    """Gives back whether a clause asks for new text, and on what ("make the sign say OPEN" -> sign)."""
    if RE.caption.match(text):
        return True, None
    if re.search(r"\b(?:colou?r|font|size|style)\s+of\b", text, re.IGNORECASE):
        return False, None
    for match in (RE.write_on.match(text), RE.writing_of.search(text), RE.its_text.match(text)):
        if match:
            return True, target_of(noun_phrase(match["np"])[0])
    says = _SAYS.match(text)
    written = re.match(_QUOTED_OR_CAPS + "|" + _TITLE, says["what"]) if says else None
    if says and (says["say"].lower().startswith(("say", "spell")) or written):
        # "correct the misspelled sign so it reads BAKERY": the verb before the sign is no part of it.
        carrier = re.sub(
            r"^[\w'-]+\s+(?=(?:the|this|that|his|her|their|its|my|our|your)\s)", "", says["np"], flags=re.I
        )
        return True, target_of(noun_phrase(carrier)[0])
    return False, None


_NUMBER = PHRASES["fragments"]["number"]


def _is_pose(verb: Optional[str], after: Optional[str]) -> bool:
    """Gives back whether a verb after a person or an animal asks for a new pose ("sit", "look at", "do a split")."""
    word = (verb or "").lower()
    base = word[:-3] if word.endswith("ing") and word[:-3] in VERBS.pose else lemma_of(word)
    if word.endswith("ing") and base not in VERBS.pose:
        base = word[:-4] if word[-4:-3] == word[-5:-4] else word[:-3] + "e"
    following = (after or "").lower().split()[:1]
    if base == "look":
        return following in (["at"], ["up"], ["down"], ["away"], ["back"], ["toward"], ["towards"], ["into"])
    if base == "do":
        return following in (["a"], ["an"])
    if base in ("hold", "shake", "join", "link"):
        # What two people do together: "hold hands", "shake hands".
        return following in (["hands"], ["arms"])
    if base in ("high", "fist"):
        return following in (["five"], ["bump"])
    return base in VERBS.pose


def is_setting(sent: re.Match) -> bool:
    """Gives back whether a subject sent somewhere gets a new setting.

    "into a rainforest", "to Paris", "in front of the Taj Mahal", "in front of a castle" do; "on Bob"
    and "in the middle of the room" (a spot in the setting there is) do not.
    """
    place, where = sent["place"], sent["where"].lower()
    named = bool(re.match(r"^(?:the\s+)?[A-Z]\w", place)) and where != "on"
    if sent["part"] and re.match(r"^the\s", place, re.IGNORECASE) and not named:
        return False
    new = where == "in front of" and RE.counted.match(place)
    return head_noun(noun_phrase(place)[0]) in SCENE.places or is_background(place) or bool(named or new)


def _places_anew(verb: str, after: str, be: bool = False) -> bool:
    """Gives back whether the words after a thing give it a new place: "on the left instead", "sit nearer".

    `be`: "be" came before them ("should be on the other side"). A new setting is no move ("be in a desert").
    """
    said = f"{verb} {after}".strip()
    where = after if lemma_of(verb) in VERBS.stay else said
    sent = RE.sent_to.match(re.sub(r"\s+instead$", "", where, flags=re.IGNORECASE))
    if sent and is_setting(sent):
        return False
    stays = be or lemma_of(verb) in VERBS.stay
    return bool(RE.moved_to.match(said) or RE.moved_to.match(where) or (stays and RE.placed_at.match(where)))


def instruction_kind(said: str, text: str, verb: str, rest: str) -> Optional[list[Draft]]:
    """Gives back the step of a text, count, pose or move edit, or None when the clause is another kind.

    "move the cat to the left" and "put the dog closer to the kid" are moves; a move to a place
    ("move us to the beach") is a new background.
    """
    for candidate in (said, text) if verb not in VERBS.remove else ():
        written, carrier = _written_on(candidate)
        if written:
            return [Draft("text", said, target=carrier, prompt=said)]
    counted = RE.count.search(said) or RE.count.search(text)
    if counted:
        return [Draft("count", said, target=target_of(next(g for g in counted.groups() if g)), prompt=said)]
    for placed in (RE.posed.match(said), RE.posed.match(text)):
        if placed and placed["np"] and _places_anew(placed["verb"], placed["after"], bool(placed["be"])):
            # "the vase should sit nearer the window", "have the cat on the left instead".
            return [Draft("move", said, target=target_of(noun_phrase(placed["np"])[0]), prompt=said)]
    part = RE.body_pose.match(text) or RE.body_pose.match(said)
    if part:
        who = part["owner"] or part["person"]
        return [Draft("pose", said, target=target_of(noun_phrase(who)[0]), prompt=said)]
    posed = RE.posed.match(text) or RE.posed.match(said)
    owned = posed and posed["np"] and posed["np"].lower().endswith(("'s", "’s"))
    if posed and not owned and _is_pose(posed["verb"], posed["after"]):
        return [Draft("pose", said, target=target_of(noun_phrase(posed["np"])[0]), prompt=said)]
    definite = re.match(r"^(?:the|this|that|these|those|his|her|their|its|my|him|them|it|us|me)\b", rest, re.I)
    if verb not in VERBS.move and not (verb in VERBS.carried and definite):
        return None
    phrase, tail = noun_phrase(rest, keep_with=False)
    tail = re.sub(r"^(?:in|at|on)\s+the\s+(?:back|front|middle|corner)\s+(?=to\b)", "", tail, flags=re.IGNORECASE)
    sent = RE.sent_to.match(tail)
    if sent and is_setting(sent):
        return background_step(said, sent["place"], keep=None if phrase.lower() in ("us", "me") else target_of(phrase))
    direction = RE.move_to.search(rest)
    if verb not in VERBS.move and not direction and not RE.moved_to.match(tail):
        return None
    if direction:
        phrase = noun_phrase(re.sub(r"\s+(?:a\s+)?(?:bit|little|tad)$", "", rest[: direction.start()]))[0]
    phrase = re.sub(r"(?:\s+(?:left|right|up|down|away|back|forward|over|a bit|a little))+$", "", phrase)
    return [Draft("move", said, target=target_of(phrase), prompt=said)]

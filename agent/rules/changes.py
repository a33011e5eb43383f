"""What a thing becomes: "turn the cat into a dog", "change the colour of the car to red", "make her wave"."""

from __future__ import annotations

import re
from typing import Optional

from chatedit.agent.plan import Category
from chatedit.agent.rules.clauses import (
    noun_phrase,
    target_of,
)
from chatedit.agent.rules.drafts import Draft, background_step, global_step, local_step, replace_step
from chatedit.agent.rules.kinds import is_setting
from chatedit.agent.rules.lexicon import (
    ASPECTS,
    CLAUSE_VERBS,
    GRAMMAR,
    LOOKS,
    RE,
    SCENE,
    VERBS,
    head_noun,
    ing_form,
    is_attribute,
    is_background,
    is_global_look,
    is_image,
    is_look_word,
    is_plural,
    is_style_or_time,
    lemma_of,
    mentions,
    strip_determiners,
    words_of,
)


def swapped(rest: str, verb: str) -> list[tuple[str, str]]:
    """Gives back the (old, new) pairs of "X with Y", "Y for X" (after "substitute"), "A with B and C with D"."""
    match = RE.swap.match(rest)
    if not match:
        alone = re.match(r"^with\s+(?P<new>.+)$", rest, re.IGNORECASE)
        return [("it", alone["new"])] if alone else []
    if verb == "substitute" and re.search(r"\s+for\s+", rest) and not re.search(r"\s+with\s+", rest):
        return [(match["new"], match["old"])]
    pairs = RE.swap_pairs.match(match["new"])
    if pairs:
        return [(match["old"], pairs["new"]), (pairs["old2"], pairs["new2"])]
    return [(match["old"], match["new"])]


def split_destination(rest: str) -> Optional[tuple[str, str]]:
    """Gives back (what changes, what it becomes) from "the car to a truck", "it into a painting"."""
    text = " " + rest
    for match in RE.destination.finditer(text):
        old, new = text[: match.start()].strip(), text[match.end() :].strip()
        if not new or (match.group(0).strip().lower() in ("by", "for") and not old):
            continue
        return old, RE.purpose.sub("", new).strip()
    return None


_ATTRIBUTE_ALTERNATIVES = "|".join(sorted(LOOKS.attribute_nouns, key=len, reverse=True))


_ATTRIBUTE_OF = re.compile(
    r"^(?:the\s+)?(?P<attr>(?:[\w-]+\s+){0,2}?(?:" + _ATTRIBUTE_ALTERNATIVES + r"))\s+(?:of|on|in)\s+(?P<np>.+)$",
    re.IGNORECASE,
)


_POSSESSED_ATTRIBUTE = re.compile(
    r"^(?P<np>.+?)(?:'s|s')\s+(?:new\s+)?(?P<attr>(?:[\w-]+\s+){0,1}?(?:" + _ATTRIBUTE_ALTERNATIVES + r"))$",
    re.IGNORECASE,
)


def transform(instruction: str, old_text: str, new_text: str) -> list[Draft]:
    """Decides what "X becomes Y" means: a new object, a new look, a new background or a new picture."""
    new = re.sub(r"\s+(?:instead|please|now)$", "", new_text.strip(" ,."), flags=re.IGNORECASE)
    new = re.sub(r"^(?:look|looking|appear)\s+(?:like\s+)?", "", new, flags=re.IGNORECASE)
    new = RE.it_is.sub("", new).strip()
    attribute = _ATTRIBUTE_OF.match(old_text.strip()) or _POSSESSED_ATTRIBUTE.match(old_text.strip())
    if attribute and head_noun(attribute["attr"]) in ("style", "look", "appearance") and is_image(attribute["np"]):
        return global_step(instruction)
    if attribute:
        kind, thing = head_noun(attribute["attr"]), noun_phrase(attribute["np"])[0]
        other = _other_kind(instruction, kind, thing, new)
        if other is not None:
            return other
    if attribute and head_noun(attribute["attr"]) not in SCENE.background_words:
        return local_step(instruction, noun_phrase(attribute["np"])[0], _attribute_look(attribute["attr"], new))
    old_words = [w for w in words_of(old_text) if w not in GRAMMAR.articles]
    if " ".join(old_words) in ASPECTS or (
        len(old_words) == 1 and old_words[0] in SCENE.times | SCENE.seasons | SCENE.weather | {"day"}
    ):
        return global_step(instruction)
    old, where = noun_phrase(old_text)
    whole = not old or (is_image(old) and not is_hung(old, where))
    if whole and is_style_or_time(new):
        return global_step(instruction)
    placed = re.match(r"^(?:in|at|on|inside)\s+(?P<place>.+)$", new, re.IGNORECASE)
    if placed:
        return background_step(instruction, placed["place"], keep=None if whole else target_of(old))
    if is_background(new) or (head_noun(old) in SCENE.surfaces and not is_attribute(new)):
        return background_step(instruction, new)
    if whole:
        if head_noun(noun_phrase(new)[0]) in SCENE.places and not is_global_look(new):
            return background_step(instruction, new)
        if old.lower() in ("it", "them", "this", "that") and not is_global_look(new):
            return _new_look_or_object(instruction, old, new)
        return global_step(instruction)
    if is_background(old):
        subject = RE.background_of.match(old_text.strip())
        keep = target_of(noun_phrase(subject["np"])[0]) if subject and not is_image(subject["np"]) else None
        return background_step(instruction, new, keep=keep)
    new_head = head_noun(noun_phrase(new)[0])
    if head_noun(old) in SCENE.places and new_head in SCENE.places and new_head != head_noun(old):
        # "change the lake to a desert": one setting for another.
        return background_step(instruction, new)
    return _new_look_or_object(instruction, old, new)


def is_hung(phrase: str, tail: str) -> bool:
    """Gives back whether a word for the picture is a picture in it, by where it is: "the photo on the wall"."""
    return head_noun(phrase) in SCENE.picture_things and bool(RE.hung.match(tail))


def _other_kind(instruction: str, kind: str, thing: str, new: str) -> Optional[list[Draft]]:
    """Gives back the step of an attribute that is another kind of edit, or None for a look.

    The position of the lamp is a move (a new background for a place), the number of the cups a count
    (of the bus, its text), the expression of the boy a pose.
    """
    category: Optional[Category] = None
    if kind in LOOKS.place_nouns:
        sent = RE.sent_to.match(new if RE.sent_to.match(new) else f"to {new}")
        if sent and is_setting(sent) and not is_image(thing):
            return background_step(instruction, new, keep=target_of(thing))
        category = "move"
    elif kind in LOOKS.count_nouns:
        category = "count" if is_plural(thing) or head_noun(thing) in GRAMMAR.mass_nouns else "text"
    elif kind in LOOKS.text_nouns:
        category = "text"
    elif kind in LOOKS.pose_nouns:
        category = "pose"
    return [Draft(category, instruction, target=target_of(thing), prompt=instruction)] if category else None


def _new_look_or_object(instruction: str, old: str, new: str) -> list[Draft]:
    """Gives back a local step when Y says how X looks ("a wooden one", "red"), else a replace."""
    one = re.match(r"^(?:a|an|the)?\s*(?P<look>.+?)\s+ones?$", new, re.IGNORECASE)
    if one:
        return local_step(instruction, old, one["look"] + " {}")
    hue = RE.named_hue.match(new)
    if hue and is_attribute(hue["look"]):
        return local_step(instruction, old, hue["look"] + " {}")
    words = words_of(new)
    adjective = len(words) == 1 and words[0].endswith(tuple(GRAMMAR.adjective_endings)) and not is_plural(new)
    if is_attribute(new) or adjective:
        look = re.sub(r"^(?:in|a|an)\s+|\s+(?:in\s+)?(?:colou?r|colou?red|hue)$", "", new, flags=re.IGNORECASE)
        return local_step(instruction, old, look + " {}")
    if len(words) == 1 and words[0] in LOOKS.materials:
        return local_step(instruction, old, new + " {}")
    made_of = re.match(r"^(?:made\s+(?:of|out\s+of|from)|of|out\s+of)\s+(?P<stuff>.+)$", new, re.IGNORECASE)
    if made_of:
        return local_step(instruction, old, "{} made of " + made_of["stuff"])
    if head_noun(new) in SCENE.times | SCENE.seasons | SCENE.weather or (
        is_global_look(new)
        and not re.match(r"^(?:a|an)\s", new, re.IGNORECASE)
        and (is_style_or_time(new) or mentions(new, SCENE.weather))
    ):
        # "change the sky to a starry night": the sky, at night.
        return local_step(instruction, old, strip_determiners(new) + " {}")
    return replace_step(instruction, old, new)


def _attribute_look(attribute: str, value: str) -> str:
    """Gives back the look template for "the <attribute> of X to <value>" ("colour", "red" -> "red {}")."""
    value = value.strip(" .").replace("{", "").replace("}", "")
    kind = head_noun(attribute)
    if kind in LOOKS.text_nouns or re.fullmatch(r"[\"'][^\"']+[\"']", value):
        text = re.sub(r"^(?:the\s+)?(?:text|word|words|number|letters?)\s+", "", value, flags=re.IGNORECASE)
        return '{} with the text "' + text.strip("\"' ") + '"'
    if kind in LOOKS.colour_attributes or is_attribute(value):
        value = re.sub(r"\s+(?:colou?r|colou?red|hue)$", "", value, flags=re.IGNORECASE)
        words = attribute.lower().split()
        if len(words) > 1 and words[-1] in ("color", "colour") and words[0] not in GRAMMAR.determiners:
            return "{} with " + value + " " + " ".join(words[:-1])
        if len(words_of(value)) <= 3:
            return value + " {}"
        return "{} made of " + value if kind == "material" else "{} in " + value
    if kind in ("pose", "posture", "expression"):
        return "{} " + value
    plain = kind in ("content", "contents", "screen", "display") or kind in words_of(value)
    return "{} with " + value + ("" if plain else " " + kind)


def action(instruction: str, rest: str, anywhere: bool = False) -> list[Draft]:
    """Frames "the man smile", "her wearing a hat", "the dog be a wolf" (after make, have, let).

    Args:
        anywhere: take any word after the noun phrase as the action (after "have" and "let", whose
            object is always followed by a verb), not only the known ones.
    """
    words = rest.split()
    low = [w.lower() for w in words]
    her_does = (
        len(low) > 1
        and low[0] == "her"
        and (lemma_of(low[1]) in VERBS.actions | CLAUSE_VERBS or low[1].endswith("ing"))
    )
    determined = low and (low[0] in GRAMMAR.articles | GRAMMAR.numbers | {"his", "her", "its", "this", "that"})
    start = 1 if determined and len(low) > 2 and not her_does else 0
    for i in range(start + 1, len(words)):
        word = low[i]
        base = lemma_of(word)
        if low[i - 1].endswith(("'s", "’s")):
            # After an owner comes what is owned: "the girl's dress" is a noun, not a verb.
            continue
        if word.endswith("ing") and base == word:
            doubled = word[-4:-3] == word[-5:-4] and word[:-4] in VERBS.actions
            base = word[:-3] if word[:-3] in VERBS.actions else word[:-4] if doubled else word[:-3] + "e"
        looking = (
            word == "look"
            and i + 1 < len(low)
            and low[i + 1] in ("at", "up", "down", "away", "toward", "towards", "into")
        )
        if word in ("of", "with", "on", "in", "at", "from", "and") or is_look_word(word):
            if anywhere:
                return []
            continue
        known = base in VERBS.actions or looking
        if not known and not (anywhere and i == start + 1 and word not in GRAMMAR.determiners):
            continue
        subject, what = " ".join(words[:i]), " ".join(words[i + 1 :])
        if is_image(subject) and subject.lower() not in ("it", "them", "this", "that"):
            return []
        if base == "be":
            return transform(instruction, subject, what)
        verb = base if base in VERBS.actions else word
        if verb in VERBS.pose or looking:
            return [Draft("pose", instruction, target=target_of(noun_phrase(subject)[0]), prompt=instruction)]
        return local_step(instruction, noun_phrase(subject)[0], ("{} " + ing_form(verb) + " " + what).strip())
    return []

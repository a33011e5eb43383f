"""Steps from clauses: one frame per kind of verb, the table that picks it, and the instruction-editor kinds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from chatedit.agent.plan import Category, Step
from chatedit.agent.rules.clauses import (
    _CLAUSE_SIGNAL,
    _imperative,
    _noun_phrase,
    _relation,
    _several_looks,
    _split_list,
    _split_look,
    _starts_clause,
    _starts_with_verb,
    _target,
)
from chatedit.agent.rules.lexicon import (
    _ASPECTS,
    _BINOMIALS,
    _CLAUSE_VERBS,
    _GLOBAL_VERBS,
    _GRAMMAR,
    _IMAGE_NOUN,
    _LOOKS,
    _PERSON_PRONOUNS,
    _PHRASES,
    _RE,
    _REMOVAL_PARTICLES,
    _SCENE,
    _STATE_OF,
    _VERBS,
    _describe,
    _head,
    _indefinite,
    _ing,
    _is_a_look,
    _is_attribute,
    _is_background,
    _is_global_look,
    _is_image,
    _is_look_word,
    _is_plural,
    _is_pronoun,
    _is_style_or_time,
    _is_weather_thing,
    _lemma,
    _mentions,
    _past,
    _strip_determiners,
    _words,
)
from chatedit.tools.removal import REMOVE_PROMPT

# Steps.


@dataclass
class _Draft:
    """A step being built: a Step's fields, plus what ties it to the step before."""

    category: Category
    instruction: str
    target: Optional[str] = None
    prompt: Optional[str] = None
    look: Optional[str] = None
    """local: how the target should look, a template with {} for the target ("red {}")."""
    anchor: Optional[str] = None
    relation: Optional[str] = None
    in_place: bool = False
    """add: "... where it was", "instead": the new object goes where the previous step's object was."""

    def step(self) -> Step:
        # "him" and "her" with nothing before them in the turn: a person the detector can find.
        target = _PERSON_PRONOUNS.get(self.target or "", self.target)
        anchor = _PERSON_PRONOUNS.get(self.anchor or "", self.anchor)
        prompt = self.prompt
        if self.category == "local" and self.look:
            prompt = (
                _describe(target, self.look).strip()
                if target is not None and target not in ("it", "them")
                else self.look.format("").strip()
            )
        return Step(
            category=self.category,
            target=target,
            prompt=prompt or self.instruction,
            instruction=self.instruction,
            anchor=anchor if self.category == "add" else None,
            relation=self.relation if self.category == "add" else None,
        )


def _global(instruction: str) -> list[_Draft]:
    return [_Draft("global", instruction)]


def _local(instruction: str, target: str, look: str) -> list[_Draft]:
    return [_Draft("local", instruction, target=_target(target), look=look)]


def _background(instruction: str, new: str, keep: Optional[str] = None) -> list[_Draft]:
    return [_Draft("background", instruction, target=keep, prompt=_strip_determiners(new, keep_numbers=True))]


def _replace(instruction: str, old: str, new: str) -> list[_Draft]:
    return [_Draft("replace", instruction, target=_target(old), prompt=_indefinite(_strip_determiners(new, True)))]


# Frames: one per kind of verb. Each gives back the steps of its clause.


def _remove(instruction: str, rest: str, verb: str = "remove") -> list[_Draft]:
    """Frames "remove X (from Y)": objects, or weather and lighting ("remove the rain" is global).

    "reveal the hidden details" and "unveil the sky" clear the picture rather than remove a thing.
    """
    if verb in _VERBS.reveal and (
        _mentions(rest, _SCENE.weather | _SCENE.lighting | _SCENE.revealed) or _is_image(_noun_phrase(rest)[0])
    ):
        return _global(instruction)
    rest = re.sub(r"^(?:(?:the|this|my)\s+" + _IMAGE_NOUN + r"|it)\s+(?:of|from)\s+", "", rest, flags=re.IGNORECASE)
    rest = _RE.removed_particle.sub("", rest)
    rest = re.sub(r"^(?:all\s+)?traces\s+of\s+", "", rest, flags=re.IGNORECASE)
    phrase, tail = _noun_phrase(rest)
    if _is_pronoun(phrase):
        return [_Draft("remove", instruction, target=_target(phrase), prompt=REMOVE_PROMPT)]
    if phrase.lower() in ("everything", "all", "anything") and _RE.removed_from.match(tail):
        # "clear everything off the desk": the things on it.
        phrase = "objects " + tail
    # "remove the photo (from the wall)" names a thing in the picture: the picture cannot leave itself.
    pictured = phrase.lower() in _SCENE.picture_things
    if not phrase or (_is_image(phrase) and not pictured):
        return _global(instruction) if _is_global_look(instruction) else []
    if _is_weather_thing(phrase):
        return _global(instruction)
    if _is_background(phrase):
        return [_Draft("background", instruction, prompt="plain white background")]
    # What the object sat on is what the inpainter should paint: "from the table" -> "empty table".
    surface = _RE.removed_from.match(tail)
    surface = _noun_phrase(surface["np"])[0] if surface else ""
    prompt = f"empty {surface}, {REMOVE_PROMPT}" if surface and not _is_image(surface) else REMOVE_PROMPT
    return [_Draft("remove", instruction, target=_target(item), prompt=prompt) for item in _split_list(phrase)]


def _add(instruction: str, rest: str, verb: str = "add") -> list[_Draft]:
    """Frames "add X (on Y)": a new object and where it goes; also a moved subject or a new look.

    "decorate the cake with berries" gives the cake a look, "grace the grass with cows" adds cows
    there; "create an image with the fluidity of watercolour" describes the picture.
    """
    decorated = re.match(r"^(?P<np>.+?)\s+(?:with|in)\s+(?P<what>.+)$", rest, re.IGNORECASE)
    whole = _is_image(_noun_phrase(rest)[0]) or (decorated and _is_image(decorated["np"]))
    if verb in _VERBS.decorate and decorated and not whole:
        what = decorated["what"]
        if _is_attribute(re.sub(r"\s+(?:hue|colou?r|shade|tint|tone|pigment)$", "", re.sub(r"^(?:a|an)\s+", "", what))):
            return _colour(instruction, rest, "colour")
        if verb not in ("grace", "adorn", "populate", "enrich", "enliven") or not (
            _RE.counted.match(what) or _RE.abstract_of.match(what)
        ):
            return _local(instruction, _noun_phrase(decorated["np"])[0], "{} with " + _strip_determiners(what, True))
        rest = f"{what} on {decorated['np']}"
    made = _noun_phrase(rest, keep_with=False)[0]
    if verb in _VERBS.create and (_is_image(made) or _head(made) in _SCENE.abstract_heads or _is_a_look(made)):
        return _global(instruction) if _is_global_look(rest) else []
    rest = re.sub(r"^(?:in|up|on|down)\s+(?=(?:a|an|some|two|three|the)\b)", "", rest, flags=re.IGNORECASE)
    parts = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+(?=(?:a|an|some|another|one|two|three|four|five)\s)", rest)
    if len(parts) > 1 and sum(_relation(part)[0] is not None for part in parts) > 1:
        # "a cat on the sofa and a dog on the rug": each object has its own place.
        return [draft for part in parts for draft in _add(instruction, part)]
    in_place = bool(_RE.where_it_was.search(rest))
    rest = _RE.where_it_was.sub("", rest)
    instead = _RE.instead_of.search(rest)
    if instead:
        new, old = _noun_phrase(rest[: instead.start()])[0], _noun_phrase(instead["old"])[0]
        return _replace(instruction, old, new)
    into_image = _RE.into_image.match(rest)
    rest = _RE.abstract_of.sub("", _RE.purpose_tail.sub("", into_image["rest"] if into_image else rest))
    relation, anchor, new = _relation(rest)
    new = _RE.placed_how.sub("", new)
    if _is_attribute(new) and anchor and not re.match(r"^(?:a|an|the|this|that)\s", new, re.IGNORECASE):
        # "add more blue to the lake", "add some snow on the roof": the anchor gets a new look.
        scale = _LOOKS.colours | _LOOKS.shades | {"more", "less", "some", "a", "bit", "little"}
        colours = all(w in scale for w in _words(new))
        return _local(
            instruction, anchor, _strip_determiners(new) + " {}" if colours else "{} with " + _strip_determiners(new)
        )
    if _is_a_look(re.sub(r"^(?:the|this|that)\s+", "", new.strip(), flags=re.IGNORECASE)):
        if anchor and not _is_image(anchor) and not _is_background(anchor):
            return _local(instruction, anchor, "{} with " + _strip_determiners(_noun_phrase(new, keep_with=False)[0]))
        return _global(instruction)
    if not new or (_is_image(new) and not _RE.counted.match(new)):
        return []
    landmark = _head(new) in _SCENE.places or re.match(r"^the\s+[A-Z]", new)
    if _is_background(new) or (landmark and relation in ("behind", "around", "near")):
        return _background(instruction, new, keep=anchor if relation in ("behind", "around", "near") else None)
    if anchor and _head(new) in _LOOKS.pattern_nouns:
        return _local(instruction, anchor, "{} with " + _strip_determiners(new))
    return [
        _Draft("add", instruction, prompt=_indefinite(item), anchor=anchor, relation=relation, in_place=in_place)
        for item in _split_list(new)
    ]


def _change(instruction: str, rest: str, verb: str) -> list[_Draft]:
    """Frames "change X to Y", "turn X into Y", "replace X with Y" and their kin.

    With no "to": "turn the car red" is a look, "change the background" a new one, "transform it"
    the picture; "replace the cat" a new cat.
    """
    rest = re.sub(r"^(?:out|up|around)\s+", "", rest, flags=re.IGNORECASE)
    if verb in _VERBS.swap:
        pairs = _swapped(re.sub(r"^out\s+", "", rest, flags=re.IGNORECASE), verb)
        return [draft for old, new in pairs for draft in _transform(instruction, old, new)] or _renewed(
            instruction, rest, "replace"
        )
    if verb in ("render", "transport", "project") and _is_global_look(rest):
        return _global(instruction)
    split = _split_destination(rest)
    if split:
        return _transform(instruction, *split)
    if _split_look(rest):
        return _make(instruction, rest)
    return _renewed(instruction, rest, "change")


def _renewed(instruction: str, rest: str, verb: str) -> list[_Draft]:
    """Gives back the steps of "replace the cat" (a new cat) or "change the car" (a new look) with nothing new named."""
    phrase, _ = _noun_phrase(rest)
    if _is_background(phrase):
        return [_Draft("background", instruction, prompt="a new background")]
    if verb == "replace":
        return _replace(instruction, phrase, phrase) if phrase else []
    if not phrase or _is_image(phrase):
        return _global(instruction)
    if _is_weather_thing(phrase) or (_is_global_look(phrase) and not re.match(r"^(?:a|an|the)\s", rest, re.I)):
        return _global(instruction)
    return _local(instruction, phrase, "new {}")


def _swapped(rest: str, verb: str) -> list[tuple[str, str]]:
    """Gives back the (old, new) pairs of "X with Y", "Y for X" (after "substitute"), "A with B and C with D"."""
    match = _RE.swap.match(rest)
    if not match:
        alone = re.match(r"^with\s+(?P<new>.+)$", rest, re.IGNORECASE)
        return [("it", alone["new"])] if alone else []
    if verb == "substitute" and re.search(r"\s+for\s+", rest) and not re.search(r"\s+with\s+", rest):
        return [(match["new"], match["old"])]
    pairs = _RE.swap_pairs.match(match["new"])
    if pairs:
        return [(match["old"], pairs["new"]), (pairs["old2"], pairs["new2"])]
    return [(match["old"], match["new"])]


def _split_destination(rest: str) -> Optional[tuple[str, str]]:
    """Gives back (what changes, what it becomes) from "the car to a truck", "it into a painting"."""
    text = " " + rest
    for match in _RE.destination.finditer(text):
        old, new = text[: match.start()].strip(), text[match.end() :].strip()
        if not new or (match.group(0).strip().lower() in ("by", "for") and not old):
            continue
        return old, _RE.purpose.sub("", new).strip()
    return None


_ATTRIBUTE_ALTERNATIVES = "|".join(sorted(_LOOKS.attribute_nouns, key=len, reverse=True))
_ATTRIBUTE_OF = re.compile(
    r"^(?:the\s+)?(?P<attr>(?:[\w-]+\s+){0,2}?(?:" + _ATTRIBUTE_ALTERNATIVES + r"))\s+(?:of|on|in)\s+(?P<np>.+)$",
    re.IGNORECASE,
)
_POSSESSED_ATTRIBUTE = re.compile(
    r"^(?P<np>.+?)(?:'s|s')\s+(?:new\s+)?(?P<attr>(?:[\w-]+\s+){0,1}?(?:" + _ATTRIBUTE_ALTERNATIVES + r"))$",
    re.IGNORECASE,
)


def _transform(instruction: str, old_text: str, new_text: str) -> list[_Draft]:
    """Decides what "X becomes Y" means: a new object, a new look, a new background or a new picture."""
    new = re.sub(r"\s+(?:instead|please|now)$", "", new_text.strip(" ,."), flags=re.IGNORECASE)
    new = re.sub(r"^(?:look|looking|appear)\s+(?:like\s+)?", "", new, flags=re.IGNORECASE)
    new = _RE.it_is.sub("", new).strip()
    attribute = _ATTRIBUTE_OF.match(old_text.strip()) or _POSSESSED_ATTRIBUTE.match(old_text.strip())
    if attribute and _head(attribute["attr"]) in ("style", "look", "appearance") and _is_image(attribute["np"]):
        return _global(instruction)
    if attribute:
        kind, thing = _head(attribute["attr"]), _noun_phrase(attribute["np"])[0]
        other = _other_kind(instruction, kind, thing, new)
        if other is not None:
            return other
    if attribute and _head(attribute["attr"]) not in _SCENE.background_words:
        return _local(instruction, _noun_phrase(attribute["np"])[0], _attribute_look(attribute["attr"], new))
    old_words = [w for w in _words(old_text) if w not in _GRAMMAR.articles]
    if " ".join(old_words) in _ASPECTS or (
        len(old_words) == 1 and old_words[0] in _SCENE.times | _SCENE.seasons | _SCENE.weather | {"day"}
    ):
        return _global(instruction)
    old, where = _noun_phrase(old_text)
    whole = not old or (_is_image(old) and not _is_hung(old, where))
    if whole and _is_style_or_time(new):
        return _global(instruction)
    placed = re.match(r"^(?:in|at|on|inside)\s+(?P<place>.+)$", new, re.IGNORECASE)
    if placed:
        return _background(instruction, placed["place"], keep=None if whole else _target(old))
    if _is_background(new) or (_head(old) in _SCENE.surfaces and not _is_attribute(new)):
        return _background(instruction, new)
    if whole:
        if _head(_noun_phrase(new)[0]) in _SCENE.places and not _is_global_look(new):
            return _background(instruction, new)
        if old.lower() in ("it", "them", "this", "that") and not _is_global_look(new):
            return _new_look_or_object(instruction, old, new)
        return _global(instruction)
    if _is_background(old):
        subject = _RE.background_of.match(old_text.strip())
        keep = _target(_noun_phrase(subject["np"])[0]) if subject and not _is_image(subject["np"]) else None
        return _background(instruction, new, keep=keep)
    new_head = _head(_noun_phrase(new)[0])
    if _head(old) in _SCENE.places and new_head in _SCENE.places and new_head != _head(old):
        # "change the lake to a desert": one setting for another.
        return _background(instruction, new)
    return _new_look_or_object(instruction, old, new)


def _is_hung(phrase: str, tail: str) -> bool:
    """Gives back whether a word for the picture is a picture in it, by where it is: "the photo on the wall"."""
    return _head(phrase) in _SCENE.picture_things and bool(_RE.hung.match(tail))


def _other_kind(instruction: str, kind: str, thing: str, new: str) -> Optional[list[_Draft]]:
    """Gives back the step of an attribute that is another kind of edit, or None for a look.

    The position of the lamp is a move (a new background for a place), the number of the cups a count
    (of the bus, its text), the expression of the boy a pose.
    """
    category: Optional[Category] = None
    if kind in _LOOKS.place_nouns:
        sent = _RE.sent_to.match(new if _RE.sent_to.match(new) else f"to {new}")
        if sent and _is_setting(sent) and not _is_image(thing):
            return _background(instruction, new, keep=_target(thing))
        category = "move"
    elif kind in _LOOKS.count_nouns:
        category = "count" if _is_plural(thing) or _head(thing) in _GRAMMAR.mass_nouns else "text"
    elif kind in _LOOKS.text_nouns:
        category = "text"
    elif kind in _LOOKS.pose_nouns:
        category = "pose"
    return [_Draft(category, instruction, target=_target(thing), prompt=instruction)] if category else None


def _new_look_or_object(instruction: str, old: str, new: str) -> list[_Draft]:
    """Gives back a local step when Y says how X looks ("a wooden one", "red"), else a replace."""
    one = re.match(r"^(?:a|an|the)?\s*(?P<look>.+?)\s+ones?$", new, re.IGNORECASE)
    if one:
        return _local(instruction, old, one["look"] + " {}")
    hue = _RE.named_hue.match(new)
    if hue and _is_attribute(hue["look"]):
        return _local(instruction, old, hue["look"] + " {}")
    words = _words(new)
    adjective = len(words) == 1 and words[0].endswith(tuple(_GRAMMAR.adjective_endings)) and not _is_plural(new)
    if _is_attribute(new) or adjective:
        look = re.sub(r"^(?:in|a|an)\s+|\s+(?:in\s+)?(?:colou?r|colou?red|hue)$", "", new, flags=re.IGNORECASE)
        return _local(instruction, old, look + " {}")
    if len(words) == 1 and words[0] in _LOOKS.materials:
        return _local(instruction, old, new + " {}")
    made_of = re.match(r"^(?:made\s+(?:of|out\s+of|from)|of|out\s+of)\s+(?P<stuff>.+)$", new, re.IGNORECASE)
    if made_of:
        return _local(instruction, old, "{} made of " + made_of["stuff"])
    if _head(new) in _SCENE.times | _SCENE.seasons | _SCENE.weather or (
        _is_global_look(new)
        and not re.match(r"^(?:a|an)\s", new, re.IGNORECASE)
        and (_is_style_or_time(new) or _mentions(new, _SCENE.weather))
    ):
        # "change the sky to a starry night": the sky, at night.
        return _local(instruction, old, _strip_determiners(new) + " {}")
    return _replace(instruction, old, new)


def _attribute_look(attribute: str, value: str) -> str:
    """Gives back the look template for "the <attribute> of X to <value>" ("colour", "red" -> "red {}")."""
    value = value.strip(" .").replace("{", "").replace("}", "")
    kind = _head(attribute)
    if kind in _LOOKS.text_nouns or re.fullmatch(r"[\"'][^\"']+[\"']", value):
        text = re.sub(r"^(?:the\s+)?(?:text|word|words|number|letters?)\s+", "", value, flags=re.IGNORECASE)
        return '{} with the text "' + text.strip("\"' ") + '"'
    if kind in _LOOKS.colour_attributes or _is_attribute(value):
        value = re.sub(r"\s+(?:colou?r|colou?red|hue)$", "", value, flags=re.IGNORECASE)
        words = attribute.lower().split()
        if len(words) > 1 and words[-1] in ("color", "colour") and words[0] not in _GRAMMAR.determiners:
            return "{} with " + value + " " + " ".join(words[:-1])
        if len(_words(value)) <= 3:
            return value + " {}"
        return "{} made of " + value if kind == "material" else "{} in " + value
    if kind in ("pose", "posture", "expression"):
        return "{} " + value
    plain = kind in ("content", "contents", "screen", "display") or kind in _words(value)
    return "{} with " + value + ("" if plain else " " + kind)


def _action(instruction: str, rest: str, anywhere: bool = False) -> list[_Draft]:
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
        and (_lemma(low[1]) in _VERBS.actions | _CLAUSE_VERBS or low[1].endswith("ing"))
    )
    determined = low and (low[0] in _GRAMMAR.articles | _GRAMMAR.numbers | {"his", "her", "its", "this", "that"})
    start = 1 if determined and len(low) > 2 and not her_does else 0
    for i in range(start + 1, len(words)):
        word = low[i]
        base = _lemma(word)
        if low[i - 1].endswith(("'s", "’s")):
            # After an owner comes what is owned: "the girl's dress" is a noun, not a verb.
            continue
        if word.endswith("ing") and base == word:
            doubled = word[-4:-3] == word[-5:-4] and word[:-4] in _VERBS.actions
            base = word[:-3] if word[:-3] in _VERBS.actions else word[:-4] if doubled else word[:-3] + "e"
        looking = (
            word == "look"
            and i + 1 < len(low)
            and low[i + 1] in ("at", "up", "down", "away", "toward", "towards", "into")
        )
        if word in ("of", "with", "on", "in", "at", "from", "and") or _is_look_word(word):
            if anywhere:
                return []
            continue
        known = base in _VERBS.actions or looking
        if not known and not (anywhere and i == start + 1 and word not in _GRAMMAR.determiners):
            continue
        subject, what = " ".join(words[:i]), " ".join(words[i + 1 :])
        if _is_image(subject) and subject.lower() not in ("it", "them", "this", "that"):
            return []
        if base == "be":
            return _transform(instruction, subject, what)
        verb = base if base in _VERBS.actions else word
        if verb in _VERBS.pose or looking:
            return [_Draft("pose", instruction, target=_target(_noun_phrase(subject)[0]), prompt=instruction)]
        return _local(instruction, _noun_phrase(subject)[0], ("{} " + _ing(verb) + " " + what).strip())
    return []


def _make(instruction: str, rest: str, verb: str = "make") -> list[_Draft]:
    """Frames "make X Y": a new look (local), a new object (replace), the picture (global), or removal.

    "have", "let" and "get" also say what X does: "have the dog wear a hat", "let a dog join the
    scene", "have the man turn into a statue".
    """
    if verb != "make":
        if re.match(r"^(?:a|an|some|two|three|four|five)\s", rest, re.IGNORECASE):
            return _add(instruction, _RE.joins.sub(" in", rest, count=1))
        becomes = _RE.turns_into.match(rest)
        if becomes:
            return _transform(instruction, becomes["np"], becomes["new"])
        return _make(instruction, rest) or _action(instruction, rest, anywhere=True)
    rest = re.sub(r"\s+instead$", "", rest.strip(), flags=re.IGNORECASE)
    # "the whole photo done in crayon" is the photo in crayon.
    made = r"\s+(?:" + "|".join(_GRAMMAR.made_as) + r")\s+(?=(?:in|as|like)\s)"
    rest = re.sub(made, " ", rest, count=1, flags=re.IGNORECASE)
    gone = _RE.gone_look.match(rest)
    if gone and not _is_image(gone["np"]):
        return _remove(instruction, gone["np"])
    if re.search(r"\s(?:in\s*to|into|look\s+like|looks\s+like|to\s+look)\s", f" {rest} ", re.IGNORECASE):
        into = _split_destination(rest)
        if into:
            return _transform(instruction, *into)
    acted = _action(instruction, rest)
    if acted:
        return acted
    several = _several_looks(rest)
    if several:
        return [draft for part in several for draft in _make(instruction, part)]
    look = _split_look(rest)
    if look is None:
        becomes = _RE.becomes.match(rest)
        if becomes:
            # "make the man a chef".
            return _transform(instruction, becomes["np"], becomes["new"])
        if _is_global_look(rest):
            return _global(instruction)
        # "make the ladies robots", "make the lake radioactive": the last word is what it becomes.
        words = rest.split()
        if len(words) < 2 or words[-1].lower() in _GRAMMAR.not_a_look:
            return []
        subject = [w for w in _words(" ".join(words[:-1])) if w not in _GRAMMAR.articles]
        if not subject:
            return []
        look = (" ".join(words[:-1]), words[-1])
    old, new = look
    new = re.sub(r"^(?:look|looks|appear|seem)\s+(?:like\s+)?", "", new, flags=re.IGNORECASE)
    new = re.sub(r"^(?:it|they|he|she)\s*(?:is|are|was|were|'s|'re)\s+", "", new, flags=re.IGNORECASE)
    if _is_image(old):
        if _is_background(new) or (_head(new) in _SCENE.places and not _is_global_look(new)):
            return _background(instruction, new)
        if old.lower() in _GRAMMAR.object_pronouns - {"everything"} and _is_attribute(new) and not _is_global_look(new):
            return _local(instruction, old, new + " {}")
        return _global(instruction)
    if _is_background(old):
        return _background(instruction, _strip_determiners(new) + (" background" if _is_attribute(new) else ""))
    words = _words(old)
    picture_wide = _SCENE.global_heads | _SCENE.lighting - {"light"} | _SCENE.times | _SCENE.seasons | _SCENE.weather
    if words and words[-1] in picture_wide and len(words) <= 2:
        return _global(instruction)
    describes = (
        _is_attribute(new)
        or _is_global_look(new)
        or _RE.degree.match(new)
        or (len(_words(new)) == 1 and _words(new)[0].endswith(tuple(_GRAMMAR.adjective_endings)))
    )
    named = re.search(r"\b(?:hue|colou?r|shade|tint|tone|look)$", new, re.IGNORECASE)
    if not describes or (re.match(r"^(?:a|an)\s", new, re.IGNORECASE) and not named):
        return _transform(instruction, old, new)
    look_text = re.sub(r"\s+(?:in\s+)?(?:colou?r|colou?red|hue)$", "", new, flags=re.IGNORECASE)
    look_text = re.sub(r"^(?:a|an)\s+(.+?)\s+(?:hue|colou?r|shade|tint|tone)$", r"\1", look_text, flags=re.IGNORECASE)
    look_text = re.sub(r"^in\s+", "", look_text, flags=re.IGNORECASE)
    phrase, _ = _noun_phrase(old)
    return [draft for item in _split_list(phrase or old) for draft in _local(instruction, item, look_text + " {}")]


def _colour(instruction: str, rest: str, verb: str) -> list[_Draft]:
    """Frames "paint the wall blue", "dye the plant in red", "cover X with snow", "dress the girl in yellow"."""
    dressed = re.match(r"^(?P<np>.+?)\s+(?:in|with|up\s+in|up\s+as|as)\s+(?P<what>.+)$", rest, re.IGNORECASE)
    if verb in _VERBS.dress and dressed:
        what = re.sub(r"\s+(?:attire|clothes|clothing|outfit)$", "", dressed["what"], flags=re.IGNORECASE)
        look = "{} dressed in " + what if _is_attribute(what) else "{} wearing " + _indefinite(what)
        return _local(instruction, _noun_phrase(dressed["np"])[0], look)
    if verb in _VERBS.choose:
        onto = re.match(r"^(?:for\s+)?(?P<look>.+?)\s+(?:to|on|onto|for)\s+(?P<np>.+)$", rest, re.IGNORECASE)
        if onto and not _is_image(onto["np"]) and not _is_style_or_time(onto["look"]):
            return _colour(instruction, f"{onto['np']} in {onto['look']}", "colour")
        return _global(instruction) if verb == "apply" or _is_global_look(rest) else []
    verb = "cover" if verb in _VERBS.dress else verb
    whole = re.match(r"^(?:the\s+)?(?:" + _IMAGE_NOUN + r"|scene|everything|it)\b", rest, re.IGNORECASE)
    if verb in ("cover", "coat") and whole and _mentions(rest, _SCENE.weather):
        return _global(instruction)
    if verb in ("paint", "draw", "spray") and re.match(r"^(?:a|an|some|two|three|four|five)\s", rest, re.IGNORECASE):
        return _add(instruction, rest)
    rest = re.sub(r"\s+in\s+colou?r$", "", rest, flags=re.IGNORECASE)
    onto = _RE.onto.match(rest)
    if onto:
        # "paint racing stripes on the car": the car gets them.
        return _local(instruction, _noun_phrase(onto["np"])[0], "{} with " + onto["what"])
    match = re.match(r"^(?P<np>.+?)\s+(?:in|with|into|using|to)\s+(?P<look>.+)$", rest, re.IGNORECASE)
    split = (match["np"], match["look"]) if match else _split_look(rest)
    if split is None:
        phrase, _ = _noun_phrase(rest)
        if not phrase or (_is_image(phrase) and not _is_pronoun(phrase)):
            return _global(instruction)
        return _local(instruction, phrase, "{} covered" if verb in ("cover", "coat") else "painted {}")
    phrase, look = split
    look = re.sub(r"^(?:a|an|the)\s+", "", look.strip(), flags=re.IGNORECASE)
    look = _RE.colour_noun.sub("", look)
    if _is_image(phrase) and not _is_pronoun(phrase):
        return _global(instruction)
    if _is_background(phrase):
        return [_Draft("background", instruction, prompt=f"{look} background")]
    template = "{} covered in " + look if verb in ("cover", "coat") and not _is_attribute(look) else look + " {}"
    target, _ = _noun_phrase(phrase)
    return [draft for item in _split_list(target) for draft in _local(instruction, item, template)]


def _give_split(rest: str) -> Optional[tuple[str, str]]:
    """Gives back (who gets it, what they get): "the man a hat", "them funny hats", "the ivy on the wall a hue"."""
    words = rest.split()
    if len(words) < 2:
        return None
    if words[0].lower() in ("it", "them", "him", "her", "me", "us", "everyone", "everything") and (
        words[1].lower() not in _GRAMMAR.noun_after_her
    ):
        return words[0], " ".join(words[1:])
    prepositions = _GRAMMAR.give_prepositions
    for i in range(2, len(words)):
        word, before = words[i].lower(), words[i - 1].lower()
        article = word in ("a", "an", "some", "more", "less") or word in _GRAMMAR.numbers
        opens = article or (_is_look_word(word) and not _is_look_word(before))
        if opens and before not in prepositions and before not in _GRAMMAR.determiners:
            return " ".join(words[:i]), " ".join(words[i:])
    if len(words) >= 3 and words[0].lower() in _GRAMMAR.determiners:
        return " ".join(words[:-1]), words[-1]
    return None


def _give(instruction: str, rest: str, verb: str = "give") -> list[_Draft]:
    """Frames "give the man a hat" (add on him), "give the car a red tint" (local), "give it a vintage look"."""
    given_to = re.match(r"^(?P<what>.+?)\s+to\s+(?P<np>.+)$", rest, re.IGNORECASE)
    holder_and_what = (given_to["np"], given_to["what"]) if given_to else _give_split(rest)
    if holder_and_what is None:
        return []
    holder, what = holder_and_what
    if _is_background(what):
        return _background(instruction, what, keep=None if _is_image(holder) else _target(_noun_phrase(holder)[0]))
    if _is_image(holder) or (_is_style_or_time(what) and _is_a_look(what)):
        return _global(instruction)
    phrase, _ = _noun_phrase(holder)
    look = _RE.given_look.match(what)
    if look:
        template = (
            look["look"] + " {}" if _is_attribute(look["look"]) else "{} with " + look["look"] + " " + look["kind"]
        )
        return _local(instruction, phrase, template)
    looks = any(_is_look_word(w) for w in _words(what))
    if _is_attribute(what) or _head(what) in _LOOKS.body_nouns or (_head(what) in _LOOKS.attribute_nouns and looks):
        return _local(instruction, phrase, "{} with " + _strip_determiners(what, keep_numbers=True))
    added = _indefinite(_noun_phrase(what)[0] or what)
    return [_Draft("add", instruction, prompt=added, anchor=_target(phrase), relation="on")]


def _adjust(instruction: str, rest: str, verb: str) -> list[_Draft]:
    """Frames verbs that adjust a look or a size: "brighten the image" (global), "brighten the sky" (local).

    Also "blur the background", "enlarge the moon", "rotate the image by 90 degrees".
    """
    rest = re.sub(r"^(?:up|down|out)\s+|\s+(?:up|down|out)$", "", _RE.measure.sub("", rest), flags=re.IGNORECASE)
    if verb in _VERBS.restore or not rest or re.match(r"^(?:with|for|by|through|to|using|in)\b", rest, re.IGNORECASE):
        return _global(instruction)
    immersed = _RE.immersed.match(rest)
    if immersed and verb not in _VERBS.light:
        # "infuse the image with watercolours": a mood or a style of the whole picture.
        return _global(instruction)
    if verb in _VERBS.mood and _is_style_or_time(rest):
        return _global(instruction)
    phrase, tail = _noun_phrase(rest, keep_with=False)
    if _head(phrase) in ("shadows", "highlights", "midtones", "blacks", "whites"):
        return _global(instruction)
    if _is_hung(phrase, tail):
        return _local(instruction, phrase, _past(verb) + " {}")
    if not phrase or _is_image(phrase) or _is_weather_thing(phrase) or _is_global_look(phrase) or _is_global_look(rest):
        if phrase and _is_background(phrase) and not _mentions(phrase, _SCENE.weather):
            return [_Draft("background", instruction, prompt=f"{_past(verb)} background")]
        return _global(instruction)
    if _is_background(phrase):
        return [_Draft("background", instruction, prompt=f"{_past(verb)} background")]
    if verb in _VERBS.mood:
        return _global(instruction) if _is_global_look(instruction) else []
    return _local(instruction, phrase, _past(verb) + " {}")


def _loose(instruction: str, text: str) -> list[_Draft]:
    """Frames a clause with no verb we know: "as a watercolor", "more Renaissance", "a cat on the sofa".

    A description of how a thing is now ("the rug is too red") asks for nothing: it names the thing.
    """
    described = _RE.focus.match(text)
    if described and described["subject"] and _RE.complained_look.match(described["state"]):
        return []
    low = text.lower()
    instead = _RE.rather_than.match(text)
    if instead:
        return _transform(instruction, instead["old"], instead["new"])
    arrow = _RE.arrow.match(text)
    if arrow:
        return _transform(instruction, arrow["old"], arrow["new"])
    switched = _RE.switched.match(text)
    if switched and not _is_image(switched["np"]):
        # "lamps on", "the porch light off".
        return _local(instruction, _noun_phrase(switched["np"])[0], "{} switched " + switched["state"].lower())
    relation, _, new = _relation(text)
    thing = _words(new)
    some = thing[:1] != ["the"] and _is_noun_phrase(new) and len(thing) <= 3 and len(_words(low)) <= 6
    if relation and some and (_is_plural(new) or thing[-1] in _GRAMMAR.mass_nouns or _is_a_look(new)):
        # "birds in the sky", "snow on the cars": something new somewhere.
        added = _add(instruction, text, "add")
        if added:
            return added
    if _is_global_look(text):
        ignored = _GRAMMAR.determiners | _GRAMMAR.loose_filler
        concrete = [w for w in _words(low) if w not in ignored and not _is_global_look(w)]
        if len(concrete) <= 2 or re.match(r"^(?:as|in|at|during|more|less|with|like|by|into|to|make)\b", low):
            return _global(instruction)
    if re.match(r"^(?:as|in the style of|like|more|less|by)\s", low) or _is_style_or_time(text):
        return _global(instruction)
    placed = _RE.placed.match(text)
    setting = (
        _head(_noun_phrase(placed["place"])[0]) in _SCENE.places or _is_background(placed["place"]) if placed else False
    )
    if placed and (setting or _RE.counted.match(placed["place"])):
        return _background(instruction, placed["place"])
    with_what = re.match(r"^(?:with|plus|and)\s+(?P<what>.+)$", text, re.IGNORECASE)
    if with_what:
        return (
            _background(instruction, with_what["what"])
            if _is_background(with_what["what"])
            else _add(instruction, with_what["what"], "add")
        )
    if re.match(r"^(?:a|an|some|two|three|four|five|another)\s", low) or (re.match(r"^the\s+[A-Z]", text) and relation):
        # "a cat on the sofa", "the Eiffel Tower behind us".
        return _add(instruction, text, "add")
    look = _split_look(text)
    held, how = look or ("", "")
    if _is_noun_phrase(held) and not _is_attribute(held) and not _is_image(held) and _is_attribute(how):
        # "the candles lit", "the girl's balloon red", "the curtains in pale yellow".
        return _local(instruction, _noun_phrase(held)[0], re.sub(r"^in\s+", "", how) + " {}")
    colours = [w for w in _words(low) if w in _LOOKS.colours]
    if colours and len(_words(low)) <= 8:
        # "red for the horse's hue".
        rest = re.sub(r"\b" + re.escape(colours[0]) + r"\b", "", text, count=1, flags=re.IGNORECASE).strip()
        phrase, _ = _noun_phrase(re.sub(r"^(?:for|to|on|the\s+colou?r\s+(?:for|of))\s+", "", rest, flags=re.IGNORECASE))
        phrase = _RE.possessive_colour.sub("", phrase)
        if phrase and not _is_image(phrase):
            return _local(instruction, phrase, colours[0] + " {}")
    return []


def _is_noun_phrase(text: str) -> bool:
    """Gives back whether a text is only a noun phrase: "the girl's balloon", "birds"; not "pattern the goat"."""
    words = _words(text)
    if not words or words[0] in _GRAMMAR.function_words - _GRAMMAR.determiners:
        return False
    # A determiner, a copula or a participle after the first word: a verb came first ("pattern the goat").
    verbs = _GRAMMAR.determiners | {"is", "are", "was", "were", "be"}
    if any(w in verbs or (w.endswith("ing") and _lemma(w) != w) for w in words[1:]):
        return False
    return not _noun_phrase(text, keep_with=False)[1]


# Reading a clause: its verb picks the frame.


def _parse_clause(clause: str) -> list[_Draft]:
    """Gives back the steps of one clause, in order (several for "remove the cat and the dog")."""
    # "new background: a forest" names the edit like a form field.
    clause = _RE.labelled.sub(lambda m: f"change the {m['what'].lower()} to ", clause.strip())
    said = _RE.polite_end.sub("", _RE.polite_start.sub("", clause)).strip() or clause
    text = _imperative(clause)
    words = _words(text)
    if not words or _RE.negation.match(text):
        return []
    verb = _lemma(words[0])
    if verb in _VERBS.noun_like and words[0] == verb + "s" and words[1:2] and words[1] not in _CLAUSE_SIGNAL:
        # "leaves on the ground", "lights off": a plural noun, not a verb.
        verb = words[0]
    said_verb, *tail = text.split(None, 1)
    rest = tail[0] if tail else ""
    # A wish or a statement lists objects and their looks with no verb: "the door green and the fence red".
    gapped = _gapped(said_verb, rest) or (None if _starts_with_verb(text) else _gapped("make", text))
    if gapped:
        return [draft for part in gapped for draft in _parse_clause(part)]
    # An instruction-editor kind first, then a verb with its particle, then the frame the verb opens.
    steps = _instruction_kind(said, text, verb, rest)
    steps = _particle_frame(said, rest, verb) if steps is None else steps
    if steps is not None:
        return steps
    if verb in _FRAME_OF:
        return _FRAME_OF[verb](said, rest, verb)
    if words[0] not in _GRAMMAR.function_words and _RE.counted.match(rest) and _relation(rest)[0]:
        # "stand a giraffe next to the tree", "fly a kite above the park": something new, somewhere.
        return _add(said, rest)
    return _loose(said, text)


def _state(instruction: str, rest: str, verb: str) -> list[_Draft]:
    """Frames "open the window", "gild the frame", "upholster the chair in velvet": the thing in its new state."""
    coloured = _split_look(rest)
    said = coloured and _is_attribute(coloured[1]) and not re.match(r"^(?:in|with)\s", coloured[1], re.IGNORECASE)
    look = coloured[1] + " " if said and coloured else ""
    phrase, tail = _noun_phrase(coloured[0] if said and coloured else rest, keep_with=False)
    # Only a thing takes a finish: "gild the frame" gilds a frame, "varnish it" the thing meant.
    bare = _words(rest)[:2] in (["the", phrase.lower()], [phrase.lower()])
    thing = _is_pronoun(phrase) or (bare and phrase.lower() in _SCENE.picture_things)
    if not phrase or (_is_image(phrase) and not thing):
        return _global(instruction) if _is_global_look(instruction) else []
    # "in velvet", "with white icing": what it is finished with; "in the kitchen" says where it is.
    finish = re.match(r"^(?:in|with)\s+(?!(?:the|this|that|his|her|their|its|my)\b)(?P<look>.+)$", tail, re.IGNORECASE)
    how = " " + tail if finish and len(_words(finish["look"])) <= 3 else ""
    return _local(instruction, phrase, look + _STATE_OF[verb] + " {}" + how)


# Which frame reads a clause, by the clause's verb: a verb listed in several rows goes to the first.
_FRAMES: tuple[tuple[frozenset[str] | set[str], Callable[[str, str, str], list[_Draft]]], ...] = (
    (_VERBS.keep, lambda instruction, rest, verb: []),
    (frozenset(_STATE_OF), _state),
    (_VERBS.restore | _VERBS.light, _adjust),
    (_VERBS.reveal | _VERBS.remove, _remove),
    (_VERBS.swap | _VERBS.change, _change),
    ({"make", "have", "let", "get"}, _make),
    ({"give"}, _give),
    (_VERBS.dress | _VERBS.choose | _VERBS.colour, _colour),
    (_VERBS.add, _add),
    (_VERBS.size | _GLOBAL_VERBS, _adjust),
)
_FRAME_OF = {verb: frame for verbs, frame in reversed(_FRAMES) for verb in verbs}


def _particle_frame(said: str, rest: str, verb: str) -> Optional[list[_Draft]]:
    """Frames verbs whose meaning turns on a particle or an article ("get rid of", "take away", "light a")."""
    switched = re.search(r"^(?:on|off)\b|\s(?:on|off)$", rest, re.IGNORECASE)
    if verb in ("turn", "switch", "flick") and switched:
        phrase = _noun_phrase(re.sub(r"^(?:on|off)\s+|\s+(?:on|off)$", "", rest, flags=re.IGNORECASE))[0]
        return _local(said, phrase, "{} switched " + switched.group(0).strip().lower())
    for verbs, particle, cut, into in _REMOVAL_PARTICLES:
        if verb in verbs and particle.search(rest):
            return _remove(said, cut.sub(into, rest, count=1))
    if verb in ("cut", "crop", "strip", "wipe", "sweep", "clear", "pluck"):
        whole = _RE.whole_image.match(rest)
        if whole and verb == "crop":
            return _global(said)
        if whole:
            return _global(said) if _is_global_look(said) else []
        if verb == "crop" and not re.match(r"^(?:out|away)\b", rest, re.IGNORECASE):
            return _adjust(said, rest, verb)
        return _remove(said, rest)
    if verb == "light" and not re.match(r"^(?:up\b|it\b|the\s+(?:image|photo|picture|scene)\b)", rest, re.IGNORECASE):
        if _RE.counted.match(rest):
            return _add(said, rest, "add")
        return _local(said, _noun_phrase(rest)[0], "lit {}")
    if verb in _VERBS.slang_remove and not _RE.counted.match(rest) and not re.match(r"^(?:in|into)\b", rest, re.I):
        return _remove(said, rest)
    if verb == "hide" and re.search(r"\s(?:with|behind|under)\s", rest):
        return _local(said, _noun_phrase(rest, keep_with=False)[0], "{} covered")
    return None


# Coordination: one verb shared by several objects, or edits listed with no verb.


def _listed_edits(clause: str) -> list[str]:
    """Gives back the edits of a clause that lists them with no verb ("sunset, streetlights on"), else the clause.

    Every piece must be an edit by itself, not only a noun or a look ("add a hat, a scarf", "red, white").
    """
    pieces = [piece.strip() for piece in re.split(r"\s*,\s*(?:and\s+)?", clause) if piece.strip()]
    said_verb, _, rest = clause.partition(" ")
    if len(pieces) < 2 or _gapped(said_verb, rest):
        return [clause]
    for piece in pieces[1:]:
        words = _words(piece)
        opens = words[0] in _GRAMMAR.function_words - _GRAMMAR.determiners or _RE.fronted_start.match(piece)
        if opens or _is_attribute(piece):
            return [clause]
        if not _noun_phrase(piece)[1] and not _is_look_word(words[-1]) and not _RE.no_more.match(piece):
            return [clause]
    return pieces if all(_parse_clause(piece) for piece in pieces) else [clause]


def _gapped(verb: str, rest: str) -> Optional[list[str]]:
    """Gives back one clause per object when a verb is shared, else None.

    "paint the door red and the fence green", "turn the apples into pears and the grapes into
    cherries", "give the cat a bow and the dog a collar": every conjunct has the same shape (the
    same preposition, two objects, or an object and its look), so the verb goes with each.
    """
    if any(pair in rest.lower() for pair in _BINOMIALS):
        return None
    parts = [part.strip() for part in _RE.conjuncts.split(rest) if part.strip()]
    if len(parts) < 2 or any(_starts_clause(part) for part in parts[1:]):
        return None
    prepositions = {(m["p"].lower() if m else None) for m in map(_RE.gap_preposition.match, parts)}
    lemma = _lemma(verb.lower())
    shared = (
        (len(prepositions) == 1 and None not in prepositions)
        or (lemma in ("give", "make", "get") and all(_RE.double_object.match(part) for part in parts))
        or (
            lemma in _VERBS.colour | {"make", "turn", "get"}
            and all(len(_words(part)) > 1 and _is_look_word(_words(part)[-1]) for part in parts)
        )
    )
    return [f"{verb} {part}" for part in parts] if shared else None


# Edits for an instruction-following editor: text, counts, poses and moves.

_QUOTED_OR_CAPS = _PHRASES["fragments"]["quoted_or_caps"]
_TITLE = _PHRASES["fragments"]["title_case"]
_SAYS = re.compile(
    r"^(?:(?:make|have|let|get|change|turn|can|could)\s+)?(?P<np>.+?)\s+(?:to\s+)?"
    r"(?:(?:should|will|would|must|needs?\s+to|has\s+to|ought\s+to)\s+)?"
    r"(?P<say>" + "|".join(sorted(_VERBS.say)) + r")\s+(?P<what>\S.*)$",
    re.IGNORECASE,
)


def _written_on(text: str) -> tuple[bool, Optional[str]]:
    """Gives back whether a clause asks for new text, and on what ("make the sign say OPEN" -> sign)."""
    if _RE.caption.match(text):
        return True, None
    if re.search(r"\b(?:colou?r|font|size|style)\s+of\b", text, re.IGNORECASE):
        return False, None
    for match in (_RE.write_on.match(text), _RE.writing_of.search(text), _RE.its_text.match(text)):
        if match:
            return True, _target(_noun_phrase(match["np"])[0])
    says = _SAYS.match(text)
    written = re.match(_QUOTED_OR_CAPS + "|" + _TITLE, says["what"]) if says else None
    if says and (says["say"].lower().startswith(("say", "spell")) or written):
        # "correct the misspelled sign so it reads BAKERY": the verb before the sign is no part of it.
        carrier = re.sub(
            r"^[\w'-]+\s+(?=(?:the|this|that|his|her|their|its|my|our|your)\s)", "", says["np"], flags=re.I
        )
        return True, _target(_noun_phrase(carrier)[0])
    return False, None


_NUMBER = _PHRASES["fragments"]["number"]


def _is_pose(verb: Optional[str], after: Optional[str]) -> bool:
    """Gives back whether a verb after a person or an animal asks for a new pose ("sit", "look at", "do a split")."""
    word = (verb or "").lower()
    base = word[:-3] if word.endswith("ing") and word[:-3] in _VERBS.pose else _lemma(word)
    if word.endswith("ing") and base not in _VERBS.pose:
        base = word[:-4] if word[-4:-3] == word[-5:-4] else word[:-3] + "e"
    following = (after or "").lower().split()[:1]
    if base == "look":
        return following in (["at"], ["up"], ["down"], ["away"], ["back"], ["toward"], ["towards"], ["into"])
    if base == "do":
        return following in (["a"], ["an"])
    return base in _VERBS.pose


def _is_setting(sent: re.Match) -> bool:
    """Gives back whether a subject sent somewhere gets a new setting.

    "into a rainforest", "to Paris", "in front of the Taj Mahal", "in front of a castle" do; "on Bob"
    and "in the middle of the room" (a spot in the setting there is) do not.
    """
    place, where = sent["place"], sent["where"].lower()
    named = bool(re.match(r"^(?:the\s+)?[A-Z]\w", place)) and where != "on"
    if sent["part"] and re.match(r"^the\s", place, re.IGNORECASE) and not named:
        return False
    new = where == "in front of" and _RE.counted.match(place)
    return _head(_noun_phrase(place)[0]) in _SCENE.places or _is_background(place) or bool(named or new)


def _places_anew(verb: str, after: str, be: bool = False) -> bool:
    """Gives back whether the words after a thing give it a new place: "on the left instead", "sit nearer".

    `be`: "be" came before them ("should be on the other side"). A new setting is no move ("be in a desert").
    """
    said = f"{verb} {after}".strip()
    where = after if _lemma(verb) in _VERBS.stay else said
    sent = _RE.sent_to.match(re.sub(r"\s+instead$", "", where, flags=re.IGNORECASE))
    if sent and _is_setting(sent):
        return False
    stays = be or _lemma(verb) in _VERBS.stay
    return bool(_RE.moved_to.match(said) or _RE.moved_to.match(where) or (stays and _RE.placed_at.match(where)))


def _instruction_kind(said: str, text: str, verb: str, rest: str) -> Optional[list[_Draft]]:
    """Gives back the step of a text, count, pose or move edit, or None when the clause is another kind.

    "move the cat to the left" and "put the dog closer to the kid" are moves; a move to a place
    ("move us to the beach") is a new background.
    """
    for candidate in (said, text) if verb not in _VERBS.remove else ():
        written, carrier = _written_on(candidate)
        if written:
            return [_Draft("text", said, target=carrier, prompt=said)]
    counted = _RE.count.search(said) or _RE.count.search(text)
    if counted:
        return [_Draft("count", said, target=_target(next(g for g in counted.groups() if g)), prompt=said)]
    for placed in (_RE.posed.match(said), _RE.posed.match(text)):
        if placed and placed["np"] and _places_anew(placed["verb"], placed["after"], bool(placed["be"])):
            # "the vase should sit nearer the window", "have the cat on the left instead".
            return [_Draft("move", said, target=_target(_noun_phrase(placed["np"])[0]), prompt=said)]
    posed = _RE.posed.match(text) or _RE.posed.match(said)
    owned = posed and posed["np"] and posed["np"].lower().endswith(("'s", "’s"))
    if posed and not owned and (posed["owner"] or _is_pose(posed["verb"], posed["after"])):
        return [_Draft("pose", said, target=_target(_noun_phrase(posed["np"] or posed["owner"])[0]), prompt=said)]
    definite = re.match(r"^(?:the|this|that|these|those|his|her|their|its|my|him|them|it|us|me)\b", rest, re.I)
    if verb not in _VERBS.move and not (verb in _VERBS.carried and definite):
        return None
    phrase, tail = _noun_phrase(rest, keep_with=False)
    tail = re.sub(r"^(?:in|at|on)\s+the\s+(?:back|front|middle|corner)\s+(?=to\b)", "", tail, flags=re.IGNORECASE)
    sent = _RE.sent_to.match(tail)
    if sent and _is_setting(sent):
        return _background(said, sent["place"], keep=None if phrase.lower() in ("us", "me") else _target(phrase))
    direction = _RE.move_to.search(rest)
    if verb not in _VERBS.move and not direction and not _RE.moved_to.match(tail):
        return None
    if direction:
        phrase = _noun_phrase(re.sub(r"\s+(?:a\s+)?(?:bit|little|tad)$", "", rest[: direction.start()]))[0]
    phrase = re.sub(r"(?:\s+(?:left|right|up|down|away|back|forward|over|a bit|a little))+$", "", phrase)
    return [_Draft("move", said, target=_target(phrase), prompt=said)]

"""Referring expressions: what a phrase such as "the second cup from the right" asks a detector for, and which one it means.

A detector takes a short noun phrase; people point at one object among several with more words.
`parse` splits a target such as "woman in the blue dress" into the noun the detector is asked for
("woman") and the qualifiers that pick among the instances it finds: a place in the picture, an
order along a row, a size, a colour (and the garment it is worn on), a relation to another object.
`describe` also reads the step's instruction, where a planner may have left the qualifiers out of
its target ("remove the cup next to the laptop" planned with the target "cup"), without taking a
move's destination ("move the lamp to the left") or a replacement ("... with a truck") for them.
agent/choose.py picks among the detections by the result.

The words live in agent/words/refer.toml, the colour names in tools/colours.toml.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

from chatedit.agent.reference import Order, Reference, Relation
from chatedit.tools.colours import colour_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

with open(Path(__file__).parent / "words" / "refer.toml", "rb") as _handle:
    _WORDS = tomllib.load(_handle)

Words = tuple[str, ...]
Said = list[tuple[str, Any]]
"""Qualifiers as (kind, value), in the order said (see `_Read`)."""
Reading = Optional[tuple[Said, int]]
"""What a phrase said and the index of the word after it; None: the words there are no such phrase."""


def _set(key: str) -> frozenset[str]:
    return frozenset(_WORDS[key].split())


def _phrases(items: list[str]) -> tuple[Words, ...]:
    """Gives back phrases as word tuples, the longest first (so "in front of" wins over "in")."""
    return tuple(sorted((tuple(item.split()) for item in items), key=len, reverse=True))


_DETERMINERS = _set("determiners")
_EVERY = _set("every")
_PRONOUNS = _set("pronouns")
_INTENSIFIERS = _set("place_intensifiers")
_PLACE_TAILS = _set("place_tails")
_IMAGE_WORDS = _set("image_words")
_SHADES = _set("shades")
_ENDS = _set("ends")
_VERBS_AFTER = _set("verbs_after")
_DESTINATIONS = _set("destinations")
PLURALS = _set("plurals")
"""Plurals that do not end in "s" ("people", "women")."""
_FILLERS = _phrases(_WORDS["fillers"])
_WEAR = _phrases(_WORDS["wear"])
_COMPOUNDS = frozenset(tuple(item.split()) for item in _WORDS["compounds"])
_NUMBERS: dict[str, int] = _WORDS["numbers"]
_ORDINALS: dict[Words, int] = {tuple(key.split()): value for key, value in _WORDS["ordinals"].items()}
_ORDINAL_PHRASES = tuple(sorted(_ORDINALS, key=len, reverse=True))
_PLACE_OF = {word: place for place, words in _WORDS["places"].items() for word in words.split()}
_SIZE_OF = {word: size for size, words in _WORDS["sizes"].items() for word in words.split()}
_RELATION_OF = {tuple(wording.split()): kind for kind, wordings in _WORDS["relations"].items() for wording in wordings}
_RELATION_PHRASES = tuple(sorted(_RELATION_OF, key=len, reverse=True))
_GARMENT_OF = {word: part for part, garment in _WORDS["garments"].items() for word in garment["words"].split()}
BANDS: dict[str, tuple[float, float]] = {part: tuple(garment["band"]) for part, garment in _WORDS["garments"].items()}
"""Where each kind of garment is on a person: its band of the box, from the top (0) to the bottom (1)."""

_SPLIT_PARTS = frozenset(_PLACE_OF) | _PLACE_TAILS | frozenset(word for phrase in _ORDINALS for word in phrase)
"""Parts of hyphenated words that are read one by one ("second-to-last", "top-left", "left-hand")."""
_SURFACES: dict[str, str] = _WORDS["surfaces"]
_PLACE_OF_RELATION = {"left of": "left", "right of": "right", "above": "top", "below": "bottom", "behind": "back"}
"""A relation to the picture itself is a place in it: "left of the picture" is on the left."""


@dataclass
class _Read:
    """What the words said so far: the noun's words, and the qualifiers as (kind, value) in the order said.

    Kinds: "place" (a side of the picture), "surface" (a side said by what the object stands on),
    "side" (the side an order counts from), "order" (a position in a row), "size", "colour" (a
    colour and the garment part it is worn on), "relation", "count".
    """

    noun: list[str] = field(default_factory=list)
    said: Said = field(default_factory=list)
    every: bool = False

    def reference(self) -> Reference:
        """Gives back the Reference of what was read; a later qualifier of a kind overrides an earlier one."""
        places: list[str] = []
        position: Optional[int] = None
        side: Optional[str] = None
        fields: dict[str, Any] = {}
        head = self.noun[-1] if self.noun else ""
        plural = head == "them" or _is_plural(head)
        every = self.every or (plural and not _says(self.said, "count"))
        for kind, value in self.said:
            if kind == "place" or (kind == "surface" and not every):
                # A surface places one object ("the vase on the floor"), not all ("the leaves on the ground").
                places.append(value)
            elif kind == "side":
                side = value
            elif kind == "order":
                position = value
            elif kind == "colour":
                fields["colour"], fields["worn"] = value
            elif kind != "surface":
                fields[kind] = value
        return Reference(
            noun=" ".join(word for word in self.noun if word not in _PRONOUNS),
            places=tuple(places),
            order=Order(position or 1, side) if position or side else None,
            every=every,
            **fields,
        )


def _tokens(text: str) -> list[str]:
    """Gives back the words of a text, lowercased.

    "second-to-last" and "top-left" come apart, "t-shirt" does not, "left-most" is "leftmost".
    """
    words: list[str] = []
    for token in re.findall(r"[a-z0-9]+(?:[-'’][a-z0-9]+)*", text.lower().replace("-most", "most")):
        parts = token.split("-")
        words.extend(parts if all(part in _SPLIT_PARTS for part in parts) else [token])
    return words


def _is_plural(word: str) -> bool:
    return word in PLURALS or (word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3)


def _phrase_at(tokens: list[str], at: int, phrases: tuple[Words, ...]) -> Optional[Words]:
    """Gives back the first of `phrases` the tokens spell from `at` on, or None."""
    return next((phrase for phrase in phrases if tuple(tokens[at : at + len(phrase)]) == phrase), None)


# ---- words before the noun: "the second biggest red ..." --------------------------------------------


def _read_premodifiers(tokens: list[str], read: _Read) -> None:
    """Reads the words up to the noun's end: qualifiers go to `read.said`, the rest is the noun."""
    at = 0
    while at < len(tokens):
        word, last = tokens[at], at == len(tokens) - 1
        ordinal = _phrase_at(tokens, at, _ORDINAL_PHRASES)
        if tuple(tokens[at : at + 2]) in _COMPOUNDS:
            read.noun.extend(tokens[at : at + 2])
            at += 2
            continue
        if word in _EVERY:
            read.every = True
        elif (word in _DETERMINERS or word == "of") and not read.noun:
            pass
        elif word in _NUMBERS and not read.noun:
            read.said.append(("count", _NUMBERS[word]))
        elif ordinal:
            read.said.append(("order", _ORDINALS[ordinal]))
            at += len(ordinal)
            continue
        elif word in _PLACE_OF:
            read.said.append(("place", _PLACE_OF[word]))
        elif word in _SIZE_OF:
            read.said.append(("size", _SIZE_OF[word]))
        elif word in _INTENSIFIERS | _SHADES and not last:
            pass
        elif colour_name(word) and not last:
            read.said.append(("colour", (colour_name(word), None)))
        else:
            read.noun.append(word)
        at += 1


# ---- words after the noun: "... from the right", "... in the blue shirt", "... next to the laptop" ---


def _skip_fillers(tokens: list[str], at: int) -> int:
    """Gives back where the words after `at` say something ("that is on the sofa" -> "on the sofa")."""
    while filler := _phrase_at(tokens, at, _FILLERS):
        at += len(filler)
    return at


def _skip_determiners(tokens: list[str], at: int) -> int:
    while at < len(tokens) and tokens[at] in _DETERMINERS:
        at += 1
    return at


def _place_phrase(tokens: list[str], at: int) -> tuple[list[str], int]:
    """Gives back the places spelled from `at` ("far top left corner" -> ["top", "left"]) and where they end."""
    places: list[str] = []
    while at < len(tokens) and (tokens[at] in _PLACE_OF or (tokens[at] in _INTENSIFIERS and not places)):
        if tokens[at] in _PLACE_OF:
            places.append(_PLACE_OF[tokens[at]])
        at += 1
    while places and at < len(tokens) and tokens[at] in _PLACE_TAILS:
        at += 1
    return places, at


def _order_side(tokens: list[str], at: int) -> Reading:
    """Reads "from the right": the side an order counts from."""
    if at >= len(tokens) or tokens[at] != "from":
        return None
    places, end = _place_phrase(tokens, _skip_determiners(tokens, at + 1))
    return ([("side", places[0])], end) if places else None


def _position(tokens: list[str], at: int) -> Reading:
    """Reads "on the left", "at the top right", "in the background", "in front" (not "in front of the bus")."""
    if at >= len(tokens) or tokens[at] not in ("on", "in", "at", "to", "towards"):
        return None
    places, end = _place_phrase(tokens, _skip_determiners(tokens, at + 1))
    if not places:
        return None
    if end < len(tokens) and tokens[end] == "of":
        # "on the left of the picture" is a place; "on the left of the bus" a relation.
        other = _skip_determiners(tokens, end + 1)
        if other >= len(tokens) or tokens[other] not in _IMAGE_WORDS:
            return None
        end = other + 1
    return [("place", place) for place in places], end


def _worn_colour(tokens: list[str], at: int) -> Reading:
    """Reads "in red", "in the blue shirt", "wearing a yellow dress", "in blue jeans", "with the hat"."""
    connector = _phrase_at(tokens, at, _WEAR)
    if connector is None:
        return None
    colours, end = _colours(tokens, _skip_determiners(tokens, at + len(connector)))
    garment = _GARMENT_OF.get(tokens[end]) if end < len(tokens) else None
    if colours:
        return [("colour", (colours[0], garment))], end + (1 if garment else 0)
    if garment:
        # "the man with the hat", "the woman in the dress": a thing the person has, found by the detector.
        return [("relation", Relation("holding", tokens[end]))], end + 1
    return None


def _colours(tokens: list[str], at: int) -> tuple[list[str], int]:
    """Gives back the colours named from `at` ("dark blue and white" -> ["blue", "white"]) and where they end."""
    colours: list[str] = []
    end = word = at
    while True:
        while word < len(tokens) and tokens[word] in _SHADES:
            word += 1
        colour = colour_name(tokens[word]) if word < len(tokens) else None
        if colour is None:
            return colours, end
        colours.append(colour)
        end = word + 1
        if end >= len(tokens) or tokens[end] != "and":
            return colours, end
        word = end + 1


def _relation(tokens: list[str], at: int) -> Reading:
    """Reads "next to the laptop", "behind the bus", "holding an umbrella", "left of the glass"."""
    wording = _phrase_at(tokens, at, _RELATION_PHRASES)
    if wording is None or _phrase_at(tokens, at, _ORDINAL_PHRASES):
        # "the next to last chair" counts; it is not next to anything.
        return None
    kind = _RELATION_OF[wording]
    other, end = _other_noun(tokens, at + len(wording))
    if not other:
        return None
    if other in _IMAGE_WORDS:
        return ([("place", _PLACE_OF_RELATION[kind])] if kind in _PLACE_OF_RELATION else []), end
    if other in _SURFACES:
        # "the vase on the floor": the floor is where the picture's bottom is, not an object to find.
        return [("surface", _SURFACES[other])], end
    return [("relation", Relation(kind, other))], end


def _other_noun(tokens: list[str], at: int) -> tuple[str, int]:
    """Gives back the noun of the object a relation names, and where its words end.

    The words end at a word that ends a phrase ("with", "and", "to"), a verb that follows an object
    ("wear"), a colour after a noun ("the dog on the sofa brown") or a new qualifier, three words on.
    """
    start = at = _skip_determiners(tokens, at)
    while at < len(tokens) and at - start < 3:
        word = tokens[at]
        if word in _ENDS or word in _VERBS_AFTER:
            break
        if at > start and (colour_name(word) or _starts_qualifier(tokens, at)):
            break
        at += 1
    words = tokens[start:at]
    owner = next((index for index, word in enumerate(words) if word.endswith(("'s", "’s"))), None)
    if owner is not None:
        # "on the person's back": the other object is the person.
        words = words[:owner] + [words[owner][:-2]]
    read = _Read()
    _read_premodifiers(words, read)
    return " ".join(read.noun), at


def _starts_qualifier(tokens: list[str], at: int) -> bool:
    """Gives back whether the words from `at` start a new qualifier (read no further than its first words)."""
    return bool(_order_side(tokens, at) or _position(tokens, at) or _phrase_at(tokens, at, _RELATION_PHRASES + _WEAR))


_POSTMODIFIERS = (_order_side, _position, _worn_colour, _relation)
"""What may follow a noun, tried in this order at each place ("in front" is a place before "in" a relation)."""


def _postmodifier(
    tokens: list[str], at: int, readers: tuple[Callable[[list[str], int], Reading], ...] = _POSTMODIFIERS
) -> Reading:
    """Gives back the qualifiers of the phrase that starts at `at` (after any filler) and where it ends, or None."""
    start = _skip_fillers(tokens, at)
    for reader in readers:
        found = reader(tokens, start)
        if found is not None:
            return found
    return None


def _read_postmodifiers(tokens: list[str], at: int, read: _Read, category: str = "") -> None:
    """Reads the qualifiers after the noun, from `at` on, until a word that qualifies nothing.

    In a step's instruction, some of these words say what the edit does, not which object:
    - move: a destination word ends them ("to the left", "closer"), and a place or relation said last
      is where the object goes ("move the cup next to the laptop");
    - local, text: a colour with nothing after it but more of the look is the new look ("dress the
      goose in black", "the sofa in green velvet"), unless a verb or another colour follows ("make
      the woman in red wear a hat").
    """
    said: list[tuple[Said, int]] = []
    while at < len(tokens):
        start = _skip_fillers(tokens, at)
        if category == "move" and start < len(tokens) and tokens[start] in _DESTINATIONS:
            break
        found = _postmodifier(tokens, at)
        if found is None:
            break
        qualifiers, at = found
        said.append((qualifiers, at))
    if category == "move" and at >= len(tokens) and said and _says(said[-1][0], "place", "relation"):
        said.pop()
    if category in ("local", "text"):
        said = [(qualifiers, end) for qualifiers, end in said if not _new_look(qualifiers, tokens, end)]
    read.said.extend(qualifier for qualifiers, _ in said for qualifier in qualifiers)


def _says(qualifiers: Said, *kinds: str) -> bool:
    return any(kind in kinds for kind, _ in qualifiers)


def _new_look(qualifiers: Said, tokens: list[str], end: int) -> bool:
    """Gives back whether a colour said after the noun is the look an edit gives it, not how it is told apart."""
    if not _says(qualifiers, "colour"):
        return False
    following = tokens[end] if end < len(tokens) else ""
    return following not in _VERBS_AFTER and colour_name(following) is None


# ---- the whole phrase ----------------------------------------------------------------------------------


def parse(phrase: str) -> Reference:
    """Gives back what a phrase naming an object asks the detector for, and how it picks among the instances.

    "second cup from the right" -> Reference(noun="cup", order=Order(2, "right")); "woman in red" ->
    noun "woman", colour "red"; "car behind the bus" -> noun "car", relation ("behind", "bus");
    "left one" -> noun "", places ("left",).
    """
    tokens = _tokens(phrase)
    # A phrase may be a place alone ("in front"); a relation needs an object before it ("nearest car" is a size).
    places_first = _postmodifier(tokens, 0, (_order_side, _position)) is not None
    split = 0 if places_first else next((at for at in range(1, len(tokens)) if _postmodifier(tokens, at)), len(tokens))
    read = _Read()
    _read_premodifiers(tokens[:split], read)
    _read_postmodifiers(tokens, split, read)
    return read.reference()


def describe(target: str, instruction: str = "", category: str = "", prompt: str = "") -> Reference:
    """Gives back the Reference of a step's target, with the qualifiers its instruction says of it.

    Where the instruction names the target's noun, the words around it there are the user's own
    ("remove the cup next to the laptop" for the target "cup"), and their qualifiers are taken when
    they say any; otherwise the target's own are.

    Args:
        target: the step's target, as the planner wrote it ("cup", "left man", "woman in red").
        instruction: the words of the user's instruction that the step carries out.
        category: the step's kind: a move's destination, a replacement's new object, a new look and
            a new count are not read as qualifiers.
        prompt: the step's prompt: for a replace step, the new object, which is left out of what the
            instruction says of the target (a local step's prompt restates the target, so it stays).
    """
    own = parse(target)
    if not own.noun:
        # Only qualifiers ("in front"): the detector gets the words as they are.
        return replace(own, noun=target.strip())
    if category == "count":
        # "make it three apples instead of one": the numbers are what the edit makes, not which apples.
        return own
    if prompt and category == "replace":
        # "replace the cup with a golden teapot with pink flowers": the new object says nothing of the cup.
        at = instruction.lower().find(prompt.strip().lower())
        if at >= 0 and prompt.strip():
            instruction = instruction[:at] + instruction[at + len(prompt.strip()) :]
    said = _said(own.noun, instruction, category)
    if said is None or not (said.qualified or said.every):
        return own
    return replace(said, noun=own.noun)


def _said(noun: str, instruction: str, category: str) -> Optional[Reference]:
    """Gives back what the instruction's words around the noun say of it, or None when the noun is not in them."""
    nouns = _tokens(noun)
    tokens = _tokens(instruction)
    if not nouns or not tokens:
        return None
    head = nouns[-1]
    forms = {head, head + "s", head + "es", head.removesuffix("s"), head.removesuffix("es")}
    at = next((index for index, word in enumerate(tokens) if word in forms), None)
    if at is None:
        return None
    if category in ("replace", "local", "text") and "with" in tokens[at + 1 :]:
        # "replace the car behind the bus with a truck": the last "with" names the new object, look or words.
        tokens = tokens[: len(tokens) - 1 - tokens[::-1].index("with")]
    start = at
    while start > 0 and _qualifies(tokens[start - 1], nouns):
        start -= 1
    read = _Read()
    _read_premodifiers(tokens[start : at + 1], read)
    _read_postmodifiers(tokens, at + 1, read, category)
    return read.reference()


def _qualifies(word: str, nouns: list[str]) -> bool:
    """Gives back whether a word before the noun belongs to its phrase ("all", "the", "second", "red", "coffee")."""
    ordinal_words = {part for phrase in _ORDINALS for part in phrase}
    return (
        word in nouns
        or word in _DETERMINERS | _EVERY | _INTENSIFIERS | _SHADES | ordinal_words | {"of"}
        or word in _NUMBERS
        or word in _PLACE_OF
        or word in _SIZE_OF
        or colour_name(word) is not None
    )


def ordinal_word(position: int) -> str:
    """Gives back how an order is said: 2 -> "second", -1 -> "last", -2 -> "second to last"."""
    return next((" ".join(phrase) for phrase, value in _ORDINALS.items() if value == position), f"number {position}")

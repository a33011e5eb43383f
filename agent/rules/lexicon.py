"""The rules planner's words: the lexicons of agent/words/*.toml, loaded, and the word helpers over them."""

from __future__ import annotations

import re
import string
import sys
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

from chatedit.tools.relations import PHRASINGS

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib


# Word lists: what words mean for an edit. The words live in agent/words/*.toml, one file per lexicon.

_WORDS_DIR = Path(__file__).parent.parent / "words"


@lru_cache(maxsize=None)
def _lexicon(name: str) -> dict:
    """Gives back one word file of agent/words/, parsed."""
    with open(_WORDS_DIR / f"{name}.toml", "rb") as handle:
        return tomllib.load(handle)


def _word_lists(name: str) -> SimpleNamespace:
    """Gives back the word lists of one file of agent/words/ as sets, by name: `_VERBS.remove`."""
    lists = _lexicon(name).items()
    return SimpleNamespace(**{key: frozenset(words.split()) for key, words in lists if isinstance(words, str)})


_GRAMMAR, _SCENE, _LOOKS, _VERBS = (_word_lists(name) for name in ("grammar", "scene", "looks", "verbs"))


_PHRASES = _lexicon("phrases")


def _compiled(text: str, exact_case: bool = False) -> re.Pattern:
    """Gives back a pattern written as in agent/words/phrases.toml compiled: lines joined, fragments filled in."""
    text = "".join(line.lstrip() for line in text.splitlines())
    return re.compile(string.Template(text).safe_substitute(_PHRASES["fragments"]), 0 if exact_case else re.IGNORECASE)


def _pattern(key: str) -> re.Pattern:
    """Gives back one pattern of agent/words/phrases.toml compiled ("commands.undo" names one in a table)."""
    table, _, name = key.rpartition(".")
    return _compiled((_PHRASES[table] if table else _PHRASES)[name], key in _PHRASES["exact_case"])


_RE = SimpleNamespace(**{name: _pattern(name) for name, text in _PHRASES.items() if isinstance(text, str)})
"""Every pattern of agent/words/phrases.toml by its name: `_RE.polite_start`."""


_PERSON_PRONOUNS: dict[str, str] = _lexicon("grammar")["person_pronouns"]
_BINOMIALS = frozenset(_lexicon("grammar")["binomials"])
_IRREGULAR: dict[str, str] = _lexicon("grammar")["irregular"]
_ING_FORMS: dict[str, str] = _lexicon("grammar")["ing_forms"]
_COMPARATIVE_OF: dict[str, str] = _lexicon("grammar")["comparative_of"]

_IMAGE_NOUN = _PHRASES["fragments"]["image_noun"]
_STYLE_PHRASES = tuple(_lexicon("scene")["style_phrases"])
_TIME_PHRASES = tuple(_lexicon("scene")["time_phrases"])
_ASPECTS = frozenset(_lexicon("scene")["aspects"])

_RELATIONS: dict[str, list[str]] = PHRASINGS
_RELATION_OF = {phrase: relation for relation, phrases in _RELATIONS.items() for phrase in phrases}
_RELATION_PATTERN = re.compile(
    r"(?<![\w'])("
    + "|".join(re.escape(phrase).replace(r"\ ", r"\s+") for phrase in sorted(_RELATION_OF, key=len, reverse=True))
    + r")(?![\w'])",
    re.IGNORECASE,
)

_GLOBAL_VERBS = _VERBS.picture | _VERBS.restore | _VERBS.light
_STATE_OF: dict[str, str] = _lexicon("verbs")["state_of"]
_FINISHES = frozenset(_STATE_OF.values())
_REMOVAL_PARTICLES = tuple(
    (frozenset(row["verbs"].split()), _compiled(row["particle"]), _compiled(row["cut"]), row["into"])
    for row in _lexicon("verbs")["removal_particles"]
)
_CLAUSE_VERBS = frozenset(_STATE_OF).union(
    _VERBS.remove,
    _VERBS.reveal,
    _VERBS.add,
    _VERBS.swap,
    _VERBS.change,
    _VERBS.colour,
    _VERBS.size,
    _VERBS.keep,
    _VERBS.slang_remove,
    _VERBS.move,
    _GLOBAL_VERBS,
    _VERBS.dress,
    _VERBS.choose,
    _VERBS.other,
)

_CAPABILITIES = (
    'I can remove things ("remove the dog"), replace them ("replace the cat with a fox"), change how they look '
    '("make the car red"), add things ("add a hat on the dog"), change the background ("put it on a beach") or '
    'the whole picture ("make it look like winter", "make it brighter"); "undo", "redo" and "history" manage '
    "the session."
)
_NO_EDIT_MESSAGE = (
    "I did not find an edit to make in that. " + _CAPABILITIES + " Without an LLM I read English only: "
    "for other languages, or wording I miss, plan with a vision LLM (set CHATEDIT_LLM_BASE_URL to a local "
    "server such as Ollama or vLLM, or CHATEDIT_LLM_API_KEY)."
)
_QUESTION_MESSAGE = (
    "That reads as a question about the picture; without a vision model I can only edit. " + _CAPABILITIES
)


# Words and phrases.

_WORD = re.compile(r"[a-z0-9&]+(?:['’\-][a-z0-9]+)*")
_RESPELLED: dict[str, str] = {**_lexicon("chat")["shorthand"], **_lexicon("chat")["spelling"]}
_RESPELL = re.compile(
    r"(?<![\w'&-])(" + "|".join(map(re.escape, sorted(_RESPELLED, key=len, reverse=True))) + r")(?![\w'&-])",
    re.IGNORECASE,
)


def _respell(text: str) -> str:
    """Gives back chat text with its shorthand and common misspellings written out ("pls remvoe teh bg")."""
    return _RESPELL.sub(lambda match: _RESPELLED[match.group(0).lower()], text)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


_INFLECTIONS = tuple(tuple(rule.split(">")) for rule in "ies>y ied>y ing> ing>e ed> ed>e es> s> d>".split())
"""Suffix>ending rules that undo an inflection: "removing" -> "remov" + "e"."""


@lru_cache(maxsize=4096)
def _lemma(word: str) -> str:
    """Gives back the base form of a verb ("removing" -> "remove"), or the word when it is no verb we know."""
    word = word.lower().replace("’", "'")
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word in _CLAUSE_VERBS:
        return word
    for suffix, ending in _INFLECTIONS:
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            base = word[: -len(suffix)] + ending
            if base in _CLAUSE_VERBS or base in _ING_FORMS:
                return base
            if len(base) > 3 and base[-1] == base[-2] and base[:-1] in _CLAUSE_VERBS:
                return base[:-1]
    return word


def _ing(verb: str) -> str:
    if verb in _ING_FORMS:
        return _ING_FORMS[verb]
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def _past(verb: str) -> str:
    """Gives back how a thing looks after a verb: "blur" -> "blurred", "brighten" -> "brighter"."""
    if verb in _COMPARATIVE_OF:
        return _COMPARATIVE_OF[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y"):
        return verb[:-1] + "ied"
    if len(verb) <= 4 and verb[-1] not in "aeiouwxy" and verb[-2] in "aeiou" and verb[-3] not in "aeiou":
        return verb + verb[-1] + "ed"
    return verb + "ed"


def _head(phrase: Optional[str]) -> str:
    words = _words(phrase or "")
    return words[-1] if words else ""


def _is_plural(phrase: str) -> bool:
    head = _head(phrase)
    return head in {"people", "men", "women", "children", "mice", "geese", "teeth", "feet", "clothes"} or (
        head.endswith("s") and not head.endswith(("ss", "us", "is")) and len(head) > 3
    )


_LEADING_NUMBERS = re.compile(r"^(?:(?:\d+|" + "|".join(_GRAMMAR.numbers) + r")\s+)+", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _strip_determiners(phrase: str, keep_numbers: bool = False) -> str:
    """Gives back a phrase without its leading articles, quantifiers and possessives ("all the red cars")."""
    phrase = phrase.strip()
    while True:
        stripped = _RE.leading_determiners.sub("", phrase)
        if not keep_numbers and _LEADING_NUMBERS.sub("", stripped):
            stripped = _LEADING_NUMBERS.sub("", stripped)
        if stripped == phrase:
            return phrase.strip()
        phrase = stripped


def _indefinite(phrase: str) -> str:
    """Gives back a phrase for a generator prompt: "the pigeon" -> "a pigeon"; "two forks" stays."""
    phrase = re.sub(r"^(?:the|this|that|these|those)\s+", "", phrase.strip(), flags=re.IGNORECASE)
    words = _words(phrase)
    if not words or words[0] in _GRAMMAR.determiners | _GRAMMAR.numbers or words[0].isdigit() or "'s " in phrase:
        return phrase
    if _is_plural(phrase) or words[-1] in _GRAMMAR.mass_nouns or words[0] in _GRAMMAR.mass_nouns:
        return phrase
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def _describe(target: str, look: str) -> str:
    """Gives back a local step's prompt: the target as it should look ("red {}" and "car" -> "a red car")."""
    for kind in (_LOOKS.colours, _LOOKS.materials):
        if any(word in kind for word in _words(look)):
            # The new colour replaces the old one: a red car made blue is "a blue car".
            target = " ".join(word for word in target.split() if word.lower() not in kind) or target
    if look.endswith("{}") and "'s " in target:
        owner, thing = target.rsplit("'s ", 1)
        return f"{owner}'s {look.format(thing)}"
    if look.endswith("{}"):
        return _indefinite(look.format(target))
    return look.format(target)


def _mentions(text: str, words: frozenset[str], phrases: tuple[str, ...] = ()) -> bool:
    """Gives back whether the text holds one of the words (also inside a hyphenated word) or phrases."""
    low = text.lower()
    if any(phrase in low for phrase in phrases):
        return True
    return any(word in words or any(part in words for part in word.split("-")) for word in _words(low))


def _is_global_look(text: str) -> bool:
    """Gives back whether a phrase names a style, season, time of day, weather or lighting."""
    looks = _SCENE.style | _SCENE.seasons | _SCENE.times | _SCENE.weather | _SCENE.lighting
    return _mentions(text, looks, _STYLE_PHRASES + _TIME_PHRASES)


def _is_style_or_time(text: str) -> bool:
    return _mentions(text, _SCENE.style | _SCENE.seasons | _SCENE.times, _STYLE_PHRASES + _TIME_PHRASES)


def _is_look_word(word: str, following: str = "") -> bool:
    """Gives back whether a word says how something looks ("red", "wooden", "bigger"; "sky" only in "sky blue")."""
    if word in _LOOKS.colours or word in _LOOKS.materials or word in _LOOKS.looks or word in _LOOKS.comparatives:
        return True
    if word in _FINISHES:
        # "tiled", "gilded": the state a verb of agent/words/verbs.toml leaves a thing in.
        return True
    return word.endswith(("ish", "-colored", "-coloured")) or (word in _LOOKS.shades and following in _LOOKS.colours)


def _is_attribute(text: str) -> bool:
    """Gives back whether a phrase only says how something looks ("bright red", "a wooden one", "bigger").

    "an orange" is an object; "a deep red" and "a red colour" are colours.
    """
    if re.match(r"^\s*(?:a|an)\s(?!\s*(?:bit|little|lot|touch|tad)\b)", text, re.IGNORECASE):
        named = re.search(r"\b(?:ones?|colou?r|hue|shade|tint|tone|look|finish)\s*$", text, re.IGNORECASE)
        shade = re.match(r"^\s*(?:a|an)\s+(?:[\w-]+\s+)+(?P<colour>[\w-]+)\s*$", text, re.IGNORECASE)
        if not named and not (shade and shade["colour"].lower() in _LOOKS.colours):
            return False
    words = [w for w in _words(text) if w not in _GRAMMAR.determiners and w not in _GRAMMAR.look_filler]
    return bool(words) and all(
        _is_look_word(w, words[i + 1] if i + 1 < len(words) else "") for i, w in enumerate(words)
    )


def _is_image(phrase: str) -> bool:
    """Gives back whether a phrase means the whole picture ("the photo", "it", "everything", nothing).

    A word for the picture that also names a thing, with a word before it that does not describe
    the picture, is the thing: "the wooden frame", "the family photo", "the mirror's frame".
    """
    if re.search(r"\b(?:whole|entire|complete|full)\s+thing\b", phrase, re.IGNORECASE):
        return True
    if re.match(r"^\s*(?:his|her|their)\s+\w", phrase, re.IGNORECASE):
        return False
    words = [w for w in _words(phrase) if w not in _GRAMMAR.articles and w not in _SCENE.picture_modifiers]
    before = words[-2] if len(words) > 1 else ""
    # "the shadow obstructing the photo" names the photo itself.
    clause = before.endswith("ing") and before not in _GRAMMAR.nouns_ending_in_ing
    if words[-1:] and words[-1] in _SCENE.picture_things and before and not clause and not _is_global_look(before):
        return False
    return not words or words[-1] in _SCENE.image_words or words == ["all"]


def _is_pronoun(phrase: str) -> bool:
    return _words(phrase) in (["it"], ["them"], ["this"], ["that"], ["these"], ["those"], ["him"], ["her"])


def _is_background(phrase: str) -> bool:
    """Gives back whether a phrase names the background ("the backdrop", "the background of the dog")."""
    words = [w for w in _words(phrase) if w not in _GRAMMAR.determiners]
    if not words:
        return False
    qualified = len(words) > 1 and words[1] in ("of", "behind", "around")
    return words[-1] in _SCENE.background_words or (words[0] in _SCENE.background_words and qualified)


def _is_weather_thing(phrase: str) -> bool:
    """Gives back whether a removed "object" is weather, lighting or image quality ("the rain streaks").

    "the rain boots" and "the traffic light" are objects: only the head noun, or a vague head noun
    with a weather word before it, counts.
    """
    words = [w for w in _words(phrase) if w not in _GRAMMAR.determiners]
    if not words:
        return False
    head, weather = words[-1], _SCENE.weather | _SCENE.lighting
    if head.endswith("iness") and head[:-5] + "y" in weather:
        # "the graininess", "the blurriness": the quality of a grainy, blurry picture.
        return True
    ambiguous = {"light", "lights", "shade", "reflection", "reflections", "tone", "glow", "storm", "fog", "mist"}
    if (head in weather or any(part in weather for part in head.split("-"))) and head not in ambiguous:
        return True
    if head in ambiguous and len(words) == 1:
        return head in ("storm", "fog", "mist")
    modifiers = weather | {"water", "sunset", "sunlight", "obscured", "hidden", "unclear"}
    return (head in _SCENE.weather_heads or head in ambiguous) and any(
        w in modifiers or any(p in modifiers for p in w.split("-")) for w in words[:-1]
    )


def _is_a_look(thing: str) -> bool:
    """Gives back whether something "added" is a look of the picture ("a vintage filter", "rain", "a sunset")."""
    words = _words(thing)
    if not words:
        return False
    head = words[-1]
    objects = {"light", "lights", "shade", "reflection", "reflections", "shadow", "shadows"} | _SCENE.style_objects
    looks = _SCENE.global_heads | _SCENE.seasons | _SCENE.times | _SCENE.weather | _SCENE.lighting
    looks |= {"sunshine", "sunlight", "moonlight", "lightning"}
    if head in looks - objects:
        return True
    counted = words[0] in _GRAMMAR.numbers or words[0] in ("a", "an", "some", "another")
    return (head in ("light", "lights") or head in _SCENE.style - _SCENE.style_objects) and not counted

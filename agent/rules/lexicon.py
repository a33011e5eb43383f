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
    """Gives back the word lists of one file of agent/words/ as sets, by name: `VERBS.remove`."""
    lists = _lexicon(name).items()
    return SimpleNamespace(**{key: frozenset(words.split()) for key, words in lists if isinstance(words, str)})


GRAMMAR, SCENE, LOOKS, VERBS = (_word_lists(name) for name in ("grammar", "scene", "looks", "verbs"))


PHRASES = _lexicon("phrases")


def _compiled(text: str, exact_case: bool = False) -> re.Pattern:
    """Gives back a pattern written as in agent/words/phrases.toml compiled: lines joined, fragments filled in."""
    text = "".join(line.lstrip() for line in text.splitlines())
    return re.compile(string.Template(text).safe_substitute(PHRASES["fragments"]), 0 if exact_case else re.IGNORECASE)


def phrase_pattern(key: str) -> re.Pattern:
    """Gives back one pattern of agent/words/phrases.toml compiled ("commands.undo" names one in a table)."""
    table, _, name = key.rpartition(".")
    return _compiled((PHRASES[table] if table else PHRASES)[name], key in PHRASES["exact_case"])


RE = SimpleNamespace(**{name: phrase_pattern(name) for name, text in PHRASES.items() if isinstance(text, str)})
"""Every pattern of agent/words/phrases.toml by its name: `RE.polite_start`."""


PERSON_PRONOUNS: dict[str, str] = _lexicon("grammar")["person_pronouns"]
BINOMIALS = frozenset(_lexicon("grammar")["binomials"])
_IRREGULAR: dict[str, str] = _lexicon("grammar")["irregular"]
_ING_FORMS: dict[str, str] = _lexicon("grammar")["ing_forms"]
_COMPARATIVE_OF: dict[str, str] = _lexicon("grammar")["comparative_of"]

IMAGE_NOUN = PHRASES["fragments"]["image_noun"]
_STYLE_PHRASES = tuple(_lexicon("scene")["style_phrases"])
_TIME_PHRASES = tuple(_lexicon("scene")["time_phrases"])
ASPECTS = frozenset(_lexicon("scene")["aspects"])

_RELATIONS: dict[str, list[str]] = PHRASINGS
RELATION_OF = {phrase: relation for relation, phrases in _RELATIONS.items() for phrase in phrases}
RELATION_PATTERN = re.compile(
    r"(?<![\w'])("
    + "|".join(re.escape(phrase).replace(r"\ ", r"\s+") for phrase in sorted(RELATION_OF, key=len, reverse=True))
    + r")(?![\w'])",
    re.IGNORECASE,
)

GLOBAL_VERBS = VERBS.picture | VERBS.restore | VERBS.light
STATE_OF: dict[str, str] = _lexicon("verbs")["state_of"]
_FINISHES = frozenset(STATE_OF.values())
REMOVAL_PARTICLES = tuple(
    (frozenset(row["verbs"].split()), _compiled(row["particle"]), _compiled(row["cut"]), row["into"])
    for row in _lexicon("verbs")["removal_particles"]
)
CLAUSE_VERBS = frozenset(STATE_OF).union(
    VERBS.remove,
    VERBS.reveal,
    VERBS.add,
    VERBS.swap,
    VERBS.change,
    VERBS.colour,
    VERBS.size,
    VERBS.keep,
    VERBS.slang_remove,
    VERBS.move,
    GLOBAL_VERBS,
    VERBS.dress,
    VERBS.choose,
    VERBS.other,
)

CAPABILITIES = (
    'I can remove things ("remove the dog"), replace them ("replace the cat with a fox"), change how they look '
    '("make the car red"), add things ("add a hat on the dog"), change the background ("put it on a beach") or '
    'the whole picture ("make it look like winter", "make it brighter"); "undo", "redo" and "history" manage '
    "the session."
)
NO_EDIT_MESSAGE = (
    "I did not find an edit to make in that. " + CAPABILITIES + " Without an LLM I read English only: "
    "for other languages, or wording I miss, plan with a vision LLM (set CHATEDIT_LLM_BASE_URL to a local "
    "server such as Ollama or vLLM, or CHATEDIT_LLM_API_KEY)."
)
QUESTION_MESSAGE = "That reads as a question about the picture; without a vision model I can only edit. " + CAPABILITIES


# Words and phrases.

_WORD = re.compile(r"[a-z0-9&]+(?:['’\-][a-z0-9]+)*")
_RESPELLED: dict[str, str] = {**_lexicon("chat")["shorthand"], **_lexicon("chat")["spelling"]}
_RESPELL = re.compile(
    r"(?<![\w'&-])(" + "|".join(map(re.escape, sorted(_RESPELLED, key=len, reverse=True))) + r")(?![\w'&-])",
    re.IGNORECASE,
)


def respell(text: str) -> str:
    """Gives back chat text with its shorthand and common misspellings written out ("pls remvoe teh bg")."""
    return _RESPELL.sub(lambda match: _RESPELLED[match.group(0).lower()], text)


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower())


_INFLECTIONS = tuple(tuple(rule.split(">")) for rule in "ies>y ied>y ing> ing>e ed> ed>e es> s> d>".split())
"""Suffix>ending rules that undo an inflection: "removing" -> "remov" + "e"."""


@lru_cache(maxsize=4096)
def lemma_of(word: str) -> str:
    """Gives back the base form of a verb ("removing" -> "remove"), or the word when it is no verb we know."""
    word = word.lower().replace("’", "'")
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word in CLAUSE_VERBS:
        return word
    for suffix, ending in _INFLECTIONS:
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            base = word[: -len(suffix)] + ending
            if base in CLAUSE_VERBS or base in _ING_FORMS:
                return base
            if len(base) > 3 and base[-1] == base[-2] and base[:-1] in CLAUSE_VERBS:
                return base[:-1]
    return word


def ing_form(verb: str) -> str:
    if verb in _ING_FORMS:
        return _ING_FORMS[verb]
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def past(verb: str) -> str:
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


def head_noun(phrase: Optional[str]) -> str:
    words = words_of(phrase or "")
    return words[-1] if words else ""


def is_plural(phrase: str) -> bool:
    head = head_noun(phrase)
    return head in {"people", "men", "women", "children", "mice", "geese", "teeth", "feet", "clothes"} or (
        head.endswith("s") and not head.endswith(("ss", "us", "is")) and len(head) > 3
    )


_LEADING_NUMBERS = re.compile(r"^(?:(?:\d+|" + "|".join(GRAMMAR.numbers) + r")\s+)+", re.IGNORECASE)


@lru_cache(maxsize=4096)
def strip_determiners(phrase: str, keep_numbers: bool = False) -> str:
    """Gives back a phrase without its leading articles, quantifiers and possessives ("all the red cars")."""
    phrase = phrase.strip()
    while True:
        stripped = RE.leading_determiners.sub("", phrase)
        if not keep_numbers and _LEADING_NUMBERS.sub("", stripped):
            stripped = _LEADING_NUMBERS.sub("", stripped)
        if stripped == phrase:
            return phrase.strip()
        phrase = stripped


def indefinite(phrase: str) -> str:
    """Gives back a phrase for a generator prompt: "the pigeon" -> "a pigeon"; "two forks" stays."""
    phrase = re.sub(r"^(?:the|this|that|these|those)\s+", "", phrase.strip(), flags=re.IGNORECASE)
    words = words_of(phrase)
    if not words or words[0] in GRAMMAR.determiners | GRAMMAR.numbers or words[0].isdigit() or "'s " in phrase:
        return phrase
    if is_plural(phrase) or words[-1] in GRAMMAR.mass_nouns or words[0] in GRAMMAR.mass_nouns:
        return phrase
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def described_as(target: str, look: str) -> str:
    """Gives back a local step's prompt: the target as it should look ("red {}" and "car" -> "a red car")."""
    for kind in (LOOKS.colours, LOOKS.materials):
        if any(word in kind for word in words_of(look)):
            # The new colour replaces the old one: a red car made blue is "a blue car".
            target = " ".join(word for word in target.split() if word.lower() not in kind) or target
    if look.endswith("{}") and "'s " in target:
        owner, thing = target.rsplit("'s ", 1)
        return f"{owner}'s {look.format(thing)}"
    if look.endswith("{}"):
        return indefinite(look.format(target))
    return look.format(target)


def mentions(text: str, words: frozenset[str], phrases: tuple[str, ...] = ()) -> bool:
    """Gives back whether the text holds one of the words (also inside a hyphenated word) or phrases."""
    low = text.lower()
    if any(phrase in low for phrase in phrases):
        return True
    return any(word in words or any(part in words for part in word.split("-")) for word in words_of(low))


def is_global_look(text: str) -> bool:
    """Gives back whether a phrase names a style, season, time of day, weather or lighting."""
    looks = SCENE.style | SCENE.seasons | SCENE.times | SCENE.weather | SCENE.lighting
    return mentions(text, looks, _STYLE_PHRASES + _TIME_PHRASES)


def is_style_or_time(text: str) -> bool:
    return mentions(text, SCENE.style | SCENE.seasons | SCENE.times, _STYLE_PHRASES + _TIME_PHRASES)


def is_look_word(word: str, following: str = "") -> bool:
    """Gives back whether a word says how something looks ("red", "wooden", "bigger"; "sky" only in "sky blue")."""
    if word in LOOKS.colours or word in LOOKS.materials or word in LOOKS.looks or word in LOOKS.comparatives:
        return True
    if word in _FINISHES:
        # "tiled", "gilded": the state a verb of agent/words/verbs.toml leaves a thing in.
        return True
    return word.endswith(("ish", "-colored", "-coloured")) or (word in LOOKS.shades and following in LOOKS.colours)


def is_attribute(text: str) -> bool:
    """Gives back whether a phrase only says how something looks ("bright red", "a wooden one", "bigger").

    "an orange" is an object; "a deep red" and "a red colour" are colours.
    """
    if re.match(r"^\s*(?:a|an)\s(?!\s*(?:bit|little|lot|touch|tad)\b)", text, re.IGNORECASE):
        named = re.search(r"\b(?:ones?|colou?r|hue|shade|tint|tone|look|finish)\s*$", text, re.IGNORECASE)
        shade = re.match(r"^\s*(?:a|an)\s+(?:[\w-]+\s+)+(?P<colour>[\w-]+)\s*$", text, re.IGNORECASE)
        if not named and not (shade and shade["colour"].lower() in LOOKS.colours):
            return False
    words = [w for w in words_of(text) if w not in GRAMMAR.determiners and w not in GRAMMAR.look_filler]
    return bool(words) and all(is_look_word(w, words[i + 1] if i + 1 < len(words) else "") for i, w in enumerate(words))


def is_image(phrase: str) -> bool:
    """Gives back whether a phrase means the whole picture ("the photo", "it", "everything", nothing).

    A word for the picture that also names a thing, with a word before it that does not describe
    the picture, is the thing: "the wooden frame", "the family photo", "the mirror's frame".
    """
    if re.search(r"\b(?:whole|entire|complete|full)\s+thing\b", phrase, re.IGNORECASE):
        return True
    if re.match(r"^\s*(?:his|her|their)\s+\w", phrase, re.IGNORECASE):
        return False
    words = [w for w in words_of(phrase) if w not in GRAMMAR.articles and w not in SCENE.picture_modifiers]
    before = words[-2] if len(words) > 1 else ""
    # "the shadow obstructing the photo" names the photo itself.
    clause = before.endswith("ing") and before not in GRAMMAR.nouns_ending_in_ing
    if words[-1:] and words[-1] in SCENE.picture_things and before and not clause and not is_global_look(before):
        return False
    return not words or words[-1] in SCENE.image_words or words == ["all"]


def is_pronoun(phrase: str) -> bool:
    return words_of(phrase) in (["it"], ["them"], ["this"], ["that"], ["these"], ["those"], ["him"], ["her"])


def is_background(phrase: str) -> bool:
    """Gives back whether a phrase names the background ("the backdrop", "the background of the dog")."""
    words = [w for w in words_of(phrase) if w not in GRAMMAR.determiners]
    if not words:
        return False
    qualified = len(words) > 1 and words[1] in ("of", "behind", "around")
    return words[-1] in SCENE.background_words or (words[0] in SCENE.background_words and qualified)


def is_weather_thing(phrase: str) -> bool:
    """Gives back whether a removed "object" is weather, lighting or image quality ("the rain streaks").

    "the rain boots" and "the traffic light" are objects: only the head noun, or a vague head noun
    with a weather word before it, counts.
    """
    words = [w for w in words_of(phrase) if w not in GRAMMAR.determiners]
    if not words:
        return False
    head, weather = words[-1], SCENE.weather | SCENE.lighting
    if head.endswith("iness") and head[:-5] + "y" in weather:
        # "the graininess", "the blurriness": the quality of a grainy, blurry picture.
        return True
    ambiguous = {"light", "lights", "shade", "reflection", "reflections", "tone", "glow", "storm", "fog", "mist"}
    if (head in weather or any(part in weather for part in head.split("-"))) and head not in ambiguous:
        return True
    if head in ambiguous and len(words) == 1:
        return head in ("storm", "fog", "mist")
    modifiers = weather | {"water", "sunset", "sunlight", "obscured", "hidden", "unclear"}
    return (head in SCENE.weather_heads or head in ambiguous) and any(
        w in modifiers or any(p in modifiers for p in w.split("-")) for w in words[:-1]
    )


def is_a_look(thing: str) -> bool:
    """Gives back whether something "added" is a look of the picture ("a vintage filter", "rain", "a sunset")."""
    words = words_of(thing)
    if not words:
        return False
    head = words[-1]
    objects = {"light", "lights", "shade", "reflection", "reflections", "shadow", "shadows"} | SCENE.style_objects
    looks = SCENE.global_heads | SCENE.seasons | SCENE.times | SCENE.weather | SCENE.lighting
    looks |= {"sunshine", "sunlight", "moonlight", "lightning"}
    if head in looks - objects:
        return True
    counted = words[0] in GRAMMAR.numbers or words[0] in ("a", "an", "some", "another")
    return (head in ("light", "lights") or head in SCENE.style - SCENE.style_objects) and not counted

"""Splitting a turn into clauses, putting each in the imperative, and reading its noun phrases."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from chatedit.agent.rules.lexicon import (
    _BINOMIALS,
    _CLAUSE_VERBS,
    _GRAMMAR,
    _LOOKS,
    _PHRASES,
    _RE,
    _RELATION_OF,
    _RELATION_PATTERN,
    _VERBS,
    _is_attribute,
    _is_global_look,
    _is_image,
    _is_look_word,
    _lemma,
    _strip_determiners,
    _words,
)

# Splitting a turn into clauses.

_CLAUSE_SIGNAL = _GRAMMAR.determiners | _GRAMMAR.pronouns | _GRAMMAR.numbers | _GRAMMAR.clause_signal


def _starts_clause(text: str) -> bool:
    """Gives back whether a piece of text starts an edit clause ("make it sunset", "the sky should be pink")."""
    return bool(_RE.copula_start.match(text.strip())) or _starts_with_verb(text)


def _starts_with_verb(text: str) -> bool:
    """Gives back whether a piece of text starts with an edit verb ("make it", "remove the"), lead-ins aside."""
    text = text.strip()
    while True:
        stripped = _RE.lead_in.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    words = _words(text[:80])
    if not words or _lemma(words[0]) not in _CLAUSE_VERBS:
        return False
    if _lemma(words[0]) in _VERBS.noun_like:
        return len(words) > 1 and words[1] in _CLAUSE_SIGNAL
    return True


def _split_clauses(text: str) -> list[str]:
    """Gives back the clauses of a turn, in the order they should be done ("..., but first ..." goes first)."""
    clauses = []
    for sentence in _RE.hard_break.split(text.strip()):
        ordered = [part for part in _RE.but_first.split(sentence) if part.strip()]
        for piece in reversed(ordered):
            for part in _RE.then.split(piece):
                clauses.extend(_soft_split(part))
    return [clause for clause in (c.strip(" ,.!?") for c in clauses) if clause]


def _soft_split(text: str) -> list[str]:
    """Gives back the clauses joined by "and" or "," in a sentence: a new one starts at a new verb."""
    parts, start = [], 0
    for match in _RE.soft_break.finditer(text):
        if match.start() <= start or text[: match.start()].count('"') % 2 == 1:
            continue
        rest = text[match.end() :]
        participle = _words(rest)[:1] and _words(rest)[0].endswith(("ing", "ed"))
        if _starts_clause(rest) and not participle and not _RE.fronted_start.match(text[start : match.start()]):
            parts.append(text[start : match.start()])
            start = match.end()
    parts.append(text[start:])
    return [part for part in parts if part.strip(" ,")]


# Putting a clause in the imperative.

_ORDERS = tuple((getattr(_RE, name), order) for name, order in _PHRASES["orders"].items())
"""Wishes and statements that are orders ("I'd like the car red"): a pattern of `_RE` and the order it gives."""


@lru_cache(maxsize=4096)
def _imperative(clause: str) -> str:
    """Gives back a clause rewritten as a plain command: politeness dropped, passives made active."""
    text = " ".join(clause.replace("’", "'").split())
    while True:
        before = text
        text = _RE.polite_start.sub("", text, count=1)
        text = _RE.want.sub("", text, count=1)
        text = _RE.polite_end.sub("", text).strip()
        text = _RE.out_of_picture.sub(r"remove \g<np>", text)
        text = _RE.in_image.sub("", text).strip(" ,")
        fronted = _RE.fronted.match(text)
        if fronted and not _starts_clause(fronted["pp"]):
            text = f"{fronted['rest']} {fronted['pp']}"
        if text == before:
            break
    text = _RE.make_changes.sub("change", text)
    text = (
        re.sub(r",?\s+(?:and|but)?\s*not\s+(?:the\s+)?[\w -]+$", "", text)
        if re.search(r",\s*(?:but\s+)?not\s", text)
        else text
    )
    means = _RE.by_doing.match(text)
    if means and _lemma(means["how"]) in _CLAUSE_VERBS:
        # "enhance the image by removing the haze": the means is the edit.
        text = f"{_lemma(means['how'])} {means['rest']}"
    for pattern, order in _ORDERS:
        wording = pattern.match(text)
        if wording:
            return order.format_map({part: said or "" for part, said in wording.groupdict().items()})
    text = _RE.ensure.sub("", text)
    if _starts_with_verb(text):
        return text
    return _from_statement(text)


def _from_statement(text: str) -> str:
    """Gives back the order a statement gives: "the dog should be removed" -> "remove the dog"."""
    colour = _RE.colour_first.match(text) or _RE.choose_colour.match(text)
    if colour and colour["colour"].split()[-1].lower() in _LOOKS.colours:
        return f"colour {_RE.possessive_colour.sub('', colour['np'])} {colour['colour']}"
    made = _RE.made_of.match(text)
    if made:
        return f"make {made['np']} {made['how']}"
    passive = _RE.passive.match(text)
    if passive:
        verb, form = _lemma(passive["verb"]), passive["verb"].lower()
        participle = verb in _CLAUSE_VERBS and not (verb in _VERBS.noun_like and form == verb)
        if participle and verb not in _VERBS.keep and not _is_look_word(form) and not _starts_clause(passive["np"]):
            return f"{verb} {passive['np']}{passive['rest']}"
    doing = _RE.does.match(text)
    if doing and (doing["verb"][:-1].lower() in _VERBS.actions or doing["verb"][:-2].lower() in _VERBS.actions):
        # "the man holds a goat".
        does = doing["verb"].lower()
        base = does[:-1] if does[:-1] in _VERBS.actions else does[:-2]
        return f"have {doing['np']} {base}{doing['rest']}"
    copula = _RE.copula.match(text)
    if not copula or _starts_clause(copula["np"]) or _words(copula["np"])[:1] == ["there"]:
        return text
    verb = " ".join((copula["verb"] or "").lower().split())
    np, value, now = copula["np"], copula["value"], (copula["now"] or "").lower()
    if verb in _PHRASES["copula_orders"]:
        return _PHRASES["copula_orders"][verb].format(np=np, value=value)
    if now in ("is", "are"):
        return _from_description(text, np, value)
    if verb.startswith("turn into") or verb == "look like" or now.endswith(("into", "like")):
        return f"turn {np} into {value}"
    return f"make {np} {value}"


def _from_description(text: str, np: str, value: str) -> str:
    """Gives back the order in "the queen is wearing a hat", "the cart is a wagon"; complaints stay as they are."""
    if _RE.complained_look.match(value):
        return text
    if _is_attribute(value) or _is_global_look(value):
        return f"make {np} {value}"
    doing = re.match(r"^(?P<verb>\w+ing)\b", value, re.IGNORECASE)
    if doing and (_lemma(doing["verb"]) != doing["verb"].lower() or doing["verb"].lower()[:-3] in _VERBS.actions):
        subject = {"she": "her", "he": "him", "they": "them"}.get(np.lower(), np)
        return f"have {subject} {value}"
    if _words(np)[0] in ("he", "she", "they") and re.match(r"^(?:a|an)\s", value, re.IGNORECASE):
        return f"turn {_target(np)} into {value}"
    if _words(np)[0] in ("it", "this", "that", "he", "she", "they", "there", "what", "which", "who"):
        return text
    if re.match(r"^(?:a|an)\s", value, re.IGNORECASE) or (_words(np)[0] == "the" and re.fullmatch(r"[\w-]+s", value)):
        return f"turn {np} into {value}"
    if re.match(r"^(?:in|on|at)\s", value, re.IGNORECASE):
        return f"put {np} {value}"
    return text


# Noun phrases.


@lru_cache(maxsize=4096)
def _noun_phrase(text: str, keep_with: bool = True) -> tuple[str, str]:
    """Gives back the short noun phrase a text starts with (no articles) and the text after it.

    "the red car on the left from the image" -> ("left red car", "from the image"). The phrase stops
    at a preposition, a participle or a relative clause, except "of" ("cup of coffee") and, when
    `keep_with`, "with" ("the person with the umbrella"); a comma goes on when a list goes on.
    """
    text = text.strip(" ,.")
    stop = len(text)
    for match in _RE.cut.finditer(text):
        before = _words(text[: match.start()])
        # "the couple to a vineyard": a number word after "the" and before the cut is the noun.
        counted = before[-2:-1] == ["the"] and before[-1] in _GRAMMAR.numbers
        if not counted and not [w for w in before if w not in _GRAMMAR.articles and w not in _GRAMMAR.numbers]:
            continue
        if match.group(0).strip() == "," and _continues_list(text[match.end() :]):
            continue
        stop = match.start()
        break
    for match in re.finditer(r"\s+(\w+ing)\b", text[:stop]):
        word = match.group(1).lower()
        if word not in _GRAMMAR.nouns_ending_in_ing and _lemma(word) != word and len(_words(text[: match.start()])) > 1:
            stop = match.start()
            break
    if not keep_with:
        cut = re.search(r"\s+with\b", text[:stop], re.IGNORECASE)
        stop = cut.start() if cut else stop
    phrase, rest = _strip_determiners(text[:stop]), text[stop:].strip(" ,")
    position = _RE.position.match(rest)
    if position and phrase:
        where = position["where"].lower().replace("-", " ")
        if where not in ("foreground", "background"):
            phrase = f"{where} {phrase}"
        rest = rest[position.end() :].strip(" ,")
    return _unquote(phrase), rest


def _unquote(phrase: str) -> str:
    """Gives back a phrase without the quotes around it; quotes inside stay ('the text "OPEN"')."""
    phrase = phrase.strip()
    if len(phrase) > 1 and phrase[0] == phrase[-1] and phrase[0] in "'\"":
        return phrase[1:-1].strip()
    return phrase.strip("'\"") if phrase.count('"') % 2 or phrase.count("'") == 1 and phrase[-1] == "'" else phrase


def _continues_list(text: str) -> bool:
    """Gives back whether the text after a comma goes on with a list of objects ("the lamp and the rug")."""
    chunk = re.split(r",|\s+and\s+|\s+or\s+", text.strip(), maxsplit=1)[0]
    words = _words(re.sub(r"^(?:and|or)\s+", "", chunk.strip()))
    if not words or len(words) > 5:
        return False
    stops = _GRAMMAR.pronouns - _GRAMMAR.articles | _GRAMMAR.list_stops
    return not any(
        w in stops
        or _lemma(w) in _CLAUSE_VERBS - _VERBS.noun_like
        or (w.endswith("ing") and w not in _GRAMMAR.nouns_ending_in_ing)
        for w in words
    )


def _split_list(phrase: str) -> list[str]:
    """Gives back the items of a coordinated noun phrase.

    "the cat, the dog and the bird" gives three items; "salt and pepper shakers", "black and white
    dog" and "a man wearing a hat and holding a cane" stay one.
    """
    separator = r"\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|&|as well as|plus|along with|or)\s+"
    parts = [part.strip() for part in re.split(separator, phrase) if part.strip()]
    if len(parts) < 2:
        return [phrase]
    items: list[str] = []
    for part in parts:
        first = _words(part)[:1]
        modifier = bool(first) and (
            (first[0].endswith("ing") and first[0] not in _GRAMMAR.nouns_ending_in_ing)
            or first[0] in ("with", "without", "in", "on", "at", "near", "towards", "toward")
        )
        if items and (modifier or _shares_head(items[-1], part)):
            joiner = " and " if len(parts) == 2 or part == parts[-1] else ", "
            items[-1] = f"{items[-1]}{joiner}{part}"
        else:
            items.append(part)
    return items


def _shares_head(left: str, right: str) -> bool:
    """Gives back whether "left and right" is one noun phrase: "salt and pepper shakers", "red and blue car"."""
    left_words, right_words = _words(left), _words(right)
    if not left_words or not right_words:
        return True
    pairs = (f"{left_words[-1]} and {right_words[0]}", f"{' '.join(left_words[-2:])} and {' '.join(right_words[:2])}")
    if any(pair in _BINOMIALS for pair in pairs) or left_words[-1] in _GRAMMAR.determiners:
        return True
    if (
        left_words[-1] in _LOOKS.colours | _LOOKS.shades | _LOOKS.materials | _LOOKS.looks
        and (len(left_words) == 1 or left_words[0] in _GRAMMAR.determiners)
        and right_words[0] not in _GRAMMAR.determiners
    ):
        return True
    counted = _GRAMMAR.determiners | _GRAMMAR.numbers
    return len(left_words) == 1 and len(right_words) > 1 and right_words[0] not in counted


def _target(phrase: str) -> Optional[str]:
    """Gives back a step target from a noun phrase; pronouns stay pronouns, for linking."""
    phrase = _unquote(_strip_determiners(phrase).strip(" ,."))
    low = phrase.lower()
    if low in ("he", "she"):
        return {"he": "him", "she": "her"}[low]
    if low in ("they", "those", "these", "them"):
        return "them"
    if low in ("this", "that", "one", "the one"):
        return "it"
    return phrase or None


def _relation(text: str) -> tuple[Optional[str], Optional[str], str]:
    """Gives back (relation, anchor, the text before them) for where an added object goes.

    "a hat on the dog's head" -> ("on", "dog's head", "a hat"); "a goat on the left" -> ("left of",
    None, "a goat"); "a cat" -> (None, None, "a cat").
    """
    for match in _RELATION_PATTERN.finditer(text):
        if match.start() == 0:
            continue
        relation = _RELATION_OF[" ".join(match.group(1).lower().split())]
        before, after = text[: match.start()].strip(" ,"), text[match.end() :].strip(" ,")
        if relation in ("in the sky", "on the ground"):
            return relation, None, before
        anchor, _ = _noun_phrase(re.sub(r"^(?:the\s+)?(?:existing|other)\s+", "", after, flags=re.IGNORECASE))
        side = _RE.side.fullmatch(after)
        sides = {"left": "left of", "right": "right of", "top": "above", "bottom": "below"}
        if side or not anchor or _is_image(anchor) or anchor.lower() in sides:
            named = sides.get(side["side"].lower() if side else (anchor or "").lower())
            if side and side["owner"]:
                owner = {"his": "him", "her": "her", "their": "them", "its": "it"}.get(side["owner"].lower())
                return named or relation, owner or _target(side["owner"][:-2]), before
            return named or (None if _is_image(anchor or "") else relation), None, before
        return relation, _target(anchor), before
    return None, None, text


def _split_look(rest: str) -> Optional[tuple[str, str]]:
    """Gives back (object, look) for "the red car blue", "it sunset", "the sky more dramatic", or None."""
    words = re.sub(r"\s+in\s+colou?r$", "", rest, flags=re.IGNORECASE).split()
    low = [w.lower().strip(",.") for w in words]
    if len(low) > 2 and low[0] in ("all", "both", "each") and low[1] in _GRAMMAR.determiners:
        words, low = words[1:], low[1:]
    if not words:
        return None
    if low[0] in _GRAMMAR.object_pronouns or (
        low[0] == "her" and (len(low) == 2 or _is_look_word(low[1]) or low[1] in _GRAMMAR.look_starters)
    ):
        return (words[0], " ".join(words[1:])) if len(words) > 1 else None
    start = 1 if low[0] in _GRAMMAR.determiners or low[0] in _GRAMMAR.numbers else 0

    def split(i: int) -> tuple[str, str]:
        return " ".join(words[:i]), " ".join(words[i:])

    # A word that opens a description after the noun: "the sky more dramatic", "the car in red".
    seen_noun = False
    for i in range(start, len(words)):
        word, following = low[i], low[i + 1] if i + 1 < len(low) else ""
        opens = word == "in" and (_is_look_word(following) or _is_global_look(following))
        if seen_noun and (word in _GRAMMAR.look_starters or opens):
            return split(i)
        if word in ("of", "with", "on", "in", "at", "from"):
            seen_noun = False
        elif not _is_look_word(word, following) and word not in ("and", "&") and not word.endswith("'s"):
            seen_noun = True
    # Else the longest tail of look words: "the glass bottle red and white", "the tree autumn".
    i = len(words)
    while i > start + 1 and (
        _is_look_word(low[i - 1], low[i] if i < len(low) else "")
        or _is_global_look(low[i - 1])
        or low[i - 1] in ("and", "&")
    ):
        i -= 1
    while i < len(words) and low[i] in ("and", "&"):
        i += 1
    return split(i) if i < len(words) else None


def _several_looks(rest: str) -> Optional[list[str]]:
    """Gives back the parts of "the car red, the house blue and the sky pink", or None for one look."""
    parts = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", rest)
    if len(parts) < 2:
        return None
    for part in parts:
        look = _split_look(part)
        if look is None or not (_is_attribute(look[1]) or _is_global_look(look[1])) or _is_attribute(look[0]):
            return None
    return parts

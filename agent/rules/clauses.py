"""Splitting a turn into clauses, putting each in the imperative, and reading its noun phrases."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from chatedit.agent.rules.lexicon import (
    BINOMIALS,
    CLAUSE_VERBS,
    GRAMMAR,
    LOOKS,
    PHRASES,
    RE,
    RELATION_OF,
    RELATION_PATTERN,
    VERBS,
    is_attribute,
    is_global_look,
    is_image,
    is_look_word,
    lemma_of,
    strip_determiners,
    words_of,
)

# Splitting a turn into clauses.

CLAUSE_SIGNAL = GRAMMAR.determiners | GRAMMAR.pronouns | GRAMMAR.numbers | GRAMMAR.clause_signal


def starts_clause(text: str) -> bool:
    """Gives back whether a piece of text starts an edit clause ("make it sunset", "the sky should be pink")."""
    return bool(RE.copula_start.match(text.strip())) or starts_with_verb(text)


def starts_with_verb(text: str) -> bool:
    """Gives back whether a piece of text starts with an edit verb ("make it", "remove the"), lead-ins aside."""
    text = text.strip()
    while True:
        stripped = RE.lead_in.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    words = words_of(text[:80])
    if not words or lemma_of(words[0]) not in CLAUSE_VERBS:
        return False
    if lemma_of(words[0]) in VERBS.noun_like:
        return len(words) > 1 and words[1] in CLAUSE_SIGNAL
    return True


def split_clauses(text: str) -> list[str]:
    """Gives back the clauses of a turn, in the order they should be done ("..., but first ..." goes first)."""
    clauses = []
    for sentence in RE.hard_break.split(text.strip()):
        ordered = [part for part in RE.but_first.split(sentence) if part.strip()]
        for piece in reversed(ordered):
            for part in RE.then.split(piece):
                clauses.extend(_soft_split(part))
    return [clause for clause in (c.strip(" ,.!?") for c in clauses) if clause]


def _soft_split(text: str) -> list[str]:
    """Gives back the clauses joined by "and" or "," in a sentence: a new one starts at a new verb."""
    parts, start = [], 0
    for match in RE.soft_break.finditer(text):
        if match.start() <= start or text[: match.start()].count('"') % 2 == 1:
            continue
        rest = text[match.end() :]
        participle = words_of(rest)[:1] and words_of(rest)[0].endswith(("ing", "ed"))
        if starts_clause(rest) and not participle and not RE.fronted_start.match(text[start : match.start()]):
            parts.append(text[start : match.start()])
            start = match.end()
    parts.append(text[start:])
    return [part for part in parts if part.strip(" ,")]


# Putting a clause in the imperative.

_ORDERS = tuple((getattr(RE, name), order) for name, order in PHRASES["orders"].items())
"""Wishes and statements that are orders ("I'd like the car red"): a pattern of `RE` and the order it gives."""


@lru_cache(maxsize=4096)
def as_imperative(clause: str) -> str:
    """Gives back a clause rewritten as a plain command: politeness dropped, passives made active."""
    text = " ".join(clause.replace("’", "'").split())
    while True:
        before = text
        text = RE.polite_start.sub("", text, count=1)
        text = RE.opinion.sub("", text, count=1)
        text = RE.want.sub("", text, count=1)
        text = RE.polite_end.sub("", text).strip()
        text = RE.out_of_picture.sub(r"remove \g<np>", text)
        text = RE.in_image.sub("", text).strip(" ,")
        fronted = RE.fronted.match(text)
        if fronted and not starts_clause(fronted["pp"]):
            text = f"{fronted['rest']} {fronted['pp']}"
        if text == before:
            break
    text = RE.make_changes.sub("change", text)
    text = (
        re.sub(r",?\s+(?:and|but)?\s*not\s+(?:the\s+)?[\w -]+$", "", text)
        if re.search(r",\s*(?:but\s+)?not\s", text)
        else text
    )
    means = RE.by_doing.match(text)
    if means and lemma_of(means["how"]) in CLAUSE_VERBS:
        # "enhance the image by removing the haze": the means is the edit.
        text = f"{lemma_of(means['how'])} {means['rest']}"
    for pattern, order in _ORDERS:
        wording = pattern.match(text)
        if wording:
            return order.format_map({part: said or "" for part, said in wording.groupdict().items()})
    text = RE.ensure.sub("", text)
    if starts_with_verb(text):
        return text
    return _from_statement(text)


def _from_statement(text: str) -> str:
    """Gives back the order a statement gives: "the dog should be removed" -> "remove the dog"."""
    colour = RE.colour_first.match(text) or RE.choose_colour.match(text)
    if colour and colour["colour"].split()[-1].lower() in LOOKS.colours:
        return f"colour {RE.possessive_colour.sub('', colour['np'])} {colour['colour']}"
    made = RE.made_of.match(text)
    if made:
        return f"make {made['np']} {made['how']}"
    passive = RE.passive.match(text)
    if passive:
        verb, form = lemma_of(passive["verb"]), passive["verb"].lower()
        participle = verb in CLAUSE_VERBS and not (verb in VERBS.noun_like and form == verb)
        if participle and verb not in VERBS.keep and not is_look_word(form) and not starts_clause(passive["np"]):
            return f"{verb} {passive['np']}{passive['rest']}"
    doing = RE.does.match(text)
    if doing and (doing["verb"][:-1].lower() in VERBS.actions or doing["verb"][:-2].lower() in VERBS.actions):
        # "the man holds a goat".
        does = doing["verb"].lower()
        base = does[:-1] if does[:-1] in VERBS.actions else does[:-2]
        return f"have {doing['np']} {base}{doing['rest']}"
    copula = RE.copula.match(text)
    if not copula or starts_clause(copula["np"]) or words_of(copula["np"])[:1] == ["there"]:
        return text
    verb = " ".join((copula["verb"] or "").lower().split())
    np, value, now = copula["np"], copula["value"], (copula["now"] or "").lower()
    if verb in PHRASES["copula_orders"]:
        return PHRASES["copula_orders"][verb].format(np=np, value=value)
    if now in ("is", "are"):
        return _from_description(text, np, value)
    if verb.startswith("turn into") or verb == "look like" or now.endswith(("into", "like")):
        return f"turn {np} into {value}"
    return f"make {np} {value}"


def _from_description(text: str, np: str, value: str) -> str:
    """Gives back the order in "the queen is wearing a hat", "the cart is a wagon"; complaints stay as they are."""
    if RE.complained_look.match(value):
        return text
    if is_attribute(value) or is_global_look(value):
        return f"make {np} {value}"
    doing = re.match(r"^(?P<verb>\w+ing)\b", value, re.IGNORECASE)
    if doing and (lemma_of(doing["verb"]) != doing["verb"].lower() or doing["verb"].lower()[:-3] in VERBS.actions):
        subject = {"she": "her", "he": "him", "they": "them"}.get(np.lower(), np)
        return f"have {subject} {value}"
    if words_of(np)[0] in ("he", "she", "they") and re.match(r"^(?:a|an)\s", value, re.IGNORECASE):
        return f"turn {target_of(np)} into {value}"
    if words_of(np)[0] in ("it", "this", "that", "he", "she", "they", "there", "what", "which", "who"):
        return text
    if re.match(r"^(?:a|an)\s", value, re.IGNORECASE) or (words_of(np)[0] == "the" and re.fullmatch(r"[\w-]+s", value)):
        return f"turn {np} into {value}"
    if re.match(r"^(?:in|on|at)\s", value, re.IGNORECASE):
        return f"put {np} {value}"
    return text


# Noun phrases.


@lru_cache(maxsize=4096)
def noun_phrase(text: str, keep_with: bool = True) -> tuple[str, str]:
    """Gives back the short noun phrase a text starts with (no articles) and the text after it.

    "the red car on the left from the image" -> ("left red car", "from the image"). The phrase stops
    at a preposition, a participle or a relative clause, except "of" ("cup of coffee") and, when
    `keep_with`, "with" ("the person with the umbrella"); a comma goes on when a list goes on.
    """
    text = text.strip(" ,.")
    stop = len(text)
    for match in RE.cut.finditer(text):
        before = words_of(text[: match.start()])
        # "the couple to a vineyard": a number word after "the" and before the cut is the noun.
        counted = before[-2:-1] == ["the"] and before[-1] in GRAMMAR.numbers
        if not counted and not [w for w in before if w not in GRAMMAR.articles and w not in GRAMMAR.numbers]:
            continue
        if match.group(0).strip() == "," and _continues_list(text[match.end() :]):
            continue
        stop = match.start()
        break
    for match in re.finditer(r"\s+(\w+ing)\b", text[:stop]):
        word = match.group(1).lower()
        if (
            word not in GRAMMAR.nouns_ending_in_ing
            and lemma_of(word) != word
            and len(words_of(text[: match.start()])) > 1
        ):
            stop = match.start()
            break
    if not keep_with:
        cut = re.search(r"\s+with\b", text[:stop], re.IGNORECASE)
        stop = cut.start() if cut else stop
    phrase, rest = strip_determiners(text[:stop]), text[stop:].strip(" ,")
    position = RE.position.match(rest)
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
    words = words_of(re.sub(r"^(?:and|or)\s+", "", chunk.strip()))
    if not words or len(words) > 5:
        return False
    stops = GRAMMAR.pronouns - GRAMMAR.articles | GRAMMAR.list_stops
    return not any(
        w in stops
        or lemma_of(w) in CLAUSE_VERBS - VERBS.noun_like
        or (w.endswith("ing") and w not in GRAMMAR.nouns_ending_in_ing)
        for w in words
    )


def split_list(phrase: str) -> list[str]:
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
        first = words_of(part)[:1]
        modifier = bool(first) and (
            (first[0].endswith("ing") and first[0] not in GRAMMAR.nouns_ending_in_ing)
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
    left_words, right_words = words_of(left), words_of(right)
    if not left_words or not right_words:
        return True
    pairs = (f"{left_words[-1]} and {right_words[0]}", f"{' '.join(left_words[-2:])} and {' '.join(right_words[:2])}")
    if any(pair in BINOMIALS for pair in pairs) or left_words[-1] in GRAMMAR.determiners:
        return True
    if (
        left_words[-1] in LOOKS.colours | LOOKS.shades | LOOKS.materials | LOOKS.looks
        and (len(left_words) == 1 or left_words[0] in GRAMMAR.determiners)
        and right_words[0] not in GRAMMAR.determiners
    ):
        return True
    counted = GRAMMAR.determiners | GRAMMAR.numbers
    return len(left_words) == 1 and len(right_words) > 1 and right_words[0] not in counted


def target_of(phrase: str) -> Optional[str]:
    """Gives back a step target from a noun phrase; pronouns stay pronouns, for linking."""
    phrase = _unquote(strip_determiners(phrase).strip(" ,."))
    low = phrase.lower()
    if low in ("he", "she"):
        return {"he": "him", "she": "her"}[low]
    if low in ("they", "those", "these", "them"):
        return "them"
    if low in ("this", "that", "one", "the one"):
        return "it"
    return phrase or None


def relation_of(text: str) -> tuple[Optional[str], Optional[str], str]:
    """Gives back (relation, anchor, the text before them) for where an added object goes.

    "a hat on the dog's head" -> ("on", "dog's head", "a hat"); "a goat on the left" -> ("left of",
    None, "a goat"); "a cat" -> (None, None, "a cat").
    """
    for match in RELATION_PATTERN.finditer(text):
        if match.start() == 0:
            continue
        relation = RELATION_OF[" ".join(match.group(1).lower().split())]
        before, after = text[: match.start()].strip(" ,"), text[match.end() :].strip(" ,")
        if relation in ("in the sky", "on the ground"):
            return relation, None, before
        anchor, _ = noun_phrase(re.sub(r"^(?:the\s+)?(?:existing|other)\s+", "", after, flags=re.IGNORECASE))
        side = RE.side.fullmatch(after)
        sides = {"left": "left of", "right": "right of", "top": "above", "bottom": "below"}
        if side or not anchor or is_image(anchor) or anchor.lower() in sides:
            named = sides.get(side["side"].lower() if side else (anchor or "").lower())
            if side and side["owner"]:
                owner = {"his": "him", "her": "her", "their": "them", "its": "it"}.get(side["owner"].lower())
                return named or relation, owner or target_of(side["owner"][:-2]), before
            return named or (None if is_image(anchor or "") else relation), None, before
        return relation, target_of(anchor), before
    return None, None, text


def split_look(rest: str) -> Optional[tuple[str, str]]:
    """Gives back (object, look) for "the red car blue", "it sunset", "the sky more dramatic", or None."""
    words = re.sub(r"\s+in\s+colou?r$", "", rest, flags=re.IGNORECASE).split()
    low = [w.lower().strip(",.") for w in words]
    if len(low) > 2 and low[0] in ("all", "both", "each") and low[1] in GRAMMAR.determiners:
        words, low = words[1:], low[1:]
    if not words:
        return None
    if low[0] in GRAMMAR.object_pronouns or (
        low[0] == "her" and (len(low) == 2 or is_look_word(low[1]) or low[1] in GRAMMAR.look_starters)
    ):
        return (words[0], " ".join(words[1:])) if len(words) > 1 else None
    start = 1 if low[0] in GRAMMAR.determiners or low[0] in GRAMMAR.numbers else 0

    def split(i: int) -> tuple[str, str]:
        return " ".join(words[:i]), " ".join(words[i:])

    # A word that opens a description after the noun: "the sky more dramatic", "the car in red".
    seen_noun = False
    for i in range(start, len(words)):
        word, following = low[i], low[i + 1] if i + 1 < len(low) else ""
        opens = word == "in" and (is_look_word(following) or is_global_look(following))
        if seen_noun and (word in GRAMMAR.look_starters or opens):
            return split(i)
        if word in ("of", "with", "on", "in", "at", "from"):
            seen_noun = False
        elif not is_look_word(word, following) and word not in ("and", "&") and not word.endswith("'s"):
            seen_noun = True
    # Else the longest tail of look words: "the glass bottle red and white", "the tree autumn".
    i = len(words)
    while i > start + 1 and (
        is_look_word(low[i - 1], low[i] if i < len(low) else "")
        or is_global_look(low[i - 1])
        or low[i - 1] in ("and", "&")
    ):
        i -= 1
    while i < len(words) and low[i] in ("and", "&"):
        i += 1
    return split(i) if i < len(words) else None


def several_looks(rest: str) -> Optional[list[str]]:
    """Gives back the parts of "the car red, the house blue and the sky pink", or None for one look."""
    parts = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", rest)
    if len(parts) < 2:
        return None
    for part in parts:
        look = split_look(part)
        if look is None or not (is_attribute(look[1]) or is_global_look(look[1])) or is_attribute(look[0]):
            return None
    return parts


def shared_verb_clauses(verb: str, rest: str) -> Optional[list[str]]:
    """Gives back one clause per object when a verb is shared, else None.

    "paint the door red and the fence green", "turn the apples into pears and the grapes into
    cherries", "give the cat a bow and the dog a collar": every conjunct has the same shape (the
    same preposition, two objects, or an object and its look), so the verb goes with each.
    """
    if any(pair in rest.lower() for pair in BINOMIALS):
        return None
    parts = [part.strip() for part in RE.conjuncts.split(rest) if part.strip()]
    if len(parts) < 2 or any(starts_clause(part) for part in parts[1:]):
        return None
    prepositions = {(m["p"].lower() if m else None) for m in map(RE.gap_preposition.match, parts)}
    lemma = lemma_of(verb.lower())
    shared = (
        (len(prepositions) == 1 and None not in prepositions)
        or (lemma in ("give", "make", "get") and all(RE.double_object.match(part) for part in parts))
        or (
            lemma in VERBS.colour | {"make", "turn", "get"}
            and all(len(words_of(part)) > 1 and is_look_word(words_of(part)[-1]) for part in parts)
        )
    )
    return [f"{verb} {part}" for part in parts] if shared else None

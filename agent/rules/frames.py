"""Steps from clauses: the frame each verb opens, the table that picks it, and the reading of one clause."""

from __future__ import annotations

import re
from typing import Callable, Optional

from chatedit.agent.rules.changes import action, is_hung, split_destination, swapped, transform
from chatedit.agent.rules.clauses import (
    CLAUSE_SIGNAL,
    as_imperative,
    noun_phrase,
    relation_of,
    several_looks,
    shared_verb_clauses,
    split_list,
    split_look,
    starts_with_verb,
    target_of,
)
from chatedit.agent.rules.drafts import Draft, background_step, global_step, local_step, replace_step
from chatedit.agent.rules.kinds import instruction_kind
from chatedit.agent.rules.lexicon import (
    GLOBAL_VERBS,
    GRAMMAR,
    LOOKS,
    RE,
    REMOVAL_PARTICLES,
    SCENE,
    STATE_OF,
    VERBS,
    head_noun,
    indefinite,
    is_a_look,
    is_attribute,
    is_background,
    is_global_look,
    is_image,
    is_look_word,
    is_plural,
    is_pronoun,
    is_style_or_time,
    is_weather_thing,
    lemma_of,
    mentions,
    past,
    strip_determiners,
    words_of,
)
from chatedit.agent.rules.objects import add_frame, colour_frame, remove_frame


def _change(instruction: str, rest: str, verb: str) -> list[Draft]:
    """Frames "change X to Y", "turn X into Y", "replace X with Y" and their kin.

    With no "to": "turn the car red" is a look, "change the background" a new one, "transform it"
    the picture; "replace the cat" a new cat.
    """
    rest = re.sub(r"^(?:out|up|around)\s+", "", rest, flags=re.IGNORECASE)
    if verb in VERBS.swap:
        pairs = swapped(re.sub(r"^out\s+", "", rest, flags=re.IGNORECASE), verb)
        return [draft for old, new in pairs for draft in transform(instruction, old, new)] or _renewed(
            instruction, rest, "replace"
        )
    if verb in ("render", "transport", "project") and is_global_look(rest):
        return global_step(instruction)
    split = split_destination(rest)
    if split:
        return transform(instruction, *split)
    if split_look(rest):
        return _make(instruction, rest)
    return _renewed(instruction, rest, "change")


def _renewed(instruction: str, rest: str, verb: str) -> list[Draft]:
    """Gives back the steps of "replace the cat" (a new cat) or "change the car" (a new look) with nothing new named."""
    phrase, _ = noun_phrase(rest)
    if is_background(phrase):
        return [Draft("background", instruction, prompt="a new background")]
    if verb == "replace":
        return replace_step(instruction, phrase, phrase) if phrase else []
    if not phrase or is_image(phrase):
        return global_step(instruction)
    if is_weather_thing(phrase) or (is_global_look(phrase) and not re.match(r"^(?:a|an|the)\s", rest, re.I)):
        return global_step(instruction)
    return local_step(instruction, phrase, "new {}")


def _make(instruction: str, rest: str, verb: str = "make") -> list[Draft]:
    """Frames "make X Y": a new look (local), a new object (replace), the picture (global), or removal.

    "have", "let" and "get" also say what X does: "have the dog wear a hat", "let a dog join the
    scene", "have the man turn into a statue".
    """
    if verb != "make":
        if re.match(r"^(?:a|an|some|two|three|four|five)\s", rest, re.IGNORECASE):
            return add_frame(instruction, RE.joins.sub(" in", rest, count=1))
        becomes = RE.turns_into.match(rest)
        if becomes:
            return transform(instruction, becomes["np"], becomes["new"])
        return _make(instruction, rest) or action(instruction, rest, anywhere=True)
    rest = re.sub(r"\s+instead$", "", rest.strip(), flags=re.IGNORECASE)
    felt = re.match(r"^(?P<np>.+?)\s+(?:feel|look|seem)\s+(?!like\b)(?P<look>.+)$", rest, re.IGNORECASE)
    if felt and _is_scene(felt["np"]) and not RE.counted.match(felt["look"]):
        # "make the living room feel warmer", "make the beach look more tropical".
        return global_step(instruction)
    # "the whole photo done in crayon" is the photo in crayon.
    made = r"\s+(?:" + "|".join(GRAMMAR.made_as) + r")\s+(?=(?:in|as|like)\s)"
    rest = re.sub(made, " ", rest, count=1, flags=re.IGNORECASE)
    gone = RE.gone_look.match(rest)
    if gone and not is_image(gone["np"]):
        return remove_frame(instruction, gone["np"])
    if re.search(r"\s(?:in\s*to|into|look\s+like|looks\s+like|to\s+look)\s", f" {rest} ", re.IGNORECASE):
        into = split_destination(rest)
        if into:
            return transform(instruction, *into)
    acted = action(instruction, rest)
    if acted:
        return acted
    several = several_looks(rest)
    if several:
        return [draft for part in several for draft in _make(instruction, part)]
    look = split_look(rest)
    if look is None:
        becomes = RE.becomes.match(rest)
        if becomes:
            # "make the man a chef".
            return transform(instruction, becomes["np"], becomes["new"])
        if is_global_look(rest):
            return global_step(instruction)
        look = _last_word_look(rest)
        if look is None:
            return []
    return _made_look(instruction, *look)


def _is_scene(phrase: str) -> bool:
    """Gives back whether a phrase names the place the picture shows ("the room", "the whole place"), not a thing in it."""
    said = noun_phrase(phrase)[0].lower()
    return head_noun(said) in SCENE.places or head_noun(said) in ("place", "scene", "setting")


def _last_word_look(rest: str) -> Optional[tuple[str, str]]:
    """Gives back (thing, look) of "make the ladies robots", "make the lake radioactive": the last word is the look."""
    words = rest.split()
    if len(words) < 2 or words[-1].lower() in GRAMMAR.not_a_look:
        return None
    subject = [w for w in words_of(" ".join(words[:-1])) if w not in GRAMMAR.articles]
    if not subject:
        return None
    return " ".join(words[:-1]), words[-1]


def _made_look(instruction: str, old: str, new: str) -> list[Draft]:
    """Gives back the steps of "make OLD NEW": the picture, the background, a new look or a new object."""
    new = re.sub(r"^(?:look|looks|appear|seem)\s+(?:like\s+)?", "", new, flags=re.IGNORECASE)
    new = re.sub(r"^(?:it|they|he|she)\s*(?:is|are|was|were|'s|'re)\s+", "", new, flags=re.IGNORECASE)
    if is_image(old):
        if is_background(new) or (head_noun(new) in SCENE.places and not is_global_look(new)):
            return background_step(instruction, new)
        if old.lower() in GRAMMAR.object_pronouns - {"everything"} and is_attribute(new) and not is_global_look(new):
            return local_step(instruction, old, new + " {}")
        return global_step(instruction)
    if is_background(old):
        return background_step(instruction, strip_determiners(new) + (" background" if is_attribute(new) else ""))
    words = words_of(old)
    picture_wide = SCENE.global_heads | SCENE.lighting - {"light"} | SCENE.times | SCENE.seasons | SCENE.weather
    if words and words[-1] in picture_wide and len(words) <= 2:
        return global_step(instruction)
    describes = (
        is_attribute(new)
        or is_global_look(new)
        or RE.degree.match(new)
        or (len(words_of(new)) == 1 and words_of(new)[0].endswith(tuple(GRAMMAR.adjective_endings)))
    )
    named = re.search(r"\b(?:hue|colou?r|shade|tint|tone|look)$", new, re.IGNORECASE)
    if not describes or (re.match(r"^(?:a|an)\s", new, re.IGNORECASE) and not named):
        return transform(instruction, old, new)
    look_text = re.sub(r"\s+(?:in\s+)?(?:colou?r|colou?red|hue)$", "", new, flags=re.IGNORECASE)
    look_text = re.sub(r"^(?:a|an)\s+(.+?)\s+(?:hue|colou?r|shade|tint|tone)$", r"\1", look_text, flags=re.IGNORECASE)
    look_text = re.sub(r"^in\s+", "", look_text, flags=re.IGNORECASE)
    phrase, _ = noun_phrase(old)
    return [draft for item in split_list(phrase or old) for draft in local_step(instruction, item, look_text + " {}")]


def _give_split(rest: str) -> Optional[tuple[str, str]]:
    """Gives back (who gets it, what they get): "the man a hat", "them funny hats", "the ivy on the wall a hue"."""
    words = rest.split()
    if len(words) < 2:
        return None
    if words[0].lower() in ("it", "them", "him", "her", "me", "us", "everyone", "everything") and (
        words[1].lower() not in GRAMMAR.noun_after_her
    ):
        return words[0], " ".join(words[1:])
    prepositions = GRAMMAR.give_prepositions
    for i in range(2, len(words)):
        word, before = words[i].lower(), words[i - 1].lower()
        article = word in ("a", "an", "some", "more", "less") or word in GRAMMAR.numbers
        opens = article or (is_look_word(word) and not is_look_word(before))
        if opens and before not in prepositions and before not in GRAMMAR.determiners:
            return " ".join(words[:i]), " ".join(words[i:])
    if len(words) >= 3 and words[0].lower() in GRAMMAR.determiners:
        return " ".join(words[:-1]), words[-1]
    return None


def _give(instruction: str, rest: str, verb: str = "give") -> list[Draft]:
    """Frames "give the man a hat" (add on him), "give the car a red tint" (local), "give it a vintage look"."""
    given_to = re.match(r"^(?P<what>.+?)\s+to\s+(?P<np>.+)$", rest, re.IGNORECASE)
    holder_and_what = (given_to["np"], given_to["what"]) if given_to else _give_split(rest)
    if holder_and_what is None:
        return []
    holder, what = holder_and_what
    if _is_scene(holder) and head_noun(what) in LOOKS.mood_nouns:
        # "give the room a cozy vibe": the room is the whole picture.
        return global_step(instruction)
    if is_background(what):
        return background_step(instruction, what, keep=None if is_image(holder) else target_of(noun_phrase(holder)[0]))
    if is_image(holder) or (is_style_or_time(what) and is_a_look(what)):
        return global_step(instruction)
    phrase, _ = noun_phrase(holder)
    look = RE.given_look.match(what)
    if look:
        template = (
            look["look"] + " {}" if is_attribute(look["look"]) else "{} with " + look["look"] + " " + look["kind"]
        )
        return local_step(instruction, phrase, template)
    looks = any(is_look_word(w) for w in words_of(what))
    if (
        is_attribute(what)
        or head_noun(what) in LOOKS.body_nouns
        or (head_noun(what) in LOOKS.attribute_nouns and looks)
    ):
        return local_step(instruction, phrase, "{} with " + strip_determiners(what, keep_numbers=True))
    added = indefinite(noun_phrase(what)[0] or what)
    return [Draft("add", instruction, prompt=added, anchor=target_of(phrase), relation="on")]


def _adjust(instruction: str, rest: str, verb: str) -> list[Draft]:
    """Frames verbs that adjust a look or a size: "brighten the image" (global), "brighten the sky" (local).

    Also "blur the background", "enlarge the moon", "rotate the image by 90 degrees".
    """
    rest = re.sub(r"^(?:up|down|out)\s+|\s+(?:up|down|out)$", "", RE.measure.sub("", rest), flags=re.IGNORECASE)
    if verb in VERBS.restore or not rest or re.match(r"^(?:with|for|by|through|to|using|in)\b", rest, re.IGNORECASE):
        return global_step(instruction)
    immersed = RE.immersed.match(rest)
    if immersed and verb not in VERBS.light:
        # "infuse the image with watercolours": a mood or a style of the whole picture.
        return global_step(instruction)
    if verb in VERBS.mood and is_style_or_time(rest):
        return global_step(instruction)
    phrase, tail = noun_phrase(rest, keep_with=False)
    if head_noun(phrase) in ("shadows", "highlights", "midtones", "blacks", "whites"):
        return global_step(instruction)
    if is_hung(phrase, tail):
        return local_step(instruction, phrase, past(verb) + " {}")
    if not phrase or is_image(phrase) or is_weather_thing(phrase) or is_global_look(phrase) or is_global_look(rest):
        if phrase and is_background(phrase) and not mentions(phrase, SCENE.weather):
            return [Draft("background", instruction, prompt=f"{past(verb)} background")]
        return global_step(instruction)
    if is_background(phrase):
        return [Draft("background", instruction, prompt=f"{past(verb)} background")]
    if verb in VERBS.mood:
        return global_step(instruction) if is_global_look(instruction) else []
    return local_step(instruction, phrase, past(verb) + " {}")


def _loose(instruction: str, text: str) -> list[Draft]:
    """Frames a clause with no verb we know: "as a watercolor", "more Renaissance", "a cat on the sofa".

    A description of how a thing is now ("the rug is too red") asks for nothing: it names the thing.
    """
    described = RE.focus.match(text)
    if described and described["subject"] and RE.complained_look.match(described["state"]):
        return []
    low = text.lower()
    instead = RE.rather_than.match(text)
    if instead:
        return transform(instruction, instead["old"], instead["new"])
    arrow = RE.arrow.match(text)
    if arrow:
        return transform(instruction, arrow["old"], arrow["new"])
    switched = RE.switched.match(text)
    if switched and not is_image(switched["np"]):
        # "lamps on", "the porch light off".
        return local_step(instruction, noun_phrase(switched["np"])[0], "{} switched " + switched["state"].lower())
    relation, _, new = relation_of(text)
    thing = words_of(new)
    some = thing[:1] != ["the"] and _is_noun_phrase(new) and len(thing) <= 3 and len(words_of(low)) <= 6
    if relation and some and (is_plural(new) or thing[-1] in GRAMMAR.mass_nouns or is_a_look(new)):
        # "birds in the sky", "snow on the cars": something new somewhere.
        added = add_frame(instruction, text, "add")
        if added:
            return added
    if is_global_look(text):
        ignored = GRAMMAR.determiners | GRAMMAR.loose_filler
        concrete = [w for w in words_of(low) if w not in ignored and not is_global_look(w)]
        if len(concrete) <= 2 or re.match(r"^(?:as|in|at|during|more|less|with|like|by|into|to|make)\b", low):
            return global_step(instruction)
    if re.match(r"^(?:as|in the style of|like|more|less|by)\s", low) or is_style_or_time(text):
        return global_step(instruction)
    return _loose_scene_or_thing(instruction, text, relation)


def _loose_scene_or_thing(instruction: str, text: str, relation: Optional[str]) -> list[Draft]:
    """Frames a verbless clause that names a setting, a new thing, or a thing with its look ("the candles lit")."""
    low = text.lower()
    placed = RE.placed.match(text)
    setting = (
        head_noun(noun_phrase(placed["place"])[0]) in SCENE.places or is_background(placed["place"])
        if placed
        else False
    )
    if placed and (setting or RE.counted.match(placed["place"])):
        return background_step(instruction, placed["place"])
    with_what = re.match(r"^(?:with|plus|and)\s+(?P<what>.+)$", text, re.IGNORECASE)
    if with_what:
        return (
            background_step(instruction, with_what["what"])
            if is_background(with_what["what"])
            else add_frame(instruction, with_what["what"], "add")
        )
    if re.match(r"^(?:a|an|some|two|three|four|five|another)\s", low) or (re.match(r"^the\s+[A-Z]", text) and relation):
        # "a cat on the sofa", "the Eiffel Tower behind us".
        return add_frame(instruction, text, "add")
    look = split_look(text)
    held, how = look or ("", "")
    if _is_noun_phrase(held) and not is_attribute(held) and not is_image(held) and is_attribute(how):
        # "the candles lit", "the girl's balloon red", "the curtains in pale yellow".
        return local_step(instruction, noun_phrase(held)[0], re.sub(r"^in\s+", "", how) + " {}")
    colours = [w for w in words_of(low) if w in LOOKS.colours]
    if colours and len(words_of(low)) <= 8:
        # "red for the horse's hue".
        rest = re.sub(r"\b" + re.escape(colours[0]) + r"\b", "", text, count=1, flags=re.IGNORECASE).strip()
        phrase, _ = noun_phrase(re.sub(r"^(?:for|to|on|the\s+colou?r\s+(?:for|of))\s+", "", rest, flags=re.IGNORECASE))
        phrase = RE.possessive_colour.sub("", phrase)
        if phrase and not is_image(phrase):
            return local_step(instruction, phrase, colours[0] + " {}")
    return []


def _is_noun_phrase(text: str) -> bool:
    """Gives back whether a text is only a noun phrase: "the girl's balloon", "birds"; not "pattern the goat"."""
    words = words_of(text)
    if not words or words[0] in GRAMMAR.function_words - GRAMMAR.determiners:
        return False
    # A determiner, a copula or a participle after the first word: a verb came first ("pattern the goat").
    verbs = GRAMMAR.determiners | {"is", "are", "was", "were", "be"}
    if any(w in verbs or (w.endswith("ing") and lemma_of(w) != w) for w in words[1:]):
        return False
    return not noun_phrase(text, keep_with=False)[1]


def parse_clause(clause: str) -> list[Draft]:
    """Gives back the steps of one clause, in order (several for "remove the cat and the dog")."""
    # "new background: a forest" names the edit like a form field.
    clause = RE.labelled.sub(lambda m: f"change the {m['what'].lower()} to ", clause.strip())
    said = RE.polite_end.sub("", RE.polite_start.sub("", clause)).strip() or clause
    text = as_imperative(clause)
    words = words_of(text)
    if not words or RE.negation.match(text) or RE.picture_state.match(text):
        return []
    verb = lemma_of(words[0])
    if verb in VERBS.noun_like and words[0] == verb + "s" and words[1:2] and words[1] not in CLAUSE_SIGNAL:
        # "leaves on the ground", "lights off": a plural noun, not a verb.
        verb = words[0]
    said_verb, *tail = text.split(None, 1)
    rest = tail[0] if tail else ""
    # A wish or a statement lists objects and their looks with no verb: "the door green and the fence red".
    gapped = shared_verb_clauses(said_verb, rest) or (
        None if starts_with_verb(text) else shared_verb_clauses("make", text)
    )
    if gapped:
        return [draft for part in gapped for draft in parse_clause(part)]
    # An instruction-editor kind first, then a verb with its particle, then the frame the verb opens.
    steps = instruction_kind(said, text, verb, rest)
    steps = _particle_frame(said, rest, verb) if steps is None else steps
    if steps is not None:
        return steps
    if verb in _FRAME_OF:
        return _FRAME_OF[verb](said, rest, verb)
    if words[0] not in GRAMMAR.function_words and RE.counted.match(rest) and relation_of(rest)[0]:
        # "stand a giraffe next to the tree", "fly a kite above the park": something new, somewhere.
        return add_frame(said, rest)
    return _loose(said, text)


def _state(instruction: str, rest: str, verb: str) -> list[Draft]:
    """Frames "open the window", "gild the frame", "upholster the chair in velvet": the thing in its new state."""
    coloured = split_look(rest)
    said = coloured and is_attribute(coloured[1]) and not re.match(r"^(?:in|with)\s", coloured[1], re.IGNORECASE)
    look = coloured[1] + " " if said and coloured else ""
    phrase, tail = noun_phrase(coloured[0] if said and coloured else rest, keep_with=False)
    # Only a thing takes a finish: "gild the frame" gilds a frame, "varnish it" the thing meant.
    bare = words_of(rest)[:2] in (["the", phrase.lower()], [phrase.lower()])
    thing = is_pronoun(phrase) or (bare and phrase.lower() in SCENE.picture_things)
    if not phrase or (is_image(phrase) and not thing):
        return global_step(instruction) if is_global_look(instruction) else []
    # "in velvet", "with white icing": what it is finished with; "in the kitchen" says where it is.
    finish = re.match(r"^(?:in|with)\s+(?!(?:the|this|that|his|her|their|its|my)\b)(?P<look>.+)$", tail, re.IGNORECASE)
    how = " " + tail if finish and len(words_of(finish["look"])) <= 3 else ""
    return local_step(instruction, phrase, look + STATE_OF[verb] + " {}" + how)


# Which frame reads a clause, by the clause's verb: a verb listed in several rows goes to the first.
_FRAMES: tuple[tuple[frozenset[str] | set[str], Callable[[str, str, str], list[Draft]]], ...] = (
    (VERBS.keep, lambda instruction, rest, verb: []),
    (frozenset(STATE_OF), _state),
    (VERBS.restore | VERBS.light, _adjust),
    (VERBS.reveal | VERBS.remove, remove_frame),
    (VERBS.swap | VERBS.change, _change),
    ({"make", "have", "let", "get"}, _make),
    ({"give"}, _give),
    (VERBS.dress | VERBS.choose | VERBS.colour, colour_frame),
    (VERBS.add, add_frame),
    (VERBS.size | GLOBAL_VERBS, _adjust),
)


_FRAME_OF = {verb: frame for verbs, frame in reversed(_FRAMES) for verb in verbs}


def _particle_frame(said: str, rest: str, verb: str) -> Optional[list[Draft]]:
    """Frames verbs whose meaning turns on a particle or an article ("get rid of", "take away", "light a")."""
    switched = re.search(r"^(?:on|off)\b|\s(?:on|off)$", rest, re.IGNORECASE)
    if verb in ("turn", "switch", "flick") and switched:
        phrase = noun_phrase(re.sub(r"^(?:on|off)\s+|\s+(?:on|off)$", "", rest, flags=re.IGNORECASE))[0]
        return local_step(said, phrase, "{} switched " + switched.group(0).strip().lower())
    for verbs, particle, cut, into in REMOVAL_PARTICLES:
        if verb in verbs and particle.search(rest):
            return remove_frame(said, cut.sub(into, rest, count=1))
    if verb in ("cut", "crop", "strip", "wipe", "sweep", "clear", "pluck"):
        whole = RE.whole_image.match(rest)
        if whole and verb == "crop":
            return global_step(said)
        if whole:
            return global_step(said) if is_global_look(said) else []
        if verb == "crop" and not re.match(r"^(?:out|away)\b", rest, re.IGNORECASE):
            return _adjust(said, rest, verb)
        return remove_frame(said, rest)
    if verb == "light" and not re.match(r"^(?:up\b|it\b|the\s+(?:image|photo|picture|scene)\b)", rest, re.IGNORECASE):
        if RE.counted.match(rest):
            return add_frame(said, rest, "add")
        return local_step(said, noun_phrase(rest)[0], "lit {}")
    if verb in VERBS.slang_remove and not RE.counted.match(rest) and not re.match(r"^(?:in|into)\b", rest, re.I):
        return remove_frame(said, rest)
    if verb == "hide" and re.search(r"\s(?:with|behind|under)\s", rest):
        return local_step(said, noun_phrase(rest, keep_with=False)[0], "{} covered")
    return None

"""Frames of things taken out, put in or coloured: "remove the dog", "add a hat on him", "paint the door red"."""

from __future__ import annotations

import re

from chatedit.agent.rules.clauses import (
    noun_phrase,
    relation_of,
    split_list,
    split_look,
    target_of,
)
from chatedit.agent.rules.drafts import Draft, background_step, global_step, local_step, replace_step
from chatedit.agent.rules.lexicon import (
    IMAGE_NOUN,
    LOOKS,
    RE,
    SCENE,
    VERBS,
    head_noun,
    indefinite,
    is_a_look,
    is_attribute,
    is_background,
    is_global_look,
    is_image,
    is_pronoun,
    is_style_or_time,
    is_weather_thing,
    mentions,
    strip_determiners,
    words_of,
)
from chatedit.tools.removal import REMOVE_PROMPT


def remove_frame(instruction: str, rest: str, verb: str = "remove") -> list[Draft]:
    """Frames "remove X (from Y)": objects, or weather and lighting ("remove the rain" is global).

    "reveal the hidden details" and "unveil the sky" clear the picture rather than remove a thing.
    """
    if verb in VERBS.reveal and (
        mentions(rest, SCENE.weather | SCENE.lighting | SCENE.revealed) or is_image(noun_phrase(rest)[0])
    ):
        return global_step(instruction)
    rest = re.sub(r"^(?:(?:the|this|my)\s+" + IMAGE_NOUN + r"|it)\s+(?:of|from)\s+", "", rest, flags=re.IGNORECASE)
    rest = RE.removed_particle.sub("", rest)
    rest = re.sub(r"^(?:all\s+)?traces\s+of\s+", "", rest, flags=re.IGNORECASE)
    phrase, tail = noun_phrase(rest)
    if is_pronoun(phrase):
        return [Draft("remove", instruction, target=target_of(phrase), prompt=REMOVE_PROMPT)]
    if phrase.lower() in ("everything", "all", "anything") and RE.removed_from.match(tail):
        # "clear everything off the desk": the things on it.
        phrase = "objects " + tail
    # "remove the photo (from the wall)" names a thing in the picture: the picture cannot leave itself.
    pictured = phrase.lower() in SCENE.picture_things
    if not phrase or (is_image(phrase) and not pictured):
        return global_step(instruction) if is_global_look(instruction) else []
    if is_weather_thing(phrase):
        return global_step(instruction)
    if is_background(phrase):
        return [Draft("background", instruction, prompt="plain white background")]
    # What the object sat on is what the inpainter should paint: "from the table" -> "empty table".
    surface = RE.removed_from.match(tail)
    surface = noun_phrase(surface["np"])[0] if surface else ""
    prompt = f"empty {surface}, {REMOVE_PROMPT}" if surface and not is_image(surface) else REMOVE_PROMPT
    return [Draft("remove", instruction, target=target_of(item), prompt=prompt) for item in split_list(phrase)]


def add_frame(instruction: str, rest: str, verb: str = "add") -> list[Draft]:
    """Frames "add X (on Y)": a new object and where it goes; also a moved subject or a new look.

    "decorate the cake with berries" gives the cake a look, "grace the grass with cows" adds cows
    there; "create an image with the fluidity of watercolour" describes the picture.
    """
    decorated = re.match(r"^(?P<np>.+?)\s+(?:with|in)\s+(?P<what>.+)$", rest, re.IGNORECASE)
    whole = is_image(noun_phrase(rest)[0]) or (decorated and is_image(decorated["np"]))
    if verb in VERBS.decorate and decorated and not whole:
        what = decorated["what"]
        if is_attribute(re.sub(r"\s+(?:hue|colou?r|shade|tint|tone|pigment)$", "", re.sub(r"^(?:a|an)\s+", "", what))):
            return colour_frame(instruction, rest, "colour")
        if verb not in ("grace", "adorn", "populate", "enrich", "enliven") or not (
            RE.counted.match(what) or RE.abstract_of.match(what)
        ):
            return local_step(instruction, noun_phrase(decorated["np"])[0], "{} with " + strip_determiners(what, True))
        rest = f"{what} on {decorated['np']}"
    made = noun_phrase(rest, keep_with=False)[0]
    if verb in VERBS.create and (is_image(made) or head_noun(made) in SCENE.abstract_heads or is_a_look(made)):
        return global_step(instruction) if is_global_look(rest) else []
    rest = re.sub(r"^(?:in|up|on|down)\s+(?=(?:a|an|some|two|three|the)\b)", "", rest, flags=re.IGNORECASE)
    parts = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+(?=(?:a|an|some|another|one|two|three|four|five)\s)", rest)
    if len(parts) > 1 and sum(relation_of(part)[0] is not None for part in parts) > 1:
        # "a cat on the sofa and a dog on the rug": each object has its own place.
        return [draft for part in parts for draft in add_frame(instruction, part)]
    in_place = bool(RE.where_it_was.search(rest))
    rest = RE.where_it_was.sub("", rest)
    instead = RE.instead_of.search(rest)
    if instead:
        new, old = noun_phrase(rest[: instead.start()])[0], noun_phrase(instead["old"])[0]
        return replace_step(instruction, old, new)
    into_image = RE.into_image.match(rest)
    rest = RE.abstract_of.sub("", RE.purpose_tail.sub("", into_image["rest"] if into_image else rest))
    relation, anchor, new = relation_of(rest)
    new = RE.placed_how.sub("", new)
    if is_attribute(new) and anchor and not re.match(r"^(?:a|an|the|this|that)\s", new, re.IGNORECASE):
        # "add more blue to the lake", "add some snow on the roof": the anchor gets a new look.
        scale = LOOKS.colours | LOOKS.shades | {"more", "less", "some", "a", "bit", "little"}
        colours = all(w in scale for w in words_of(new))
        return local_step(
            instruction, anchor, strip_determiners(new) + " {}" if colours else "{} with " + strip_determiners(new)
        )
    if is_a_look(re.sub(r"^(?:the|this|that)\s+", "", new.strip(), flags=re.IGNORECASE)):
        if anchor and not is_image(anchor) and not is_background(anchor):
            return local_step(instruction, anchor, "{} with " + strip_determiners(noun_phrase(new, keep_with=False)[0]))
        return global_step(instruction)
    if not new or (is_image(new) and not RE.counted.match(new)):
        return []
    landmark = head_noun(new) in SCENE.places or re.match(r"^the\s+[A-Z]", new)
    if is_background(new) or (landmark and relation in ("behind", "around", "near")):
        return background_step(instruction, new, keep=anchor if relation in ("behind", "around", "near") else None)
    if anchor and head_noun(new) in LOOKS.pattern_nouns:
        return local_step(instruction, anchor, "{} with " + strip_determiners(new))
    return [
        Draft("add", instruction, prompt=indefinite(item), anchor=anchor, relation=relation, in_place=in_place)
        for item in split_list(new)
    ]


def colour_frame(instruction: str, rest: str, verb: str) -> list[Draft]:
    """Frames "paint the wall blue", "dye the plant in red", "cover X with snow", "dress the girl in yellow"."""
    dressed = re.match(r"^(?P<np>.+?)\s+(?:in|with|up\s+in|up\s+as|as)\s+(?P<what>.+)$", rest, re.IGNORECASE)
    if verb in VERBS.dress and dressed:
        what = re.sub(r"\s+(?:attire|clothes|clothing|outfit)$", "", dressed["what"], flags=re.IGNORECASE)
        look = "{} dressed in " + what if is_attribute(what) else "{} wearing " + indefinite(what)
        return local_step(instruction, noun_phrase(dressed["np"])[0], look)
    if verb in VERBS.choose:
        onto = re.match(r"^(?:for\s+)?(?P<look>.+?)\s+(?:to|on|onto|for)\s+(?P<np>.+)$", rest, re.IGNORECASE)
        if onto and not is_image(onto["np"]) and not is_style_or_time(onto["look"]):
            return colour_frame(instruction, f"{onto['np']} in {onto['look']}", "colour")
        return global_step(instruction) if verb == "apply" or is_global_look(rest) else []
    verb = "cover" if verb in VERBS.dress else verb
    whole = re.match(r"^(?:the\s+)?(?:" + IMAGE_NOUN + r"|scene|everything|it)\b", rest, re.IGNORECASE)
    if verb in ("cover", "coat") and whole and mentions(rest, SCENE.weather):
        return global_step(instruction)
    if verb in ("paint", "draw", "spray") and re.match(r"^(?:a|an|some|two|three|four|five)\s", rest, re.IGNORECASE):
        return add_frame(instruction, rest)
    rest = re.sub(r"\s+in\s+colou?r$", "", rest, flags=re.IGNORECASE)
    onto = RE.onto.match(rest)
    if onto:
        # "paint racing stripes on the car": the car gets them.
        return local_step(instruction, noun_phrase(onto["np"])[0], "{} with " + onto["what"])
    match = re.match(r"^(?P<np>.+?)\s+(?:in|with|into|using|to)\s+(?P<look>.+)$", rest, re.IGNORECASE)
    split = (match["np"], match["look"]) if match else split_look(rest)
    if split is None:
        phrase, _ = noun_phrase(rest)
        if not phrase or (is_image(phrase) and not is_pronoun(phrase)):
            return global_step(instruction)
        return local_step(instruction, phrase, "{} covered" if verb in ("cover", "coat") else "painted {}")
    phrase, look = split
    look = re.sub(r"^(?:a|an|the)\s+", "", look.strip(), flags=re.IGNORECASE)
    look = RE.colour_noun.sub("", look)
    if is_image(phrase) and not is_pronoun(phrase):
        return global_step(instruction)
    if is_background(phrase):
        return [Draft("background", instruction, prompt=f"{look} background")]
    template = "{} covered in " + look if verb in ("cover", "coat") and not is_attribute(look) else look + " {}"
    target, _ = noun_phrase(phrase)
    return [draft for item in split_list(target) for draft in local_step(instruction, item, template)]

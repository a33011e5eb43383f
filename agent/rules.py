"""The rules planner: a Plan from the instruction text alone, with no model.

It reads an edit request the way a person skims one. The turn is cut into clauses (newlines, ";",
sentences, "then", and "and" or "," before a new verb); each clause is put in the imperative
(politeness dropped, "the dog should be removed" -> "remove the dog", "to the left of the man, add
a girl" -> "add a girl to the left of the man"); its verb picks a frame (remove, add, replace or
change, make, colour, give, ...), the frame reads the object and what it should become, and small
word lists (colours, materials, styles, weather, lighting, places) settle the category. It never
sees the image: "it" with nothing before it in the turn stays "it" for the session to resolve.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Literal, Optional

from agent.plan import Plan, Step


def _words_of(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Word lists. Multi-word entries are matched as phrases by `_mentions`.

_DETERMINERS = _words_of(
    "the a an this that these those any all both each every some my your his her its our their another "
    "either neither no"
)
_ARTICLES = _words_of("the a an any all both each every some another either neither no my your our their")
"""Determiners that are never pronouns ("her", "this", "that" can stand alone as the object)."""
_NUMBERS = _words_of("one two three four five six seven eight nine ten eleven twelve dozen several few many multiple couple")
_PRONOUNS = _words_of("it them they him her he she this that these those itself themselves one ones")
_IMAGE_WORDS = _words_of(
    "image images photo photos photograph picture pictures pic pics shot frame scene composition canvas view "
    "visual visuals everything whole entire overall it this that"
)
_BACKGROUND_WORDS = _words_of(
    "background backgrounds backdrop backdrops setting settings surroundings surrounding environment environments "
    "scenery landscape landscapes vista vistas bg location locale ambiance ambience"
)
_PLACES = _words_of(
    "beach beaches seaside sea ocean lake river pond desert deserts jungle forest forests woods rainforest mountain "
    "mountains hills hill field fields meadow plain plains savanna savannah prairie grassland tundra snowland "
    "glacier glaciers arctic antarctica city street streets town village park garden countryside farm farmland "
    "space mars moon room bedroom kitchen bathroom office classroom library studio stadium island "
    "canyon valley cave swamp marsh coast shore harbor harbour market cafe restaurant alley cityscape seascape "
    "skyline wasteland oasis dunes universe galaxy cosmos airport station museum mall school hospital seaside "
    "volcano waterfall lagoon bay cliff cliffs reef countryside suburb suburbs downtown metropolis range ranges road "
    "highway"
)
_COLOURS = _words_of(
    "red blue green yellow orange purple pink brown black white gray grey silver gold golden beige cyan magenta "
    "violet turquoise teal navy maroon crimson scarlet ivory cream tan khaki lavender lilac indigo olive lime mint "
    "peach coral salmon amber bronze copper burgundy emerald ruby sapphire azure colorful colourful rainbow "
    "multicolored multicoloured blonde blond auburn brunette charcoal fuchsia chartreuse aqua navy-blue reddish "
    "bluish greenish yellowish pinkish purplish brownish greyish grayish whitish blackish"
)
_SHADES = _words_of("light dark bright pale deep pastel vivid vibrant neon hot baby sky royal forest lemon blood jet")
_MATERIALS = _words_of(
    "wood wooden metal metallic steel stainless iron gold silver bronze copper brass glass stone marble granite "
    "concrete brick leather plastic rubber paper cardboard ceramic porcelain clay ice crystal diamond fabric cotton "
    "silk wool woolen woollen velvet denim lace fur furry knitted bamboo straw wicker cloth tile tiles terracotta "
    "jade pearl plush felt vinyl chrome aluminum aluminium titanium lego chocolate candy gingerbread sand snow "
    "neon transparent translucent glossy matte shiny rusty golden wooden"
)
_LOOKS = _words_of(
    "striped stripes stripy polka dotted dots checkered checked plaid tartan floral flowery spotted patterned "
    "shiny matte glossy rusty dirty clean wet dry old new broken cracked smooth rough fluffy hairy sparkly "
    "glowing glittery fuzzy furry wrinkled young elderly happy sad angry smiling bald bearded curly straight "
    "long short big small large tiny huge giant tall thin fat thick wide narrow round square open closed empty "
    "full ripe rotten frozen burning melting wrinkly muddy dusty faded bright dark blurry blurred sharp "
    "transparent invisible cartoonish realistic cute scary spooky festive decorated lit unlit colored coloured "
    "painted spotted naked tanned pale sunburnt plain solid pure simple"
)
_COMPARATIVES = _words_of(
    "bigger smaller larger taller shorter wider narrower thinner thicker fatter longer brighter darker lighter "
    "warmer cooler colder hotter happier sadder older younger cleaner dirtier shinier fluffier redder bluer "
    "greener softer sharper clearer higher lower deeper stronger weaker heavier lighter prettier uglier "
    "calmer scarier cuter"
)
_ATTRIBUTE_NOUNS = _words_of(
    "color colour colors colours hue tint shade material texture pattern patterns text content contents number "
    "numbers logo logos topping toppings light lights cover design print label writing words letters lettering "
    "numerals numeral digits digit expression pose posture hairstyle haircut shape size finish fur skin coat "
    "outfit clothing clothes dress style appearance look face paint paintwork decoration decorations sign "
    "caption slogan emblem screen display"
)
_TEXT_NOUNS = _words_of("text writing words letters lettering caption slogan label number numbers numerals numeral digits digit")
_STYLE = _words_of(
    "style styles styled styling stylized stylised watercolor watercolour watercolors watercolours oil acrylic "
    "gouache sketch sketched sketchy drawing drawn pencil charcoal crayon cartoon cartoonish cartoony anime manga "
    "comic comics pixel pixelated pixelart art artwork artistic illustration illustrated impressionist "
    "impressionism expressionist expressionism cubist cubism surreal surrealist surrealism renaissance baroque "
    "rococo gothic vaporwave synthwave cyberpunk steampunk dieselpunk noir sepia vintage retro monochrome "
    "monochromatic grayscale greyscale b&w hdr polaroid photorealistic mosaic origami claymation lowpoly "
    "psychedelic minimalist minimalism abstract pastel filter filters aesthetic aesthetics masterpiece fresco "
    "engraving woodcut etching lithograph pointillism pointillist ghibli pixar disney simpsons lomography "
    "cinematic painterly ukiyo-e ukiyo cel-shaded vector 8-bit 16-bit graffiti tattoo stencil silhouette "
    "cubistic fauvism futurism dadaism art-deco nouveau deco pop-art popart sci-fi dystopian dystopia "
    "futuristic medieval victorian ancient manuscript tapestry needlepoint embroidery doodle chalk pastels "
    "painting paintings painted painter brushstrokes brushstroke strokes canvas"
)
_STYLE_PHRASES = (
    "black and white", "black & white", "oil painting", "pixel art", "pop art", "van gogh", "da vinci",
    "old photo", "old photograph", "stained glass", "low poly", "3d render", "line art", "comic book",
    "studio ghibli", "in the style of", "style of", "old film", "film noir", "art deco", "art nouveau",
)
_SEASONS = _words_of("winter wintry wintertime summer summertime summery autumn autumnal fall spring springtime")
_TIMES = _words_of(
    "night nighttime night-time midnight evening dusk dawn sunrise sunset twilight daytime daylight noon morning "
    "afternoon nightfall sundown daybreak"
)
_TIME_PHRASES = ("golden hour", "blue hour", "night time", "day time", "time of day")
_WEATHER = _words_of(
    "rain rainy raining rainfall raindrop raindrops rainwater drizzle drizzly precipitation wet wetness watery "
    "droplets snow snowy snowing snowfall snowflakes snowflake snow-covered haze hazy haziness haze-free fog foggy "
    "mist misty smog smoggy storm stormy thunderstorm cloudy overcast sunny windy weather atmospheric hail "
    "blizzard sleet frost frosty dehaze defog derain desnow"
)
_LIGHTING = _words_of(
    "brightness bright brighter brighten brightened brightening luminosity luminance luminous illumination "
    "illuminate illuminated radiance brilliance glow lighting exposure contrast saturation saturated "
    "desaturated vibrance vibrancy darkness darker darken dim dimmer lowlight low-light shadowy "
    "shading highlights gamma gloom gloomy visibility clarity sharpness sharp sharper sharpen "
    "noise noisy grain grainy blur blurry blurred deblur unblur denoise fuzz smearing distortion artifacts "
    "artefacts resolution quality tone tones tonal warmth temperature glare reflection reflections vignette "
    "bokeh hues colours colors palette mood atmosphere ambiance ambience lightness dull dullness crisp crisper "
    "brilliant light-levels light appeal"
)
_WEATHER_HEADS = _words_of(
    "area areas part parts section sections portion portions region regions effect effects element elements mood "
    "appearance influence interference overlay overlays streak streaks splatter splatters drop drops droplet "
    "droplets trace traces layer layers weather look feel atmosphere aura ambiance ambience backdrop background "
    "setting obstruction veil shroud particles particle presence detail details features view scene spots "
    "patches cover coating conditions shadows shadow distortion"
)
_RELATIONS: dict[str, tuple[str, ...]] = {
    # relation: the phrasings that mean it. The longest phrasing found first in the text wins.
    "on top of": ("on top of", "on the top of", "at the top of", "to the top of", "atop", "on the upper part of",
                  "on the top side of", "top of"),
    "left of": ("to the left of", "on the left of", "at the left of", "to the left side of", "on the left side of",
                "at the left side of", "on the left-hand side of", "to the far left of", "left of", "left side of",
                "at left of", "on left of", "to left of", "the left of", "left-hand side of"),
    "right of": ("to the right of", "on the right of", "at the right of", "to the right side of", "on the right side of",
                 "at the right side of", "on the right-hand side of", "to the far right of", "right of",
                 "right side of", "at right of", "on right of", "to right of", "the right of", "right-hand side of"),
    "in front of": ("in front of", "front of", "in the front of"),
    "behind": ("behind", "at the back of", "in back of", "back side of"),
    "next to": ("next to", "alongside", "besides", "adjacent to"),
    "beside": ("beside", "by the side of", "at the side of", "to the side of"),
    "above": ("above", "over", "up above", "higher than"),
    "below": ("below", "at the bottom of", "at the foot of", "lower than"),
    "under": ("under", "underneath", "beneath"),
    "near": ("near", "close to", "nearby", "around", "by", "in the vicinity of", "between", "among", "amongst",
             "amidst", "amid", "surrounding"),
    "in the sky": ("in the sky", "into the sky", "up in the sky", "across the sky", "in the air"),
    "on the ground": ("on the ground", "on the floor", "onto the ground", "onto the floor"),
    "on": ("on", "onto", "upon", "on the surface of", "to", "on the back of"),
    "in": ("in", "into", "inside", "inside of", "within", "at", "in the center of", "in the centre of",
           "in the middle of", "throughout", "across"),
}
_RELATION_WORDS = sorted(
    ((phrase, relation) for relation, phrases in _RELATIONS.items() for phrase in phrases), key=lambda pair: -len(pair[0])
)
_RELATION_OF = dict(_RELATION_WORDS)
_RELATION_PATTERN = re.compile(
    r"(?<![\w'])(" + "|".join(re.escape(phrase).replace(r"\ ", r"\s+") for phrase, _ in _RELATION_WORDS) + r")(?![\w'])",
    re.IGNORECASE,
)
_NOUNS_ENDING_IN_ING = _words_of(
    "building buildings painting paintings ceiling clothing ring rings king wing wings string strings swing "
    "spring thing things something nothing everything evening morning wedding pudding stuffing frosting icing "
    "topping toppings filling railing railings awning lighting housing siding bedding landing crossing sibling "
    "darling earring earrings sling sting sibling dumpling dumplings ding ping bling ceiling stocking stockings "
    "sapling seedling duckling ducklings sprinkling wording heading writing drawing drawings carving carvings "
    "sewing living dining parking shopping swimming viking vikings ling"
)
_MASS_NOUNS = _words_of(
    "grass water snow sand hair fur skin sky clothing clothes furniture food juice milk coffee tea wine ice smoke "
    "fire lava light text paint wood metal glass marble stone leather fabric foliage traffic rain fog mist "
    "scenery money broccoli bread cheese meat rice pasta soup salad fruit chocolate cake spaghetti"
)
_SURFACES = _words_of("floor floors ground wall walls surface tabletop countertop pavement carpet wallpaper")
_GLOBAL_HEADS = _words_of(
    "filter filters effect effects look style styles vibe feel aesthetic aesthetics tone tones tint atmosphere mood "
    "touch ambiance ambience lighting light glow makeover treatment grade grading finish version"
)
_ABSTRACT_HEADS = _words_of(
    "narrative composition sense statement impact contrast story vision rendition version interpretation feeling "
    "mood atmosphere effect look feel vibe aesthetic world realm journey essence beauty simplicity piece scene "
    "image picture photo artwork masterpiece visual visuals"
)
_ASPECTS = frozenset(
    ("style", "look", "mood", "atmosphere", "lighting", "light", "season", "weather", "time", "time of day", "colors",
     "colours", "palette", "tone", "tones", "color scheme", "colour scheme", "vibe", "feel", "aesthetic", "ambiance",
     "filter", "overall look", "overall style", "art style", "brightness", "contrast", "saturation", "exposure")
)
"""What a whole picture has: changing one of these ("change the style to ...") is a global edit."""
_PERSON_PRONOUNS = {"him": "man", "he": "man", "her": "woman", "she": "woman"}

# Verb classes: the lemma of a clause's first word picks its frame.
_REMOVE_VERBS = _words_of(
    "remove delete erase eliminate eradicate omit exclude extract purge nullify annihilate obliterate expunge "
    "scrub banish abolish dismiss oust withdraw void cleanse clear wipe rid ditch lose liquidate abandon "
    "disregard expel evict discard exterminate excise efface vanquish dissolve dispel dissipate sweep strip "
    "hide unclutter declutter subtract vanish disappear absorb disentangle annul abrogate devoid detoxify "
    "decontaminate purify liberate free uncover unmask unveil eliminate cut crop pluck lift clean"
)
_ADD_VERBS = _words_of(
    "add insert put place position introduce include incorporate draw sprinkle scatter nestle plant attach stick "
    "hang install create generate embed integrate inject append pop station situate arrange lay seat mount "
    "perch rest tuck affix glide align invite bring spawn toss throw drop set paste superimpose overlay insert "
    "sketch depict show feature grace adorn enrich enliven populate fill decorate use stack pile park build "
    "construct erect establish display visualize visualise imagine envision"
)
_SWAP_VERBS = _words_of("replace swap exchange substitute switch trade")
_CHANGE_VERBS = _words_of(
    "change turn transform convert morph alter modify transmute metamorphose refashion redesign customize "
    "customise adapt revamp reimagine revise recreate remake rework redo update adjust rearrange transport "
    "project evolve shift tweak edit reshape restyle render shape sculpt mold mould"
)
_COLOUR_VERBS = _words_of("color colour recolor recolour paint dye tint tinge shade spray stain coat cover")
_GLOBAL_VERBS = _words_of(
    "brighten lighten darken dim illuminate enhance improve boost increase raise amplify intensify augment "
    "heighten elevate fine-tune finetune perfect optimize optimise correct balance restore sharpen clarify "
    "dehaze defog derain desnow denoise deblur unblur unfog uncloud deveil relight reduce decrease lower soften "
    "saturate desaturate colorize colourize stylize stylise cartoonize vectorize polish refine fix retouch "
    "enrich strengthen reinforce magnify maximize accentuate ameliorate enliven advance amp resurrect infuse "
    "immerse drench evoke craft capture express tell produce convey blend explore dive enter embark highlight "
    "warm cool filter age blacken whiten redden yellow brown blue green"
)
_ALWAYS_GLOBAL_VERBS = _words_of(
    "dehaze defog derain desnow denoise deblur unblur unfog uncloud deveil relight colorize colourize stylize "
    "stylise cartoonize vectorize desaturate saturate brighten lighten darken illuminate"
)
_SIZE_VERBS = _words_of(
    "enlarge shrink resize scale widen stretch rotate flip mirror tilt straighten lengthen shorten thicken "
    "thin grow extend expand magnify reduce elongate squash zoom crop blur move shift relocate"
)
_KEEP_VERBS = _words_of("keep leave preserve retain maintain protect")
_CLAUSE_VERBS = (
    _REMOVE_VERBS | _ADD_VERBS | _SWAP_VERBS | _CHANGE_VERBS | _COLOUR_VERBS | _GLOBAL_VERBS | _SIZE_VERBS
    | _KEEP_VERBS | _words_of("make give have let get take dress clothe wrap ensure apply choose opt pick light photoshop airbrush")
)
# Words that are nouns as often as verbs: they start a new clause only before an article or pronoun.
_NOUN_LIKE_VERBS = _words_of(
    "change turn paint color colour place set light brush fill cover coat drop cut clear take show draw dress "
    "stick shade spray stain plant park pop rest shift seat use filter crop blur lower frame mount station "
    "feature age warm cool tint dye pile stack project mirror scale craft grace produce trade switch perch "
    "brown blue green yellow"
)
_IRREGULAR = {
    "made": "make", "took": "take", "taken": "take", "got": "get", "gotten": "get", "drew": "draw",
    "drawn": "draw", "shown": "show", "hid": "hide", "hidden": "hide", "gave": "give", "given": "give",
    "brought": "bring", "threw": "throw", "thrown": "throw", "laid": "lay", "swept": "sweep", "lost": "lose",
    "grew": "grow", "grown": "grow", "rid": "rid", "dyed": "dye", "dyeing": "dye", "put": "put", "set": "set",
    "cut": "cut", "sat": "sit", "worn": "wear", "wore": "wear", "done": "do", "did": "do", "left": "leave",
    "kept": "keep", "stuck": "stick", "hung": "hang", "undone": "undo", "redone": "redo",
}
_ING_FORMS = {"be": "", "have": "having", "wear": "wearing", "hold": "holding", "sit": "sitting", "run": "running",
              "swim": "swimming", "lie": "lying", "die": "dying", "get": "getting", "put": "putting"}

_REMOVE_PROMPT = "background, empty scene, seamless"
_NO_EDIT_MESSAGE = (
    "I did not find an edit to make in that. I can remove things (\"remove the dog\"), replace them "
    "(\"replace the cat with a fox\"), change how they look (\"make the car red\"), add things (\"add a hat "
    "on the dog\"), change the background (\"put it on a beach\") or the whole picture (\"make it look like "
    "winter\", \"make it brighter\"); \"undo\", \"redo\" and \"history\" manage the session."
)
_QUESTION_MESSAGE = (
    "That reads as a question about the picture; without a vision model I can only edit. " + _NO_EDIT_MESSAGE.split(". ", 1)[1]
)


# Text helpers.

_WORD = re.compile(r"[a-z0-9&]+(?:['’\-][a-z0-9]+)*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _lemma(word: str) -> str:
    """Gives back the base form of a verb ("removing" -> "remove"), or the word when it is no verb we know."""
    word = word.lower().replace("’", "'")
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word in _CLAUSE_VERBS:
        return word
    for suffix, ending in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"),
                           ("es", ""), ("s", ""), ("d", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            base = word[: -len(suffix)] + ending
            if base in _CLAUSE_VERBS or base in _ING_FORMS:
                return base
            if len(base) > 3 and base[-1] == base[-2] and base[:-1] in _CLAUSE_VERBS:
                return base[:-1]
    return word


def _mentions(text: str, words: frozenset[str], phrases: tuple[str, ...] = ()) -> bool:
    """Gives back whether the text holds one of the words (also inside hyphenated words) or phrases."""
    low = text.lower()
    if any(phrase in low for phrase in phrases):
        return True
    for word in _words(low):
        if word in words or any(part in words for part in word.split("-")):
            return True
    return False


def _is_global_look(text: str) -> bool:
    """Gives back whether a phrase names a style, season, time of day, weather or lighting of a picture."""
    return _mentions(text, _STYLE | _SEASONS | _TIMES | _WEATHER | _LIGHTING, _STYLE_PHRASES + _TIME_PHRASES)


def _is_style_or_time(text: str) -> bool:
    return _mentions(text, _STYLE | _SEASONS | _TIMES, _STYLE_PHRASES + _TIME_PHRASES)


def _head(phrase: Optional[str]) -> str:
    words = _words(phrase or "")
    return words[-1] if words else ""


def _is_plural(phrase: str) -> bool:
    head = _head(phrase)
    return head in {"people", "men", "women", "children", "mice", "geese", "teeth", "feet", "clothes"} or (
        head.endswith("s") and not head.endswith(("ss", "us", "is")) and len(head) > 3
    )


def _strip_determiners(phrase: str, keep_numbers: bool = False) -> str:
    """Gives back a phrase without its leading articles, quantifiers and possessive pronouns."""
    pattern = r"^(?:(?:all|both|each|every|any|some|either)\s+(?:of\s+)?|(?:the|a|an|this|that|these|those|my|your|our|their|its|his|her|another|no|existing|entire|whole|other|same)\s+|(?:a\s+)?(?:couple|pair|bunch|group|few|lot|number)\s+of\s+(?=\w+s\b)"
    if not keep_numbers:
        pattern += r"|(?:\d+|" + "|".join(_NUMBERS) + r")\s+"
    pattern += r")+"
    return re.sub(pattern, "", phrase.strip(), flags=re.IGNORECASE).strip()


def _indefinite(phrase: str) -> str:
    """Gives back a phrase for a generator prompt: "the pigeon" -> "a pigeon", "two forks" stays."""
    phrase = re.sub(r"^(?:the|this|that|these|those)\s+", "", phrase.strip(), flags=re.IGNORECASE)
    first = _words(phrase)[:1]
    if not first or first[0] in _DETERMINERS | _NUMBERS or first[0].isdigit() or "'s " in phrase:
        return phrase
    if _is_plural(phrase) or _head(phrase) in _MASS_NOUNS or _words(phrase)[0] in _MASS_NOUNS:
        return phrase
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def _describe(target: str, look: str) -> str:
    """Gives back a local step's prompt: how the target should look ("red {}" + "car" -> "a red car")."""
    for replaced in (_COLOURS, _MATERIALS):
        if any(word in replaced for word in _words(look)):
            # The new colour replaces the old one: "red car" made blue is "a blue car".
            target = " ".join(word for word in target.split() if word.lower() not in replaced) or target
    if look.endswith("{}") and "'s " in target:
        owner, thing = target.rsplit("'s ", 1)
        return f"{owner}'s {look.format(thing)}"
    if look.endswith("{}"):
        return _indefinite(look.format(target))
    return look.format(target)


def _ing(verb: str) -> str:
    if verb in _ING_FORMS:
        return _ING_FORMS[verb]
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


# Session commands and questions.

_COMMANDS = {
    "undo": re.compile(
        r"^(?:undo|revert|go back|step back|roll ?back|take (?:that|it) back|cancel|put it back|"
        r"back|restore(?: the)? previous(?: version| image| one)?|go back to the previous(?: version| image| one)?)"
        r"(?: (?:that|it|this|please|(?:the|my|your|that)? ?(?:last|previous|latest)(?: \w+){0,2}|"
        r"one step|a step|the change|the edit|that change|that edit))*$"
    ),
    "redo": re.compile(r"^(?:redo|re-do|redo that|do (?:that|it) again|reapply|re-apply|go forward)(?: (?:that|it|please|the last(?: \w+)?|the undone(?: \w+)?|the edit|the change))*$"),
    "history": re.compile(
        r"^(?:(?:show|list|display|print|give|tell)(?: me)?(?: the| my| our)? (?:edit |session |change )?"
        r"(?:history|edits|changes|versions|log)(?: so far)?|history|edit history|versions|"
        r"what (?:have you|did you|have we) (?:done|changed|edited)(?: so far)?)$"
    ),
}


def parse_command(text: str) -> Optional[Literal["undo", "redo", "history"]]:
    """Gives back the session command a message asks for ("undo that", "/redo", "show the history"), or None."""
    words = " ".join(_words(text.lower().replace("/", " ").replace("’", "'")))
    words = re.sub(r"^(?:please|ok|okay|hmm|no|nah|oops|ugh|actually|just|can you|could you|would you)\s+", "", words)
    words = re.sub(r"\s+(?:please|thanks|thank you)$", "", words)
    for name, pattern in _COMMANDS.items():
        if pattern.match(words):
            return name
    return None


_ASKING = re.compile(
    r"^(?:what|what's|whats|which|who|who's|whose|whom|where|where's|when|why|how|how's|is|are|was|were|am|do|"
    r"does|did|has|have|had|can|could|should|would|will|may|might|shall|describe|tell me|explain|count|identify|"
    r"name|list the|caption)\b"
)
_REQUEST = re.compile(
    r"^(?:would you mind|do you mind|(?:can|could|would|will|won't|wouldn't)\s+(?:you|we|u)|is it possible to|"
    r"is there a way to|could i ask you to|can i ask you to|can i get you to|would it be possible to|"
    r"why not|why don't you|how about|what about|what if|imagine if|imagine|suppose|may i ask you to|shall we|should we|should i|"
    r"can i|could i)\s+(?:please\s+|kindly\s+|maybe\s+|possibly\s+|just\s+|try to\s+)*"
)


def is_question(text: str) -> bool:
    """Gives back whether a message asks about the picture rather than asking for an edit.

    "what is in this picture?" and "how many cats are there?" are questions; "can you remove the
    cat?" and "could you make it brighter?" are edits phrased as questions.
    """
    low = " ".join(text.lower().replace("’", "'").split())
    low = re.sub(r"^(?:hey|hi|hello|ok|okay|so|and|but|um|hmm|well|please)[,!.]?\s+", "", low)
    if not low or parse_command(low):
        return False
    request = _REQUEST.match(low)
    if request:
        rest = low[request.end():]
        return not _starts_clause(rest) and not _edit_like(rest) and not _edit_like(low)
    if _WISH.match(low) and _edit_like(low):
        return False
    asking = _ASKING.match(low)
    if asking:
        # "have the dog wear a hat" is an order; "have you seen it?" and "can it fly?" ask.
        aux = asking.group(0) in ("has", "have", "had", "can", "could", "should", "would", "will", "may", "might", "shall")
        subject = re.match(r"^\S+\s+(?:you|i|we|they|he|she|it|there|this|that|u)\b", low)
        return not aux or low.endswith("?") or bool(subject)
    if low.endswith("?"):
        return not _edit_like(low)
    return False


_WISH = re.compile(
    r"^(?:(?:can|could|would|should)\s+(?P<np>(?:the|this|that|his|her|their|its|my|it)\b.*?)\s+(?:be|become|look|get)|"
    r"(?:what\s+if|imagine\s+if|imagine|suppose|pretend)\s+(?P<subject>.+?)\s+(?:was|were|is|are|became|could\s+be|would\s+be|had))"
    r"\s+(?P<look>.+?)\??$",
    re.IGNORECASE,
)
"""A wish phrased as a question: "can the sky be bluer?", "what if the dog was a cat?"."""


def _edit_like(text: str) -> bool:
    """Gives back whether a sentence reads as an edit request once polite wording is set aside."""
    return bool(_parse_clause(text, None)) and _starts_clause(_imperative(text))


# Splitting a turn into clauses.

_HARD_BREAK = re.compile(r"\s*(?:[\n;]+|(?<=[a-z0-9)\"'\]][.!?])\s+(?=\S))\s*", re.IGNORECASE)
_THEN = re.compile(
    r"\s*,?\s*\b(?:and\s+)?(?:then|after that|afterwards|after which|finally|lastly|subsequently|next\s*,)\b\s*,?\s*"
    r"|\s*,?\s*\band\s+also\b\s*|\s*\.\s*(?=(?:also|then)\b)",
    re.IGNORECASE,
)
_BUT_FIRST = re.compile(r"\s*,?\s*\b(?:but\s+first|but\s+before\s+that|before\s+that)\b\s*,?\s*", re.IGNORECASE)
_SOFT_BREAK = re.compile(
    r"\s*,\s*(?:and\s+|but\s+|plus\s+|while\s+|also\s+)?|\s+(?:and|but|plus|&|while|as well as|and please|and also)\s+",
    re.IGNORECASE,
)
_COPULA_START = re.compile(
    r"^(?:(?:the|a|an|this|that|these|those|its|his|her|their|my|your|it|they|he|she|there)\b[\w'’ -]{0,40}?)\s+"
    r"(?:should|must|shall|needs? to|has to|have to|ought to|is to|are to|will|would)\s+(?:be|become|turn|look|appear|get|have|go|disappear|vanish)\b",
    re.IGNORECASE,
)
_LEAD_IN = re.compile(
    r"^(?:also|then|please|now|just|additionally|next|finally|lastly|kindly|maybe|and|i want you to|"
    r"i'd like you to|let's|let us|could you|can you|would you)\b[\s,]*",
    re.IGNORECASE,
)
_CLAUSE_SIGNAL = _DETERMINERS | _PRONOUNS | _words_of("away out off up rid everything something")


def _starts_clause(text: str) -> bool:
    """Gives back whether a piece of text starts a new edit clause ("make it sunset", "the sky should be pink")."""
    return bool(_COPULA_START.match(text.strip())) or _starts_with_verb(text)


def _starts_with_verb(text: str) -> bool:
    """Gives back whether a piece of text starts with an edit verb ("make it", "remove the"), lead-ins aside."""
    text = text.strip()
    while True:
        stripped = _LEAD_IN.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    words = _words(text[:80])
    if not words:
        return False
    lemma = _lemma(words[0])
    if lemma not in _CLAUSE_VERBS:
        return False
    if lemma in _NOUN_LIKE_VERBS:
        return len(words) > 1 and (words[1] in _CLAUSE_SIGNAL or words[1] in _NUMBERS)
    return True


def _split_clauses(text: str) -> list[str]:
    """Gives back the clauses of a turn, in the order they should be done."""
    clauses = []
    for sentence in _HARD_BREAK.split(text.strip()):
        ordered = [part for part in _BUT_FIRST.split(sentence) if part.strip()]
        for piece in reversed(ordered) if len(ordered) > 1 else ordered:
            for part in _THEN.split(piece):
                clauses.extend(_soft_split(part))
    return [clause for clause in (c.strip(" ,.!?") for c in clauses) if clause]


def _soft_split(text: str) -> list[str]:
    parts, start = [], 0
    for match in _SOFT_BREAK.finditer(text):
        if match.start() <= start or _inside_quotes(text, match.start()):
            continue
        rest = text[match.end():]
        if _starts_clause(rest) and not _words(rest)[0].endswith(("ing", "ed")) and not _FRONTED_START.match(text[start:match.start()]):
            parts.append(text[start:match.start()])
            start = match.end()
    parts.append(text[start:])
    return [part for part in parts if part.strip(" ,")]


_FRONTED_START = re.compile(
    r"^\s*(?:to|on|at|in|into|onto|atop|above|below|beneath|under|underneath|behind|beside|near|next to|within|"
    r"inside|in front of|on top of|between|instead of|in place of|over|across|around|along|from|for)\b",
    re.IGNORECASE,
)


def _inside_quotes(text: str, position: int) -> bool:
    return text[:position].count('"') % 2 == 1


# Putting a clause in the imperative.

_IMAGE_NOUN = r"(?:image|photo|photograph|picture|pic|shot|frame|visual|visual content|visual representation)"
_POLITE_START = re.compile(
    r"^(?:please|pls|plz|kindly|now|ok(?:ay)?|so|also|and|then|next|first(?:ly)?|second(?:ly)?|third(?:ly)?|"
    r"finally|lastly|just|simply|hey|hi|hello|yes|alright|gently|carefully|subtly|quickly|seamlessly|"
    r"would you mind|do you mind|(?:can|could|would|will|won't)\s+(?:you|we|i|u)|would it be possible to|"
    r"is it possible to|is there a way to|(?:i|we)(?:\s+want|\s+need|\s+would\s+like|'d\s+like|\s+wish|\s+would\s+love|'d\s+love)\s+(?:you\s+)?to|"
    r"let'?s|let us|we should|we need to|we must|you should|you need to|you must|you can|try to|try and|go ahead and|"
    r"help me|make sure to|be sure to|remember to|don't forget to|it'?s time to|it is time to|feel free to|"
    r"i'?d appreciate it if you (?:could|would)|it would be (?:nice|great|good|cool) (?:to|if you could)|"
    r"how about|what about|why not|why don't you|what if you|i think you should|maybe|perhaps|"
    r"(?:edit|modify|change|alter|adjust|update|fix) (?:the|this|my) " + _IMAGE_NOUN + r" (?:to|so that|so|such that)|"
    r"in (?:the|this|my) " + _IMAGE_NOUN + r"|from (?:the|this|my) " + _IMAGE_NOUN + r"|on (?:the|this|my) " + _IMAGE_NOUN
    + r")\b[\s,:]*",
    re.IGNORECASE,
)
_WANT = re.compile(
    r"^(?:i|we)(?:\s+want|\s+need|\s+would\s+like|'d\s+like|\s+wish\s+for|\s+would\s+love|'d\s+love|\s+would\s+prefer|'d\s+prefer|"
    r"\s+prefer)(?:\s+to\s+(?:have|see))?\s+(?=\S)",
    re.IGNORECASE,
)
_POLITE_END = re.compile(
    r"[\s,]*(?:[.!?]+|please|thanks|thank you|for me|(?:would|will|could|might)\s+(?:be|look)\s+(?:nice|great|good|cool|better|"
    r"lovely|awesome|fun|perfect|amazing)|a\s+(?:little|bit|lot|touch|tad)(?:\s+more)?|slightly|somewhat|"
    r"a\s+little\s+bit|if (?:possible|present|applicable|any|you can|you could|"
    r"there (?:is|are) (?:one|any))|as well|too|also)$",
    re.IGNORECASE,
)
_IN_IMAGE = re.compile(
    r"\s+(?:in|of|from|within|on|across|throughout|into|to|onto)\s+(?:the|this|that|my|our|your)\s+"
    + _IMAGE_NOUN + r"(?:'s\s+(?:composition|scene|scenery|setting|frame))?"
    r"(?=\s*$|\s*[,.;!?]|\s+(?:to|into|and|so|with|by|for|that|which|if|while|as|in|on|at|from|of|is|are|should|must|"
    r"has|have|through|using|without)\b)",
    re.IGNORECASE,
)
_MAKE_CHANGES = re.compile(
    r"^(?:make|do|apply)\s+(?:some\s+|any\s+|a\s+few\s+)?(?:adjustments|changes|modifications|alterations|edits|tweaks)\s+to\b",
    re.IGNORECASE,
)
_FRONTED = re.compile(
    r"^(?P<pp>(?:to|on|at|in|into|onto|atop|above|below|beneath|under|underneath|behind|beside|near|next to|"
    r"within|inside|in front of|on top of|between|instead of|in place of|over|across|around|along)\b[^,]{1,80}),\s*(?P<rest>.+)$",
    re.IGNORECASE,
)
_NO_MORE = re.compile(
    r"^(?:(?:ensure|make\s+sure|check|verify|confirm|see\s+to\s+it)\s+(?:that\s+)?)?(?:there\s+(?:is|are|'s|should\s+be|"
    r"must\s+be|will\s+be|shall\s+be|would\s+be)\s+no|there's\s+no|no\s+more|no(?!\s*,|\s+(?:wait|thanks|worries|problem|sorry|need|way|idea)\b)|without|the\s+absence\s+of|"
    r"(?:i|we)\s+(?:don't|do\s+not|no\s+longer|won't)\s+(?:want|need|like)|"
    r"(?:the\s+)?(?:image|photo|picture|scene)\s+(?:does\s+not|doesn't|should\s+not|shouldn't|must\s+not|won't|will\s+not)\s+"
    r"(?:feature|contain|include|show|have|display|depict))\s+(?P<np>.+)$",
    re.IGNORECASE,
)
_THERE_BE = re.compile(
    r"^(?:let\s+there\s+be|there\s+(?:should|must|could|will|would|might|shall)\s+be|there\s+(?:is|are)\s+now)\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_BY_DOING = re.compile(r"^.+?\s+(?:by|through|via)\s+(?P<how>\w+ing)\s+(?P<rest>.+)$", re.IGNORECASE)
_ENSURE = re.compile(r"^(?:ensure|make sure|see to it|check)\s+(?:that\s+)?", re.IGNORECASE)
_PASSIVE = re.compile(
    r"^(?P<np>.+?)\s+(?:(?:should|must|shall|will|would|could|can|may|might|needs?\s+to|has\s+to|have\s+to|ought\s+to|"
    r"is\s+to|are\s+to|is\s+going\s+to|are\s+going\s+to)\s+(?:be|get)|has\s+been|have\s+been|had\s+been|is\s+being|"
    r"are\s+being|is|are|was|were|gets|get|got)\s+(?P<verb>[a-z]+)\b(?P<rest>.*)$",
    re.IGNORECASE,
)
_COPULA = re.compile(
    r"^(?P<np>.+?)\s+(?:(?:should|must|shall|will|would|could|can|may|might|needs?\s+to|has\s+to|have\s+to|ought\s+to|is\s+to|"
    r"are\s+to|is\s+going\s+to|are\s+going\s+to)\s+(?P<verb>be|become|turn\s+into|turn|look\s+like|look|appear|seem|get|"
    r"take\s+on|have|go\s+away|go|disappear|vanish|wear|shine\s+in|shine|adopt|stay|remain)|(?P<now>is\s+now|are\s+now|"
    r"now\s+is|now\s+are|becomes|become|turns\s+into|turns|now\s+looks\s+like|looks\s+like|is|are))\b\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_COLOUR_FIRST = re.compile(
    r"^(?P<colour>(?:(?:light|dark|bright|pale|deep)\s+)?[a-z]+)\s+(?:(?:shall|should|will|must|would|is|could)\s+)?"
    r"(?:be\s+the\s+(?:new\s+)?(?:colou?r|hue|shade)\s+(?:of|for)|be|adorn|cover|grace|colou?r|paint|dominate|fill|"
    r"is\s+the\s+(?:colou?r|hue|shade)\s+(?:of|for)|for)\s+(?P<np>.+)$",
    re.IGNORECASE,
)
_CHOOSE_COLOUR = re.compile(
    r"^(?:opt|choose|pick|select|go|use|apply|settle)\s+(?:for\s+|with\s+|on\s+)?(?:a\s+|an\s+|the\s+)?"
    r"(?P<colour>(?:(?:light|dark|bright|pale|deep)\s+)?[a-z]+)(?:\s+(?:colou?r|hue|shade|tint|tone|paint|pigment))?\s+"
    r"(?:for|to|on)\s+(?P<np>.+)$",
    re.IGNORECASE,
)
_POSSESSIVE_COLOUR = re.compile(r"'s\s+(?:new\s+)?(?:colou?r|hue|shade|tint)\b", re.IGNORECASE)


def _imperative(clause: str) -> str:
    """Gives back a clause rewritten as a plain command: politeness dropped, passives made active."""
    text = " ".join(clause.replace("’", "'").split())
    for _ in range(6):
        before = text
        text = _POLITE_START.sub("", text, count=1)
        text = _WANT.sub("", text, count=1)
        text = _POLITE_END.sub("", text).strip()
        text = _IN_IMAGE.sub("", text).strip(" ,")
        fronted = _FRONTED.match(text)
        if fronted and not _starts_clause(fronted["pp"]):
            text = f"{fronted['rest']} {fronted['pp']}"
        if text == before:
            break
    text = _MAKE_CHANGES.sub("change", text)
    wished = _WISH.match(text)
    if wished:
        return f"make {wished['np'] or wished['subject']} {wished['look']}"
    to_be = re.match(r"^(?P<np>(?:the|this|that|his|her|their|its|my|it|them|him)\b.*?)\s+to\s+(?:be|look|become|appear|get)\s+(?P<look>.+)$", text, re.IGNORECASE)
    if to_be and to_be["np"].split()[-1].lower() not in ("ought", "has", "have", "need", "needs", "going", "is", "are", "used"):
        return f"make {to_be['np']} {to_be['look']}"
    means = _BY_DOING.match(text)
    if means and _lemma(means["how"]) in _CLAUSE_VERBS:
        text = f"{_lemma(means['how'])} {means['rest']}"
    no_more = _NO_MORE.match(text)
    if no_more:
        return f"remove {no_more['np']}"
    gone = re.match(
        r"^(?P<np>(?:the|this|that|these|those|all|his|her|their|its|my)\b.+?)(?:\s+(?:is|are|was|were|must|should|shall|will|"
        r"would|needs?|has|have|ought)(?:\s+to)?(?:\s+be|\s+been)?)?\s+(?:gone|removed|deleted|erased|"
        r"out\s+of\s+(?:the\s+)?(?:picture|photo|image|shot|frame))$",
        text, re.IGNORECASE,
    )
    if gone:
        return f"remove {gone['np']}"
    there = _THERE_BE.match(text)
    if there:
        return f"add {there['rest']}"
    text = _ENSURE.sub("", text)
    if _starts_with_verb(text):
        return text
    colour = _COLOUR_FIRST.match(text)
    if colour and colour["colour"].split()[-1].lower() in _COLOURS:
        return f"colour {_POSSESSIVE_COLOUR.sub('', colour['np'])} {colour['colour']}"
    chosen = _CHOOSE_COLOUR.match(text)
    if chosen and chosen["colour"].split()[-1].lower() in _COLOURS:
        return f"colour {chosen['np']} {chosen['colour']}"
    made = re.match(r"^(?P<np>.+?)\s+(?:is|are|should\s+be|must\s+be|will\s+be)\s+(?:now\s+)?(?P<how>made\s+(?:of|from|out\s+of)\s+.+)$", text, re.IGNORECASE)
    if made:
        return f"make {made['np']} {made['how']}"
    passive = _PASSIVE.match(text)
    if passive:
        verb = _lemma(passive["verb"])
        if verb in _CLAUSE_VERBS and verb not in _KEEP_VERBS and not _is_look_word(passive["verb"].lower()) and not _starts_clause(passive["np"]) and not (
            verb in _NOUN_LIKE_VERBS and passive["verb"].lower() == verb
        ):
            return f"{verb} {passive['np']}{passive['rest']}"
    copula = _COPULA.match(text)
    if copula and not _starts_clause(copula["np"]) and _words(copula["np"])[:1] != ["there"]:
        verb = " ".join((copula["verb"] or "").lower().split())
        np, value = copula["np"], copula["value"]
        if verb in ("disappear", "vanish", "go away", "go"):
            return f"remove {np}"
        if verb == "have":
            return f"give {np} {value}"
        if verb == "wear":
            return f"dress {np} in {value}"
        if copula["now"] and copula["now"].lower() in ("is", "are") and re.match(r"^(?:too|so|very|really|quite|kind\s+of|a\s+bit)\s", value, re.IGNORECASE):
            return text
        if copula["now"] and copula["now"].lower() in ("is", "are") and not _is_attribute(value) and not _is_global_look(value):
            doing = re.match(r"^(?P<verb>\w+ing)\b", value, re.IGNORECASE)
            if doing and _lemma(doing["verb"]) != doing["verb"].lower() or doing and doing["verb"].lower()[:-3] in _ACTIONS:
                subject = {"she": "her", "he": "him", "they": "them"}.get(np.lower(), np)
                return f"have {subject} {value}"
            if _words(np)[0] in ("it", "this", "that", "he", "she", "they", "there", "what", "which", "who"):
                return text
            if re.match(r"^(?:a|an)\s", value, re.IGNORECASE):
                return f"turn {np} into {value}"
            if re.match(r"^(?:in|on|at)\s", value, re.IGNORECASE):
                return f"put {np} {value}"
            return text
        if verb.startswith("turn into") or verb == "look like" or (copula["now"] or "").endswith(("into", "like")):
            return f"turn {np} into {value}"
        return f"make {np} {value}"
    return text


# Noun phrases.

_CUT = re.compile(
    r"\s*,|\s+(?:from|in|on|off|out|at|near|next|beside|besides|behind|under|underneath|beneath|above|below|over|inside|"
    r"within|to|into|onto|that|which|who|whose|where|when|while|if|so|because|for|by|as|like|across|around|"
    r"along|between|among|amongst|amid|amidst|against|through|throughout|toward|towards|instead|except|but|"
    r"located|placed|positioned|sitting|standing|lying|seen|visible|shown|present|currently|there)\b",
    re.IGNORECASE,
)
_POSITION = re.compile(
    r"^\s*(?:on|in|at|to)\s+(?:the\s+)?(?:very\s+|far\s+)?(?P<where>(?:top|bottom|upper|lower)(?:[\s-](?:left|right))?|"
    r"left|right|middle|center|centre|front|back|foreground|background)(?:[\s-](?:hand\s+)?(?:side|corner|part|half|edge))?"
    r"(?=\s*$|\s*,|\s+(?:of\s+(?:the\s+)?(?:image|photo|picture|scene|frame)\b|and\b))",
    re.IGNORECASE,
)


def _noun_phrase(text: str, keep_with: bool = True) -> tuple[str, str]:
    """Gives back the short noun phrase a text starts with (no articles) and the text after it.

    "the red car on the left from the image" -> ("left red car", ...). The phrase stops at a
    preposition or relative clause, except "of" ("cup of coffee") and, when `keep_with`, "with"
    ("the person with the umbrella").
    """
    text = text.strip(" ,.")
    stop = len(text)
    for match in _CUT.finditer(text):
        if not [w for w in _words(text[: match.start()]) if w not in _ARTICLES and w not in _NUMBERS]:
            continue
        if match.group(0).strip() == "," and _continues_list(text[match.end():]):
            continue
        stop = match.start()
        break
    for match in re.finditer(r"\s+(\w+ing)\b", text[:stop]):
        word = match.group(1).lower()
        if match.start() > 0 and word not in _NOUNS_ENDING_IN_ING and _lemma(word) != word[:-3] + "ing" and len(_words(text[: match.start()])) > 1:
            stop = match.start()
            break
    if not keep_with:
        cut = re.search(r"\s+with\b", text[:stop], re.IGNORECASE)
        if cut:
            stop = cut.start()
    phrase, rest = text[:stop].strip(), text[stop:].strip(" ,")
    position = _POSITION.match(rest)
    phrase = _strip_determiners(phrase)
    if position and phrase:
        where = position["where"].lower().replace("-", " ")
        if where not in ("foreground", "background"):
            phrase = f"{where} {phrase}"
        rest = rest[position.end():].strip(" ,")
    return phrase.strip(" '\""), rest


def _continues_list(text: str) -> bool:
    """Gives back whether the text after a comma goes on with a list of objects ("the lamp and the rug")."""
    chunk = re.split(r",|\s+and\s+|\s+or\s+", text.strip(), maxsplit=1)[0]
    words = _words(re.sub(r"^(?:and|or)\s+", "", chunk.strip()))
    if not words or len(words) > 5:
        return False
    stops = _PRONOUNS - _ARTICLES | {"please", "thanks", "from", "in", "on", "at", "with", "to", "into", "for", "by", "which", "that", "who", "where", "so", "because", "if", "then", "including", "is", "are"}
    return not any(w in stops or _lemma(w) in _CLAUSE_VERBS - _NOUN_LIKE_VERBS or (w.endswith("ing") and w not in _NOUNS_ENDING_IN_ING) for w in words)


def _split_list(phrase: str) -> list[str]:
    """Gives back the items of a coordinated noun phrase.

    "the cat, the dog and the bird" -> three items; "salt and pepper shakers" and "black and white
    dog" stay one: a bare single word before "and" shares the head noun that follows it.
    """
    parts = [p.strip() for p in re.split(r"\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|&|as well as|plus|along with|or)\s+", phrase) if p.strip()]
    if len(parts) < 2:
        return [phrase]
    items: list[str] = []
    for part in parts:
        first = _words(part)[:1]
        modifier = bool(first) and (
            (first[0].endswith("ing") and first[0] not in _NOUNS_ENDING_IN_ING)
            or first[0] in ("with", "without", "in", "on", "at", "near", "wearing", "holding", "towards", "toward")
        )
        if items and (modifier or _shares_head(items[-1], part)):
            joiner = " and " if len(parts) == 2 or part == parts[-1] else ", "
            items[-1] = f"{items[-1]}{joiner}{part}"
        else:
            items.append(part)
    return items


_BINOMIALS = frozenset(
    ("salt and pepper", "bread and butter", "fish and chips", "mac and cheese", "macaroni and cheese", "ham and cheese",
     "peanut butter and jelly", "bow and arrow", "rock and roll", "black and white", "arts and crafts", "bed and breakfast")
)
"""Pairs that name one thing: "remove the bread and butter" is one step."""


def _shares_head(left: str, right: str) -> bool:
    left_words, right_words = _words(left), _words(right)
    if f"{' '.join(left_words[-2:])} and {' '.join(right_words[:2])}" in _BINOMIALS or f"{left_words[-1:][0] if left_words else ''} and {right_words[0] if right_words else ''}" in _BINOMIALS:
        return True
    if not left_words or not right_words:
        return True
    if left_words[-1] in _DETERMINERS:
        return True
    if all(word in _COLOURS | _SHADES | _MATERIALS | _LOOKS for word in left_words[-1:]) and (
        len(left_words) == 1 or left_words[0] in _DETERMINERS
    ) and right_words[0] not in _DETERMINERS:
        return True
    return len(left_words) == 1 and len(right_words) > 1 and right_words[0] not in _DETERMINERS | _NUMBERS


def _is_attribute(text: str) -> bool:
    """Gives back whether a phrase only says how something looks ("bright red", "wooden", "bigger")."""
    filler = {"and", "more", "less", "very", "a", "bit", "little", "slightly", "much", "too", "in", "color", "colour",
              "colored", "coloured", "hue", "shade", "tint", "tone", "one", "ones", "pigment", "paint", "made", "of",
              "look", "looking", "with"}
    shade = re.match(r"^\s*(?:a|an)\s+(?:[\w-]+\s+)+(?P<colour>[\w-]+)\s*$", text, re.IGNORECASE)
    if re.match(r"^\s*(?:a|an)\s", text, re.IGNORECASE) and not re.search(r"\b(?:ones?|colou?r|hue|shade|tint|tone|look|finish)\s*$", text, re.IGNORECASE) and not (
        shade and shade["colour"].lower() in _COLOURS
    ):
        return False
    words = [w for w in _words(text) if w not in _DETERMINERS and w not in filler]
    return bool(words) and all(_is_look_word(word, words[i + 1] if i + 1 < len(words) else "") for i, word in enumerate(words))


# Clause frames.

@dataclass
class _Draft:
    """A step being built: a Step's fields, plus what links it to the step before."""

    category: str
    instruction: str
    target: Optional[str] = None
    prompt: Optional[str] = None
    look: Optional[str] = None
    """local: how the target should look, a template with {} for the target ("red {}")."""
    anchor: Optional[str] = None
    relation: Optional[str] = None
    takes_previous_place: bool = False
    """add: "... where it was" / "instead": the new object goes where the previous step's object was."""

    def step(self) -> Step:
        # "him" and "her" with nothing before them in the turn: a person the detector can find.
        target = _PERSON_PRONOUNS.get(self.target or "", self.target)
        anchor = _PERSON_PRONOUNS.get(self.anchor or "", self.anchor)
        prompt = self.prompt
        if self.category == "local" and self.look:
            prompt = _describe(target, self.look).strip() if target not in (None, "it", "them") else self.look.format("").strip()
        return Step(
            category=self.category,
            target=target,
            prompt=prompt or self.instruction,
            instruction=self.instruction,
            anchor=anchor if self.category == "add" else None,
            relation=self.relation if self.category == "add" else None,
        )


def _target(phrase: str) -> Optional[str]:
    """Gives back a step target from a noun phrase: pronouns kept for the session to resolve."""
    phrase = _strip_determiners(phrase).strip(" ,.'\"")
    low = phrase.lower()
    if low in ("he", "she"):
        return {"he": "him", "she": "her"}[low]
    if low in ("they", "those", "these", "them"):
        return "them"
    if low in ("this", "that", "one", "the one"):
        return "it"
    return phrase or None


def _is_image(phrase: str) -> bool:
    words = [w for w in _words(phrase) if w not in _ARTICLES and w not in {"whole", "entire", "overall", "current", "original", "obscured", "clear", "visual"}]
    return not words or words[-1] in _IMAGE_WORDS or words in (["it"], ["everything"], ["all"])


def _is_pronoun(phrase: str) -> bool:
    return _words(phrase) in (["it"], ["them"], ["this"], ["that"], ["these"], ["those"], ["him"], ["her"])


def _is_background(phrase: str) -> bool:
    """Gives back whether a phrase names the background ("the backdrop", "the background of the dog")."""
    words = [w for w in _words(phrase) if w not in _DETERMINERS]
    if not words:
        return False
    return words[-1] in _BACKGROUND_WORDS or (words[0] in _BACKGROUND_WORDS and len(words) > 1 and words[1] in ("of", "behind", "around"))


def _is_weather_thing(phrase: str) -> bool:
    """Gives back whether a removed "object" is weather, lighting or image quality ("the rain streaks")."""
    words = [w for w in _words(phrase) if w not in _DETERMINERS]
    if not words:
        return False
    head = words[-1]
    weather = _WEATHER | _LIGHTING
    ambiguous = {"light", "lights", "shade", "reflection", "reflections", "tone", "glow", "storm", "fog", "mist"}
    if (head in weather or any(part in weather for part in head.split("-"))) and head not in ambiguous:
        return True
    if head in ambiguous and len(words) == 1:
        return head not in ("light", "lights")
    modifiers = weather | {"water", "sunset", "sunlight", "obscured", "hidden", "unclear"}
    return (head in _WEATHER_HEADS or head in ambiguous) and any(
        w in modifiers or any(p in modifiers for p in w.split("-")) for w in words[:-1]
    )


_STYLE_OBJECTS = _words_of(
    "painting paintings drawing drawings sketch graffiti tattoo mosaic illustration artwork masterpiece canvas "
    "manuscript tapestry embroidery doodle stencil silhouette engraving fresco origami poster comic cartoon"
)


def _is_a_look(thing: str) -> bool:
    """Gives back whether something "added" is a look of the picture ("a vintage filter", "rain", "a sunset")."""
    words = _words(thing)
    if not words:
        return False
    head = words[-1]
    objects = {"light", "lights", "shade", "reflection", "reflections", "shadow", "shadows"} | _STYLE_OBJECTS
    looks = _GLOBAL_HEADS | _SEASONS | _TIMES | _WEATHER | _LIGHTING | {"sunshine", "sunlight", "moonlight", "lightning", "vibes"}
    counted = words[0] in _NUMBERS or words[0] in ("a", "an", "some", "another")
    return head in looks - objects or (head in ("light", "lights") and not counted) or (head in _STYLE - _STYLE_OBJECTS and not counted)


def _surface(rest: str) -> Optional[str]:
    """Gives back what a removed object sat on or in ("from the table" -> "table"), for the remove prompt."""
    match = re.match(r"^(?:from|on|off|in|inside|out of|at)\s+(?P<np>.+)$", rest, re.IGNORECASE)
    if not match:
        return None
    phrase, _ = _noun_phrase(match["np"])
    return None if not phrase or _is_image(phrase) else phrase


def _remove(instruction: str, rest: str) -> list[_Draft]:
    rest = re.sub(r"^(?:(?:the|this|my)\s+" + _IMAGE_NOUN + r"|it)\s+(?:of|from)\s+", "", rest, flags=re.IGNORECASE)
    rest = re.sub(r"^(?:away|out|off|up|rid\s+of|of|from|out\s+of)\s+", "", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\s+(?:away|out|off)$", "", rest, flags=re.IGNORECASE)
    rest = re.sub(r"^(?:all\s+)?traces\s+of\s+", "", rest, flags=re.IGNORECASE)
    phrase, tail = _noun_phrase(rest)
    if _is_pronoun(phrase):
        return [_Draft("remove", instruction, target=_target(phrase), prompt=_REMOVE_PROMPT)]
    if not phrase or _is_image(phrase):
        return [_Draft("global", instruction)] if _is_global_look(instruction) else []
    if _is_weather_thing(phrase):
        return [_Draft("global", instruction)]
    if _is_background(phrase):
        return [_Draft("background", instruction, prompt="plain white background")]
    surface = _surface(tail)
    prompt = f"empty {surface}, {_REMOVE_PROMPT}" if surface else _REMOVE_PROMPT
    return [_Draft("remove", instruction, target=_target(item), prompt=prompt) for item in _split_list(phrase)]


def _relation(text: str) -> tuple[Optional[str], Optional[str], str]:
    """Gives back (relation, anchor, text before it) for where an added object goes."""
    for match in _RELATION_PATTERN.finditer(text):
        if match.start() == 0:
            continue
        found = match.group(1).lower()
        relation = _RELATION_OF[" ".join(found.split())]
        before, after = text[: match.start()].strip(" ,"), text[match.end():].strip(" ,")
        if relation in ("in the sky", "on the ground"):
            return relation, None, before
        anchor, _ = _noun_phrase(re.sub(r"^(?:the\s+)?(?:existing|other)\s+", "", after, flags=re.IGNORECASE))
        side = re.fullmatch(
            r"(?:the\s+|(?P<owner>his|her|their|its|[\w-]+'s)\s+)?(?:far\s+)?(?P<side>left|right|top|bottom|middle|center|centre)"
            r"(?:[\s-](?:left|right))?(?:[\s-](?:hand\s+)?(?:side|corner|part|half|edge))?",
            after, re.IGNORECASE,
        )
        if side or not anchor or _is_image(anchor) or anchor.lower() in ("left", "right", "top", "bottom"):
            word = side["side"].lower() if side else ""
            named = {"left": "left of", "right": "right of", "top": "above", "bottom": "below"}.get(word)
            owner = side["owner"] if side and side["owner"] else None
            if owner:
                owner = {"his": "him", "her": "her", "their": "them", "its": "it"}.get(owner.lower(), owner[:-2])
                return named or relation, _target(owner), before
            return (named or (None if _is_image(anchor or "") else relation)), None, before
        return relation, _target(anchor), before
    return None, None, text


_WHERE_IT_WAS = re.compile(
    r"\s*(?:\b(?:where|in (?:the )?place)\s+(?:where\s+)?(?:it|they|the \w+)\s+(?:was|were|used to be|stood|sat|had been)|"
    r"\bin (?:its|their|his|her) place|\binstead(?: of (?:it|them))?|\bthere)\s*$",
    re.IGNORECASE,
)
_ABSTRACT_OF = re.compile(
    r"^(?:the\s+|a\s+)?(?:essence|touch|hint|sense|presence|charm|feeling|vibe|splash|burst|dash|gathering|group|"
    r"flock|herd|crowd|bunch|pair|couple|number|set|family|collection|company|figure|image|picture)\s+of\s+",
    re.IGNORECASE,
)


def _add(instruction: str, rest: str, verb: str) -> list[_Draft]:
    rest = re.sub(r"^(?:in|up|on|down)\s+(?=(?:a|an|some|two|three|the)\b)", "", rest, flags=re.IGNORECASE)
    parts = re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+(?=(?:a|an|some|another|one|two|three|four|five)\s)", rest)
    if len(parts) > 1 and sum(_relation(part)[0] is not None for part in parts) > 1:
        # "a cat on the sofa and a dog on the rug": each object has its own place.
        return [draft for part in parts for draft in _add(instruction, part, verb)]
    takes_place = bool(_WHERE_IT_WAS.search(rest))
    rest = _WHERE_IT_WAS.sub("", rest)
    instead = re.search(
        r"\s+(?:instead\s+of|in\s+place\s+of|rather\s+than|where\s+(?=(?:the|a|an|that|this|his|her|their)\s.+\s(?:is|are|was|were|stands|sits|used\s+to\s+be)$))\s*(?P<old>.+?)"
        r"(?:\s+(?:is|are|was|were|stands|sits|used\s+to\s+be))?$",
        rest, re.IGNORECASE,
    )
    if instead:
        new, _ = _noun_phrase(rest[: instead.start()])
        old, _ = _noun_phrase(instead["old"])
        return [_Draft("replace", instruction, target=_target(old), prompt=_indefinite(new))]
    image_first = re.match(r"^(?:the\s+|this\s+)?(?:" + _IMAGE_NOUN + r"|scene|composition)\s+(?:with|by)\s+(?:(?:adding|including|incorporating|introducing|placing)\s+)?(?P<rest>.+)$", rest, re.IGNORECASE)
    if image_first:
        rest = image_first["rest"]
    rest = re.sub(r"[,]\s*\w+ing\b.*$", "", rest)
    rest = re.sub(r"\s+(?:to|in order to|so as to)\s+(?:add|enhance|create|make|give|diversify|bring|enrich|improve|complete|liven|emphasize|show|balance|fill)\b.*$", "", rest, flags=re.IGNORECASE)
    rest = re.sub(r"\s+for\s+(?:added|extra|a|more|some)\b.*$", "", rest, flags=re.IGNORECASE)
    rest = _ABSTRACT_OF.sub("", rest)
    relation, anchor, new = _relation(rest)
    new = re.sub(r"\s+(?:comfortably|gracefully|gently|neatly|carefully|nicely|here|somewhere|anywhere|too)$", "", new, flags=re.IGNORECASE)
    thing = _noun_phrase(new, keep_with=False)[0]
    if _is_attribute(new) and anchor and not re.match(r"^(?:a|an)\s", new, re.IGNORECASE):
        colours_only = all(w in _COLOURS | _SHADES | {"more", "less", "some", "a", "bit", "little"} for w in _words(new))
        look = _strip_determiners(new) + " {}" if colours_only else "{} with " + _strip_determiners(new)
        return [_Draft("local", instruction, target=anchor, look=look)]
    if _is_a_look(re.sub(r"^(?:the|this|that)\s+", "", new.strip(), flags=re.IGNORECASE)):
        if anchor and not _is_image(anchor) and not _is_background(anchor):
            return [_Draft("local", instruction, target=anchor, look="{} with " + _strip_determiners(thing))]
        return [_Draft("global", instruction)]
    counted = re.match(r"^(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|some|several|\d+)\s", new, re.IGNORECASE)
    moved = _words(new)[:1] and _words(new)[0] in ("the", "this", "that", "my", "his", "her", "their", "it", "him", "them")
    bare_place = re.search(r"\s(?:to|in|into)\s+(?!(?:the|a|an|his|her|their|its|my|this|that|left|right|top|bottom|front|back|middle|center)\b)[a-z]", rest, re.IGNORECASE)
    if verb in ("set", "put", "place", "move", "bring", "take", "transport") and moved and anchor and (
        _head(anchor) in _PLACES or _is_background(anchor) or (_is_image(new) and relation in ("in", "on", "near"))
        or (bare_place and verb in ("move", "bring", "take", "transport"))
    ):
        subject = _noun_phrase(new)[0]
        place = re.search(r"(?:a|an|the|some)\s+(?:[\w'-]+\s+){0,3}?" + re.escape(_head(anchor)) + r"\b.*$", rest, re.IGNORECASE)
        return [_Draft("background", instruction, target=None if _is_image(subject) else _target(subject), prompt=_strip_determiners(place.group(0) if place else anchor))]
    if not new or (_is_image(new) and not counted):
        return []
    if _is_background(new) or (_head(new) in _PLACES and relation in ("behind", "around", "near")):
        keep = anchor if relation in ("behind", "around", "near") else None
        return [_Draft("background", instruction, target=keep, prompt=_strip_determiners(new, keep_numbers=True))]
    if anchor and _mentions(_head(new), _words_of("pattern patterns stripes stripe dots texture colour color colors colours paint hue tint")):
        return [_Draft("local", instruction, target=anchor, look="{} with " + _strip_determiners(new))]
    drafts = []
    for item in _split_list(new):
        item = re.sub(r"^(?:the\s+)?(?:a\s+|an\s+)?(?=\S)", lambda m: m.group(0) if not m.group(0).lower().startswith("the") else "", item, flags=re.IGNORECASE)
        if not item:
            continue
        drafts.append(_Draft("add", instruction, prompt=_indefinite(item), anchor=anchor, relation=relation, takes_previous_place=takes_place))
    return drafts


_DESTINATION = re.compile(
    r"\s+(?:in\s*to|into|to|with|by|for|as|so\s+that\s+it\s+(?:looks?\s+like|is|becomes)|so\s+it\s+(?:looks?\s+like|is)|"
    r"to\s+(?:look|be|become|appear|seem)(?:\s+like)?|in(?=\s+(?:a|an|the)?\s*[\w-]+\s+(?:style|hue|colou?r|shade|tone)))\s+",
    re.IGNORECASE,
)
_PURPOSE = re.compile(
    r"^(?:(?:convey|evoke|show|showcase|depict|portray|resemble|reflect|simulate|capture|feature|illustrate|"
    r"represent|display|create|give|have|become|be|look\s+like|look|appear|seem|match|mimic|suggest|include|"
    r"present|mirror|echo|emulate|suit|fit|an?|the)\s+)+",
    re.IGNORECASE,
)


def _change(instruction: str, rest: str, verb: str) -> list[_Draft]:
    """Frames "change X to Y", "turn X into Y", "replace X with Y" and their kin."""
    rest = re.sub(r"^(?:out|up|around)\s+", "", rest, flags=re.IGNORECASE)
    if verb in _SWAP_VERBS:
        return _swap(instruction, rest, verb)
    split = _split_destination(rest)
    if split is None:
        return _change_without_destination(instruction, rest, verb)
    old, new = split
    return _transform(instruction, old, new)


def _split_destination(rest: str) -> Optional[tuple[str, str]]:
    matches = [m for m in _DESTINATION.finditer(" " + rest) if m.start() > 0 or True]
    for match in matches:
        old, new = (" " + rest)[: match.start()].strip(), (" " + rest)[match.end():].strip()
        if not new:
            continue
        word = match.group(0).strip().lower()
        if word in ("by", "for") and not old:
            continue
        if word == "with" and old and not _is_background(old) and not _is_image(old):
            # "change the car with a red one" reads as a swap; "decorate X with Y" never reaches here.
            return old, new
        return old, _PURPOSE.sub(lambda m: m.group(0) if m.group(0).strip().lower() in ("a", "an", "the") else "", new).strip()
    return None


def _swap(instruction: str, rest: str, verb: str) -> list[_Draft]:
    rest = re.sub(r"^out\s+", "", rest, flags=re.IGNORECASE)
    match = re.match(r"^(?P<old>.+?)\s+(?:with|by|for|to|into|in\s+favou?r\s+of|and\s+put|and\s+use)\s+(?P<new>.+)$", rest, re.IGNORECASE)
    if verb == "substitute" and match and re.search(r"\s+for\s+", rest) and not re.search(r"\s+with\s+", rest):
        return _transform(instruction, match["new"], match["old"])
    if match:
        pairs = re.match(r"^(?P<new>.+?)\s*(?:,\s*(?:and\s+)?|\s+and\s+)(?P<old2>(?:the|a|an|his|her|their|its)\s+.+?)\s+(?:with|by|for)\s+(?P<new2>.+)$", match["new"], re.IGNORECASE)
        if pairs:
            return _transform(instruction, match["old"], pairs["new"]) + _transform(instruction, pairs["old2"], pairs["new2"])
    if not match:
        match = re.match(r"^with\s+(?P<new>.+)$", rest, re.IGNORECASE)
        if match:
            return _transform(instruction, "it", match["new"])
        phrase, _ = _noun_phrase(rest)
        if _is_background(phrase):
            return [_Draft("background", instruction, prompt=_indefinite("new background"))]
        return [_Draft("replace", instruction, target=_target(phrase), prompt=_indefinite(phrase))] if phrase else []
    return _transform(instruction, match["old"], match["new"])


def _transform(instruction: str, old_text: str, new_text: str) -> list[_Draft]:
    """Decides what "X becomes Y" means: a new object, a new look, a new background or a new picture."""
    new_text = re.sub(r"\s+(?:instead|please|now)$", "", new_text.strip(" ,."), flags=re.IGNORECASE)
    new_text = re.sub(r"^(?:look|looking|appear)\s+(?:like\s+)?", "", new_text, flags=re.IGNORECASE)
    new_text = re.sub(r"^(?:it|they|he|she)\s*(?:is|are|was|were|'s|'re)\s+(?:in\s+)?", "", new_text, flags=re.IGNORECASE)
    old_words = _words(old_text)
    attribute = re.match(
        r"^(?:the\s+)?(?P<attr>(?:[\w-]+\s+){0,2}?(?:" + "|".join(sorted(_ATTRIBUTE_NOUNS, key=len, reverse=True)) + r"))\s+(?:of|on|in)\s+(?P<np>.+)$",
        old_text.strip(), re.IGNORECASE,
    ) or re.match(
        r"^(?P<np>.+?)(?:'s|s')\s+(?:new\s+)?(?P<attr>(?:[\w-]+\s+){0,1}?(?:" + "|".join(sorted(_ATTRIBUTE_NOUNS, key=len, reverse=True)) + r"))$",
        old_text.strip(), re.IGNORECASE,
    )
    if attribute and _head(attribute["attr"]) in {"style", "look", "appearance"} and _is_image(attribute["np"]):
        return [_Draft("global", instruction)]
    if attribute and _head(attribute["attr"]) in _BACKGROUND_WORDS:
        attribute = None
    if attribute:
        target, _ = _noun_phrase(attribute["np"])
        return [_Draft("local", instruction, target=_target(target), look=_attribute_look(attribute["attr"], new_text))]
    if " ".join(w for w in old_words if w not in _ARTICLES) in _ASPECTS or (
        len(old_words) == 1 and old_words[0] in _TIMES | _SEASONS | _WEATHER | {"day"}
    ):
        return [_Draft("global", instruction)]
    old, _ = _noun_phrase(old_text)
    new_phrase = new_text.strip()
    if (not old or _is_image(old)) and _is_style_or_time(new_phrase):
        return [_Draft("global", instruction)]
    placed = re.match(r"^(?:in|at|on|inside)\s+(?P<place>.+)$", new_phrase, re.IGNORECASE)
    if placed:
        keep = None if not old or _is_image(old) else _target(old)
        return [_Draft("background", instruction, target=keep, prompt=_strip_determiners(placed["place"], keep_numbers=True))]
    if _is_background(new_phrase) or (_head(old) in _SURFACES and not _is_attribute(new_phrase) and _head(old) in _words(new_phrase) + list(_SURFACES)):
        return [_Draft("background", instruction, prompt=_strip_determiners(new_phrase, keep_numbers=True))]
    if not old or _is_image(old):
        if _is_background(new_phrase) or (_head(_noun_phrase(new_phrase)[0]) in _PLACES and not _is_global_look(new_phrase)):
            return [_Draft("background", instruction, prompt=_strip_determiners(new_phrase, keep_numbers=True))]
        if old.lower() in ("it", "them", "this", "that") and not _is_global_look(new_phrase) and not _is_style_or_time(new_phrase):
            return _new_look_or_object(instruction, old, new_phrase)
        return [_Draft("global", instruction)]
    if _is_background(old):
        subject = re.match(r"^(?:the\s+)?(?:background|backdrop|setting|surroundings|environment|scenery)\s+(?:of|behind|around)\s+(?P<np>.+)$", old_text.strip(), re.IGNORECASE)
        keep = _target(_noun_phrase(subject["np"])[0]) if subject and not _is_image(subject["np"]) else None
        return [_Draft("background", instruction, target=keep, prompt=_strip_determiners(new_phrase, keep_numbers=True))]
    new_head = _head(_noun_phrase(new_phrase)[0])
    if _head(old) in _PLACES and new_head in _PLACES and new_head != _head(old):
        return [_Draft("background", instruction, prompt=_strip_determiners(new_phrase, keep_numbers=True))]
    return _new_look_or_object(instruction, old, new_phrase)


def _new_look_or_object(instruction: str, old: str, new_phrase: str) -> list[_Draft]:
    one = re.match(r"^(?:a|an|the)?\s*(?P<look>.+?)\s+ones?$", new_phrase, re.IGNORECASE)
    if one:
        return [_Draft("local", instruction, target=_target(old), look=one["look"] + " {}")]
    hue = re.match(r"^(?:a|an|the)?\s*(?P<look>.+?)\s+(?:hue|colou?r|shade|tint|tone|pigment|paint)$", new_phrase, re.IGNORECASE)
    if hue and _is_attribute(hue["look"]):
        return [_Draft("local", instruction, target=_target(old), look=hue["look"] + " {}")]
    if _is_attribute(new_phrase) or (len(_words(new_phrase)) == 1 and _words(new_phrase)[0].endswith(_ADJECTIVE_ENDINGS) and not _is_plural(new_phrase)):
        look = re.sub(r"^(?:in|a|an)\s+|\s+(?:in\s+)?(?:colou?r|colou?red|hue)$", "", new_phrase, flags=re.IGNORECASE)
        return [_Draft("local", instruction, target=_target(old), look=look + " {}")]
    if _words(new_phrase)[:1] and _words(new_phrase)[0] in _MATERIALS and len(_words(new_phrase)) == 1:
        return [_Draft("local", instruction, target=_target(old), look=new_phrase + " {}")]
    made_of = re.match(r"^(?:made\s+(?:of|out\s+of|from)|of|out\s+of)\s+(?P<stuff>.+)$", new_phrase, re.IGNORECASE)
    if made_of:
        return [_Draft("local", instruction, target=_target(old), look="{} made of " + made_of["stuff"])]
    if _head(new_phrase) in _TIMES | _SEASONS | _WEATHER or (
        _is_global_look(new_phrase) and not re.match(r"^(?:a|an)\s", new_phrase, re.IGNORECASE) and (_is_style_or_time(new_phrase) or _mentions(new_phrase, _WEATHER))
    ):
        return [_Draft("local", instruction, target=_target(old), look=_strip_determiners(new_phrase) + " {}")]
    targets = [old] if re.search(r"\s(?:and|&)\s", old) and not _is_plural(new_phrase) else [old]
    return [_Draft("replace", instruction, target=_target(t), prompt=_indefinite(_strip_determiners(new_phrase, keep_numbers=True))) for t in targets]


def _attribute_look(attribute: str, value: str) -> str:
    value = value.strip(" .")
    kind = _head(attribute)
    if kind in _TEXT_NOUNS or kind in {"logo", "caption"}:
        text = re.sub(r"^(?:the\s+)?(?:text|word|words|number|letters?)\s+", "", value, flags=re.IGNORECASE).strip("\"' ")
        return '{} with the text "' + text.replace("{", "").replace("}", "") + '"'
    value = value.replace("{", "").replace("}", "")
    if kind in {"color", "colour", "colors", "colours", "hue", "tint", "shade", "material", "finish", "paint", "paintwork"} or _is_attribute(value):
        value = re.sub(r"\s+(?:colou?r|colou?red|hue)$", "", value, flags=re.IGNORECASE)
        words = attribute.lower().split()
        if len(words) > 1 and words[-1] in {"color", "colour"} and words[0] not in _DETERMINERS:
            return "{} with " + value + " " + " ".join(words[:-1])
        if len(_words(value)) <= 3:
            return value + " {}"
        return "{} made of " + value if kind == "material" else "{} in " + value
    if kind in {"pose", "posture", "expression"}:
        return "{} " + value
    return "{} with " + value + ("" if kind in {"content", "contents", "picture", "screen", "display"} or kind in _words(value) else " " + kind)


def _change_without_destination(instruction: str, rest: str, verb: str) -> list[_Draft]:
    """Frames "turn the car red", "change the background", "transform it".""" 
    phrase, tail = _noun_phrase(rest)
    look = _split_look(rest)
    if look:
        return _make(instruction, rest)
    if not phrase or _is_image(phrase):
        return [_Draft("global", instruction)]
    if _is_background(phrase):
        return [_Draft("background", instruction, prompt=_indefinite("new background"))]
    if _is_weather_thing(phrase) or _is_global_look(phrase) and not re.match(r"^(?:a|an|the)\s", rest, re.IGNORECASE):
        return [_Draft("global", instruction)]
    return [_Draft("local", instruction, target=_target(phrase), prompt=None, look="new {}")]


_LOOK_STARTERS = _words_of("look looks appear seem into like more less a an slightly much very bit somewhat extra super really so too")
_OBJECT_PRONOUNS = _words_of("it them him everything this that these those")
_NOUN_AFTER_HER = _words_of("hair face eyes hand hands head dress shirt hat arm arms legs lips skin nose ears")


def _is_look_word(word: str, following: str = "") -> bool:
    """Gives back whether a word says how something looks ("red", "wooden", "bigger"; "sky" only in "sky blue")."""
    if word in _COLOURS or word in _MATERIALS or word in _LOOKS or word in _COMPARATIVES:
        return True
    return word.endswith(("ish", "-colored", "-coloured")) or (word in _SHADES and following in _COLOURS)


def _split_look(rest: str) -> Optional[tuple[str, str]]:
    """Gives back (object, look) for "the red car blue", "it sunset", "the sky more dramatic", or None."""
    words = re.sub(r"\s+in\s+colou?r$", "", rest, flags=re.IGNORECASE).split()
    low = [w.lower().strip(",.") for w in words]
    if len(low) > 2 and low[0] in ("all", "both", "each") and low[1] in _DETERMINERS:
        words, low = words[1:], low[1:]
    if not words:
        return None
    if low[0] in _OBJECT_PRONOUNS or (low[0] == "her" and (len(low) == 2 or _is_look_word(low[1]) or low[1] in _LOOK_STARTERS)):
        return (words[0], " ".join(words[1:])) if len(words) > 1 else None
    start = 1 if low[0] in _DETERMINERS or low[0] in _NUMBERS else 0
    split = lambda i: (" ".join(words[:i]), " ".join(words[i:]))  # noqa: E731
    # A word that opens a description after the noun: "the sky more dramatic", "the car in red".
    seen_noun = False
    for i in range(start, len(words)):
        word, following = low[i], low[i + 1] if i + 1 < len(low) else ""
        if seen_noun and (word in _LOOK_STARTERS or (word == "in" and _is_look_word(following))):
            return split(i)
        if word in ("of", "with", "on", "in", "at", "from"):
            seen_noun = False
        elif not _is_look_word(word, following) and word not in ("and", "&") and not word.endswith("'s"):
            seen_noun = True
    # Else the longest tail of look words: "the glass bottle red and white", "the tree autumn".
    i = len(words)
    while i > start + 1 and (_is_look_word(low[i - 1], low[i] if i < len(low) else "") or _is_global_look(low[i - 1]) or low[i - 1] in ("and", "&")):
        i -= 1
    while i < len(words) and low[i] in ("and", "&"):
        i += 1
    if i < len(words):
        return split(i)
    return None


_ACTIONS = _words_of(
    "wear hold carry have sit stand smile laugh cry run jump fly face raise lie be walk dance sleep eat drink wave "
    "swim kneel frown wink melt burn glow float sing play read ride climb hug kiss fight bark roar dress hide lean"
)


def _action(instruction: str, rest: str, anywhere: bool = False) -> list[_Draft]:
    """Frames "the man smile", "her wearing a hat", "the dog be a wolf" (after make, have, let).

    Args:
        anywhere: take any word after the noun phrase as the action (after "have" and "let", whose
            object is always followed by a verb), not only the known ones.
    """
    words = rest.split()
    low = [w.lower() for w in words]
    pronoun = len(low) > 1 and low[0] == "her" and (_lemma(low[1]) in _ACTIONS | _CLAUSE_VERBS or low[1].endswith("ing"))
    start = 1 if low and (low[0] in _ARTICLES or low[0] in _NUMBERS or low[0] in ("his", "her", "its", "this", "that")) and len(low) > 2 and not pronoun else 0
    for i in range(start + 1, len(words)):
        word = low[i]
        base = _lemma(word)
        if word.endswith("ing") and base == word:
            base = word[:-3] if word[:-3] in _ACTIONS else (word[:-4] if word[-4:-3] == word[-5:-4] and word[:-4] in _ACTIONS else word[:-3] + "e")
        known = base in _ACTIONS or (word == "look" and i + 1 < len(low) and low[i + 1] in ("at", "up", "down", "away", "toward", "towards", "into"))
        if word in ("of", "with", "on", "in", "at", "from", "and") or _is_look_word(word):
            if anywhere:
                return []
            continue
        if not known and not (anywhere and i == start + 1 and word not in _DETERMINERS):
            continue
        subject, what = " ".join(words[:i]), " ".join(words[i + 1:])
        if _is_image(subject) and subject.lower() not in ("it", "them", "this", "that"):
            return []
        if base == "be":
            return _transform(instruction, subject, what)
        phrase, _ = _noun_phrase(subject)
        verb = base if base in _ACTIONS else word
        return [_Draft("local", instruction, target=_target(phrase), look=("{} " + _ing(verb) + " " + what).strip())]
    return []
_ADJECTIVE_ENDINGS = ("ic", "al", "ous", "ful", "ive", "able", "ible", "y", "ed", "ish", "less", "ent", "ant", "ary", "est")


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


def _make(instruction: str, rest: str) -> list[_Draft]:
    """Frames "make X Y": a new look (local), a new object (replace), the picture (global), or removal."""
    rest = re.sub(r"\s+instead$", "", rest.strip(), flags=re.IGNORECASE)
    gone = re.match(r"^(?P<np>.+?)\s+(?:disappear|vanish|go\s+away|be\s+gone|gone|invisible)$", rest, re.IGNORECASE)
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
        # "make the man a chef": the first noun phrase, then what it becomes.
        split = re.match(r"^(?P<np>(?:(?:the|this|that|his|her|their|its|my)\s+)?(?:[\w'-]+\s+){0,3}?[\w'-]+)\s+(?P<new>(?:a|an|into|some)\s+.+)$", rest, re.IGNORECASE)
        if split:
            return _transform(instruction, split["np"], split["new"])
        if _is_global_look(rest):
            return [_Draft("global", instruction)]
        # "make the ladies robots", "make the lake radioactive": the last word is what it becomes.
        words = rest.split()
        filler = {"here", "there", "now", "again", "too", "also", "please", "instead", "anymore", "today", "ok", "okay", "better"}
        if len(words) >= 2 and words[-1].lower() not in filler and len(_words(" ".join(words[:-1]))) > (1 if _words(words[0])[:1] and _words(words[0])[0] in _ARTICLES else 0):
            look = (" ".join(words[:-1]), words[-1])
        else:
            return []
    old, new = look
    new = re.sub(r"^(?:look|looks|appear|seem)\s+(?:like\s+)?", "", new, flags=re.IGNORECASE)
    new = re.sub(r"^(?:it|they|he|she)\s*(?:is|are|was|were|'s|'re)\s+", "", new, flags=re.IGNORECASE)
    if _is_image(old):
        if _is_background(new) or (_head(new) in _PLACES and not _is_global_look(new)):
            return [_Draft("background", instruction, prompt=_strip_determiners(new, keep_numbers=True))]
        if old.lower() in _OBJECT_PRONOUNS - {"everything"} and _is_attribute(new) and not _is_global_look(new):
            return [_Draft("local", instruction, target=_target(old), look=new + " {}")]
        return [_Draft("global", instruction)]
    if _is_background(old):
        return [_Draft("background", instruction, prompt=_strip_determiners(new) + (" background" if _is_attribute(new) else ""))]
    words = _words(old)
    if words and (words[-1] in _GLOBAL_HEADS | _LIGHTING - {"light"} or words[-1] in _TIMES | _SEASONS | _WEATHER) and len(words) <= 2:
        return [_Draft("global", instruction)]
    phrase, _ = _noun_phrase(old)
    describes = _is_attribute(new) or _is_global_look(new) or re.match(
        r"^(?:more|less|very|slightly|much|extra|super|really|so|too|a\s+bit|a\s+little|in)\s", new, re.IGNORECASE
    ) or (len(_words(new)) == 1 and _words(new)[0].endswith(_ADJECTIVE_ENDINGS))
    if not describes or re.match(r"^(?:a|an)\s", new, re.IGNORECASE) and not re.search(r"\b(?:hue|colou?r|shade|tint|tone|look)$", new, re.IGNORECASE):
        return _transform(instruction, old, new)
    look_text = re.sub(r"\s+(?:in\s+)?(?:colou?r|colou?red|hue)$", "", new, flags=re.IGNORECASE)
    look_text = re.sub(r"^(?:a|an)\s+(.+?)\s+(?:hue|colou?r|shade|tint|tone)$", r"\1", look_text, flags=re.IGNORECASE)
    look_text = re.sub(r"^in\s+", "", look_text, flags=re.IGNORECASE)
    return [_Draft("local", instruction, target=_target(item), look=look_text + " {}") for item in _split_list(phrase or old)]


def _colour(instruction: str, rest: str, verb: str) -> list[_Draft]:
    """Frames "paint the wall blue", "dye the plant in red", "coat the dog in brown", "cover X with snow"."""
    if verb in ("paint", "draw", "spray") and re.match(r"^(?:a|an|some|two|three|four|five)\s", rest, re.IGNORECASE):
        return _add(instruction, rest, verb)
    rest = re.sub(r"\s+in\s+colou?r$", "", rest, flags=re.IGNORECASE)
    match = re.match(r"^(?P<np>.+?)\s+(?:in|with|into|using|to)\s+(?P<look>.+)$", rest, re.IGNORECASE)
    if match:
        phrase, look = match["np"], match["look"]
    else:
        split = _split_look(rest)
        if split is None:
            phrase, _ = _noun_phrase(rest)
            if not phrase or (_is_image(phrase) and not _is_pronoun(phrase)):
                return [_Draft("global", instruction)]
            return [_Draft("local", instruction, target=_target(phrase), look=("{} covered" if verb in ("cover", "coat") else "painted {}"))]
        phrase, look = split
    look = re.sub(r"^(?:a|an|the)\s+", "", look.strip(), flags=re.IGNORECASE)
    look = re.sub(r"\s+(?:colou?r|colou?red|hue|shade|tint|tone|pigment|paint|attire|clothes|clothing)$", "", look, flags=re.IGNORECASE)
    if _is_image(phrase) and not _is_pronoun(phrase):
        return [_Draft("global", instruction)]
    if _is_background(phrase):
        return [_Draft("background", instruction, prompt=f"{look} background")]
    target, _ = _noun_phrase(phrase)
    template = "{} covered in " + look if verb in ("cover", "coat") and not _is_attribute(look) else look + " {}"
    return [_Draft("local", instruction, target=_target(item), look=template) for item in _split_list(target)]


def _give_split(rest: str) -> Optional[tuple[str, str]]:
    """Gives back (who gets it, what they get) for "the man a hat", "them funny hats", "the ivy on the wall a golden hue"."""
    words = rest.split()
    if len(words) < 2:
        return None
    if words[0].lower() in ("it", "them", "him", "her", "me", "us", "everyone", "everything") and words[1].lower() not in _NOUN_AFTER_HER:
        return words[0], " ".join(words[1:])
    prepositions = {"of", "with", "on", "in", "at", "from", "to", "by", "near", "under", "above", "behind", "for"}
    for i in range(2, len(words)):
        word, before = words[i].lower(), words[i - 1].lower()
        opens = word in ("a", "an", "some", "more", "less") or word in _NUMBERS or _is_look_word(word)
        if opens and before not in prepositions and before not in _DETERMINERS and not _is_look_word(before):
            return " ".join(words[:i]), " ".join(words[i:])
    if len(words) >= 3 and words[0].lower() in _DETERMINERS:
        return " ".join(words[:-1]), words[-1]
    return None


def _give(instruction: str, rest: str) -> list[_Draft]:
    """Frames "give the man a hat" (add on him) and "give the car a red tint" (local), "give it a vintage look" (global)."""
    given_to = re.match(r"^(?P<what>.+?)\s+to\s+(?P<np>.+)$", rest, re.IGNORECASE)
    holder_and_what = (given_to["np"], given_to["what"]) if given_to else _give_split(rest)
    if holder_and_what is None:
        return []
    holder, what = holder_and_what
    if _is_background(what):
        keep = None if _is_image(holder) else _target(_noun_phrase(holder)[0])
        return [_Draft("background", instruction, target=keep, prompt=_strip_determiners(what, keep_numbers=True))]
    if _is_image(holder) or _is_style_or_time(what) or (_is_global_look(what) and _is_image(holder)):
        return [_Draft("global", instruction)]
    phrase, _ = _noun_phrase(holder)
    look = re.match(r"^(?:a|an|some|the)?\s*(?P<look>.+?)\s+(?P<kind>hue|colou?r|shade|tint|tone|look|finish|texture|pattern|makeover|paint\s+job|coat\s+of\s+paint|glow|appearance|feel|vibe|style)$", what, re.IGNORECASE)
    if look:
        template = look["look"] + " {}" if _is_attribute(look["look"]) else "{} with " + look["look"] + " " + look["kind"]
        return [_Draft("local", instruction, target=_target(phrase), look=template)]
    body = _words_of("hair beard mustache moustache tattoo tattoos tan smile smiles expression freckles makeup wrinkles eyes skin fur coat")
    if _is_attribute(what) or _head(what) in body or (_head(what) in _ATTRIBUTE_NOUNS and any(_is_look_word(w) for w in _words(what))):
        return [_Draft("local", instruction, target=_target(phrase), look="{} with " + _strip_determiners(what, keep_numbers=True))]
    return [_Draft("add", instruction, prompt=_indefinite(_noun_phrase(what)[0] or what), anchor=_target(phrase), relation="on")]


def _dress(instruction: str, rest: str) -> list[_Draft]:
    match = re.match(r"^(?P<np>.+?)\s+(?:in|with|up\s+in|up\s+as|as)\s+(?P<what>.+)$", rest, re.IGNORECASE)
    if not match:
        return []
    phrase, _ = _noun_phrase(match["np"])
    what = re.sub(r"\s+(?:attire|clothes|clothing|outfit)$", "", match["what"], flags=re.IGNORECASE)
    if _is_attribute(what):
        return [_Draft("local", instruction, target=_target(phrase), look="{} dressed in " + what)]
    return [_Draft("local", instruction, target=_target(phrase), look="{} wearing " + _indefinite(what))]


def _global_verb(instruction: str, rest: str, verb: str) -> list[_Draft]:
    """Frames "brighten the image" (global) against "brighten the sky" or "blur the background"."""
    rest = re.sub(r"^(?:up|down|out)\s+|\s+(?:up|down|out)$", "", rest, flags=re.IGNORECASE)
    if verb in _ALWAYS_GLOBAL_VERBS - {"brighten", "lighten", "darken", "illuminate", "desaturate", "saturate", "colorize", "colourize"}:
        return [_Draft("global", instruction)]
    if re.match(r"^(?:with|for|by|through|to|using|in)\b", rest, re.IGNORECASE) or not rest:
        return [_Draft("global", instruction)]
    immersed = re.match(r"^(?:the\s+|this\s+)?(?:" + _IMAGE_NOUN + r"|scene|composition|it)\s+(?:with|in|into)\s+(?P<what>.+)$", rest, re.IGNORECASE)
    if immersed and verb not in ("brighten", "darken", "lighten", "illuminate"):
        if _is_global_look(immersed["what"]) or not re.match(r"^(?:a|an|one|two|three|four|five|six|seven|some|several|\d+)\s", _ABSTRACT_OF.sub("", immersed["what"]), re.IGNORECASE):
            return [_Draft("global", instruction)]
        return _add(instruction, immersed["what"], "add")
    if verb in ("infuse", "immerse", "drench", "evoke", "craft", "capture", "express", "tell", "produce", "convey", "explore", "dive", "enter", "embark", "blend", "highlight") and _is_style_or_time(rest):
        return [_Draft("global", instruction)]
    phrase, _ = _noun_phrase(rest, keep_with=False)
    if not phrase or _is_image(phrase) or _is_weather_thing(phrase) or _is_global_look(phrase) or _is_global_look(rest):
        if phrase and _is_background(phrase) and not _mentions(phrase, _WEATHER):
            return [_Draft("background", instruction, prompt=f"{_past(verb)} background")]
        return [_Draft("global", instruction)]
    if _is_background(phrase):
        return [_Draft("background", instruction, prompt=f"{_past(verb)} background")]
    if verb in ("infuse", "immerse", "drench", "evoke", "craft", "capture", "express", "tell", "produce", "convey", "explore", "dive", "enter", "embark", "blend", "highlight"):
        return [_Draft("global", instruction)] if _is_global_look(instruction) else []
    return [_Draft("local", instruction, target=_target(phrase), look=_past(verb) + " {}")]


def _past(verb: str) -> str:
    special = {"blur": "blurred", "dim": "dimmed", "brighten": "brighter", "darken": "darker", "lighten": "lighter",
               "sharpen": "sharper", "enlarge": "larger", "shrink": "smaller", "widen": "wider", "soften": "softer",
               "thicken": "thicker", "lengthen": "longer", "shorten": "shorter", "thin": "thinner", "grow": "bigger"}
    if verb in special:
        return special[verb]
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y"):
        return verb[:-1] + "ied"
    return verb + "ed"


def _size(instruction: str, rest: str, verb: str) -> list[_Draft]:
    phrase, tail = _noun_phrase(rest, keep_with=False)
    if verb in ("move", "shift", "relocate"):
        if phrase and re.match(r"^(?:outside|outdoors|indoors|inside)$", tail, re.IGNORECASE):
            return [_Draft("background", instruction, target=None if _is_image(phrase) else _target(phrase), prompt=tail)]
        return _add(instruction, rest, "move")
    if not phrase or _is_image(phrase) or _is_weather_thing(phrase):
        return [_Draft("global", instruction)]
    if _is_background(phrase):
        return [_Draft("background", instruction, prompt=f"{_past(verb)} background")]
    return [_Draft("local", instruction, target=_target(phrase), look=_past(verb) + " {}")]


def _have(instruction: str, rest: str) -> list[_Draft]:
    """Frames "have the dog wear a hat", "let the bird fly", "let a dog join the scene", "have a cat on the sofa"."""
    if re.match(r"^(?:a|an|some|two|three|four|five)\s", rest, re.IGNORECASE):
        rest = re.sub(r"\s+(?:join|enter|appear|be|sit|stand|rest|lie|play)\b(?:\s+(?:in|on|into))?", " in", rest, count=1, flags=re.IGNORECASE)
        return _add(instruction, rest, "add")
    becomes = re.match(r"^(?P<np>.+?)\s+(?:turn|become|change|transform|morph|get)\s+(?:in\s*to|to)?\s*(?P<new>.+)$", rest, re.IGNORECASE)
    if becomes:
        return _transform(instruction, becomes["np"], becomes["new"])
    return _make(instruction, rest) or _action(instruction, rest, anywhere=True)


def _loose(instruction: str, text: str) -> list[_Draft]:
    """Frames a clause with no verb we know: "as a watercolor", "more Renaissance", "a cat on the sofa"."""
    low = text.lower()
    instead = re.match(r"^(?P<new>.+?)\s+(?:instead\s+of|in\s+place\s+of|rather\s+than)\s+(?P<old>.+)$", text, re.IGNORECASE)
    if instead:
        return _transform(instruction, instead["old"], instead["new"])
    arrow = re.match(r"^(?P<old>.+?)\s*(?:->|→|=>)\s*(?P<new>.+)$", text)
    if arrow:
        return _transform(instruction, arrow["old"], arrow["new"])
    if _is_global_look(text):
        words = _words(low)
        concrete = [w for w in words if w not in _DETERMINERS and not _is_global_look(w) and w not in {"as", "in", "at", "more", "less", "with", "like", "of", "by", "a", "an", "style", "look", "make", "it", "into", "to", "the", "and", "during", "version", "during", "time", "effect"}]
        if not concrete or re.match(r"^(?:as|in|at|during|more|less|with|like|by|into|to|make)\b", low) or len(concrete) <= 2:
            return [_Draft("global", instruction)]
    if re.match(r"^(?:as|in the style of|like|more|less|by)\s", low) or _is_style_or_time(text):
        return [_Draft("global", instruction)]
    placed = re.match(r"^(?:(?:as\s+if\s+(?:it\s+)?(?:is|was|were)\s+)?(?:in|at|into|to|inside|on)|located\s+in|set\s+in)\s+(?P<place>.+)$", text, re.IGNORECASE)
    if placed and (_head(_noun_phrase(placed["place"])[0]) in _PLACES or _is_background(placed["place"])):
        return [_Draft("background", instruction, prompt=_strip_determiners(placed["place"], keep_numbers=True))]
    with_what = re.match(r"^(?:with|plus|and)\s+(?P<what>.+)$", text, re.IGNORECASE)
    if with_what:
        if _is_background(with_what["what"]):
            return [_Draft("background", instruction, prompt=_strip_determiners(with_what["what"], keep_numbers=True))]
        return _add(instruction, with_what["what"], "add")
    if re.match(r"^(?:a|an|some|two|three|four|five|another)\s", low):
        return _add(instruction, text, "add")
    colour = [w for w in _words(low) if w in _COLOURS]
    if colour and len(_words(low)) <= 8:
        rest = re.sub(r"\b" + re.escape(colour[0]) + r"\b", "", text, count=1, flags=re.IGNORECASE)
        phrase, _ = _noun_phrase(re.sub(r"^\s*(?:for|to|on|the\s+colou?r\s+(?:for|of))\s+", "", rest.strip(), flags=re.IGNORECASE))
        phrase = _POSSESSIVE_COLOUR.sub("", phrase)
        if phrase and not _is_image(phrase):
            return [_Draft("local", instruction, target=_target(phrase), look=colour[0] + " {}")]
    return []


def _parse_clause(clause: str, previous: Optional[_Draft]) -> list[_Draft]:
    """Gives back the steps of one clause, in order (several for "remove the cat and the dog")."""
    said = _POLITE_END.sub("", _POLITE_START.sub("", clause.strip())).strip() or clause.strip()
    text = _imperative(clause)
    words = _words(text)
    if not words:
        return []
    if words[0] in ("don't", "dont", "do", "never", "not", "nothing") and (len(words) < 2 or words[1] in ("not", "change", "touch", "remove", "edit", "modify", "alter") or words[0] != "do"):
        return []
    verb = _lemma(words[0])
    rest = text[re.match(r"\s*\S+\s*", text).end():]
    if verb in _KEEP_VERBS:
        return []
    if verb in ("edit", "photoshop", "airbrush", "blot", "rub", "clone", "brush", "black", "white", "paint", "blur", "cut", "crop") and re.search(r"^out\b|\sout$", rest, re.IGNORECASE):
        return _remove(said, re.sub(r"^out\s+|\s+out$", "", rest, flags=re.IGNORECASE))
    if verb in _ALWAYS_GLOBAL_VERBS:
        return _global_verb(said, rest, verb)
    if verb == "get" and re.match(r"^rid\s+of\s+", rest, re.IGNORECASE):
        return _remove(said, rest[re.match(r"^rid\s+of\s+", rest, re.IGNORECASE).end():])
    if verb == "get" and re.search(r"\s(?:off|out\s+of|away\s+from|out)(?:\s|$)", rest, re.IGNORECASE):
        return _remove(said, re.sub(r"\s+(?:off|out|away)(?=\s+(?:of|from)\b|\s+the\b|$)", " from", rest, count=1).replace("from of", "from"))
    if verb == "take" and re.search(r"^(?:away|out|off)\b|\s(?:away|out|off)(?:\s+(?:of|from|the)\b|$)", rest, re.IGNORECASE):
        return _remove(said, re.sub(r"\s+(?:out|off|away)(?=\s+(?:of|from)\b)", "", rest))
    if verb in ("cut", "crop", "strip", "wipe", "sweep", "clear", "pluck") and not re.match(r"^(?:out|away|off|up)?\s*(?:the\s+)?(?:" + _IMAGE_NOUN + r")\b(?!\s+of)", rest, re.IGNORECASE):
        return _remove(said, rest) if verb not in ("crop",) or re.match(r"^(?:out|away)\b", rest, re.IGNORECASE) else _size(said, rest, verb)
    if verb == "light" and not re.match(r"^(?:up\b|it\b|the\s+(?:image|photo|picture|scene)\b)", rest, re.IGNORECASE):
        if re.match(r"^(?:a|an|some|two|three)\s", rest, re.IGNORECASE):
            return _add(said, rest, "add")
        return [_Draft("local", said, target=_target(_noun_phrase(rest)[0]), look="lit {}")]
    if verb in ("drop", "lose") and not re.match(r"^(?:a|an|some|two|three)\s", rest, re.IGNORECASE):
        return _remove(said, rest)
    if verb in ("hide",) and re.search(r"\s(?:with|behind|under)\s", rest):
        return [_Draft("local", said, target=_target(_noun_phrase(rest, keep_with=False)[0]), look="{} covered")]
    if verb in _REMOVE_VERBS and verb not in ("cut", "crop", "strip", "wipe", "sweep", "clear", "pluck"):
        if verb in ("uncover", "unmask", "unveil", "liberate", "free", "purify", "detoxify", "decontaminate") and not _is_weather_thing(rest) and not _mentions(rest, _WEATHER | _LIGHTING):
            return [_Draft("global", said)] if _is_image(_noun_phrase(rest)[0]) or _mentions(rest, _words_of("details detail elements features beauty clarity content")) else _remove(said, rest)
        return _remove(said, rest)
    if verb in _SWAP_VERBS or verb in _CHANGE_VERBS:
        if verb in ("render", "transport", "project") and _is_global_look(rest):
            return [_Draft("global", said)]
        return _change(said, rest, verb)
    if verb == "make":
        return _make(said, rest)
    if verb in ("give",):
        return _give(said, rest)
    if verb in ("dress", "clothe", "wrap"):
        return _dress(said, rest) or _colour(said, rest, "cover")
    if verb in ("have", "let", "get"):
        return _have(said, rest)
    if verb in ("apply", "choose", "opt", "pick"):
        onto = re.match(r"^(?:for\s+)?(?P<look>.+?)\s+(?:to|on|onto|for)\s+(?P<np>.+)$", rest, re.IGNORECASE)
        if onto and not _is_image(onto["np"]) and not _is_style_or_time(onto["look"]):
            return _colour(said, f"{onto['np']} in {onto['look']}", "colour")
        return [_Draft("global", said)] if verb == "apply" or _is_global_look(rest) else []
    if verb in _COLOUR_VERBS:
        if verb in ("cover", "coat") and re.match(r"^(?:the\s+)?(?:" + _IMAGE_NOUN + r"|scene|everything|it)\b", rest, re.IGNORECASE) and _mentions(rest, _WEATHER):
            return [_Draft("global", said)]
        return _colour(said, rest, verb)
    if verb in ("decorate", "fill", "adorn", "grace", "enrich", "enliven", "populate") and not _is_image(_noun_phrase(rest)[0]):
        with_what = re.match(r"^(?P<np>.+?)\s+(?:with|in)\s+(?P<what>.+)$", rest, re.IGNORECASE)
        if with_what and not _is_image(with_what["np"]):
            if _is_attribute(re.sub(r"\s+(?:hue|colou?r|shade|tint|tone|pigment)$", "", re.sub(r"^(?:a|an)\s+", "", with_what["what"]))):
                return _colour(said, rest, "colour")
            if verb in ("grace", "adorn", "populate", "enrich", "enliven") and (re.match(r"^(?:a|an|some|two|three|four|five|six|seven|eight|nine|ten|\d+)\s", with_what["what"]) or _ABSTRACT_OF.match(with_what["what"])):
                return _add(said, f"{with_what['what']} on {with_what['np']}", "add")
            return [_Draft("local", said, target=_target(_noun_phrase(with_what["np"])[0]), look="{} with " + _strip_determiners(with_what["what"], keep_numbers=True))]
    if verb in _ADD_VERBS:
        made = _noun_phrase(rest, keep_with=False)[0]
        if verb in ("show", "feature", "depict", "create", "generate", "produce", "draw", "sketch", "craft") and (
            _is_image(made) or _head(made) in _ABSTRACT_HEADS or _is_a_look(made)
        ):
            return [_Draft("global", said)] if _is_global_look(rest) else []
        return _add(said, rest, verb)
    if verb in _SIZE_VERBS:
        if verb == "blur" or verb in ("zoom",):
            return _global_verb(said, rest, verb)
        return _size(said, rest, verb)
    if verb in _GLOBAL_VERBS:
        return _global_verb(said, rest, verb)
    return _loose(said, text)


def plan_rules(instruction: str) -> Plan:
    """Gives back the Plan for an instruction, read with rules alone (no model, no image).

    Args:
        instruction: what the user asked, in English: one edit or several ("remove the dog and
            make it sunset"), possibly polite or phrased as a question ("could you ...?").

    Returns:
        A Plan with one Step per edit, in order; for text with no edit (a question, small talk),
        no steps and a `message` saying what chatedit can do.
    """
    text = " ".join((instruction or "").replace("\r", "\n").split(" "))
    if not text.strip():
        return Plan(steps=[], message=_NO_EDIT_MESSAGE)
    if parse_command(text):
        return Plan(steps=[], message=f'"{text.strip()}" is a session command, not an edit. ' + _NO_EDIT_MESSAGE.split(". ", 1)[1])
    if is_question(text):
        return Plan(steps=[], message=_QUESTION_MESSAGE)
    drafts: list[_Draft] = []
    last: Optional[_Draft] = None
    for clause in _split_clauses(text):
        parsed = _parse_clause(clause, last)
        focus = _FOCUS.match(_imperative(clause)) if not parsed else None
        if focus:
            # "find the kettle and paint it silver": no edit, but "it" now means the kettle.
            last = _Draft("local", clause, target=_target(_noun_phrase(focus["np"] or focus["subject"])[0]))
        for draft in parsed:
            last = _link(draft, last, drafts)
            drafts.append(last)
    if not drafts:
        return Plan(steps=[], message=_NO_EDIT_MESSAGE)
    return Plan(steps=[draft.step() for draft in drafts])


_FOCUS = re.compile(
    r"^(?:(?:find|select|locate|pick|grab|take|look\s+at|focus\s+on|spot|choose|see|there\s+(?:is|are)|there's|you\s+see)\s+(?P<np>.+)|"
    r"(?P<subject>(?:the|this|that|these|those)\s+.+?)\s+(?:is|are|looks?|seems?|was|were)\b.*)$",
    re.IGNORECASE,
)


def _link(draft: _Draft, previous: Optional[_Draft], drafts: list[_Draft]) -> _Draft:
    """Gives back a step tied to the one before: "it" becomes the previous object, "where it was" a replace."""
    if previous is None:
        return draft
    if draft.category == "add" and draft.takes_previous_place and previous.category == "remove" and drafts and drafts[-1] is previous:
        drafts.pop()
        return replace(draft, category="replace", target=previous.target, anchor=None, relation=None)
    subject = _result_object(previous)
    if subject is None:
        return draft
    if draft.target in ("it", "them", "him", "her") and draft.category in ("remove", "replace", "local", "background"):
        return replace(draft, target=subject)
    if draft.category == "add" and draft.anchor in ("it", "them", "him", "her"):
        return replace(draft, anchor=subject)
    return draft


def _result_object(draft: _Draft) -> Optional[str]:
    """Gives back what "it" means after a step: the new object of a replace or add, else the target."""
    if draft.category in ("replace", "add"):
        return _strip_determiners(draft.prompt or "") or None
    if draft.category in ("local", "remove"):
        return draft.target
    return None

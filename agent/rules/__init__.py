"""The rules planner: a Plan from the instruction text alone, with no model.

It reads an edit request the way a person skims one:

1. Chat shorthand and common misspellings are written out ("pls remvoe teh bg").
2. The turn is cut into clauses: at newlines, ";", sentence ends, "then", and at "and" or "," when
   a new verb follows ("remove the dog and make it sunset"), never inside a noun phrase ("salt and
   pepper shakers", "black and white"); at "," also when every piece is an edit with no verb
   ("night, candles lit, no people").
3. Each clause is put in the imperative: politeness dropped ("could you ... please?"), passives
   made active ("the dog should be removed"), fronted places moved back ("to the left of the man,
   add a girl"), wishes turned into orders ("I'd like the car to be red"), complaints about a thing
   into its removal ("the bin bothers me").
4. A verb shared by several objects gives one clause per object ("paint the door red and the fence
   green", "give the cat a bow and the dog a collar").
5. Edits for an instruction-following editor are recognised first (text on a thing, a move, a
   count, a pose); otherwise the clause's verb picks a frame (remove, add, replace or change, make,
   colour, give, ...) through the table `_FRAMES`; the frame reads the object and what it should
   become, and the word lists of agent/words/ (verbs, colours, materials, styles, seasons, weather,
   lighting, places) settle the category.
6. Steps are linked: "it" means the previous step's object, or what a description before named
   ("the rug is too red, make it beige"); "her" after "the woman's earrings" means the woman; "put a
   cat where it was" turns the removal before it into a replacement; a thing complained about and
   then edited is edited, not removed.

It never sees the image. "it" with nothing before it in the turn stays "it", for the session to
resolve against the previous turn.

What it knows is data in agent/words/: word lists (`VERBS.remove` is the `remove` list of
verbs.toml, `SCENE.places` the `places` list of scene.toml) and phrasings (`RE.polite_start` is
the `polite_start` pattern of phrases.toml, compiled). A new word or wording is a line there; a
new verb for an existing frame is a word in the verb list of that frame; a new kind of verb is a
frame function `(instruction, rest, verb) -> steps` and a row of `frames._FRAMES`.

The package, one concern a module: `lexicon` (the word lists of agent/words/), `clauses` (splitting,
the imperative, a verb shared by several objects), `drafts` (the steps being built), `objects`
(frames of things removed, added or coloured), `changes` (what a thing becomes), `kinds` (text,
count, pose and move edits), `frames` (the other frames, the table that picks one by the verb, and
the reading of a clause), `commands` (session commands and questions, which the graph routes on) and
`planner` (`plan_rules`). What one module uses of another has a public name.
"""

from chatedit.agent.rules.commands import is_question, parse_command
from chatedit.agent.rules.planner import plan_rules

__all__ = ["is_question", "parse_command", "plan_rules"]

"""chatedit: a chat agent that edits images.

    from chatedit import Editor
    editor = Editor(models="tiny", planner="rules")
    session = editor.session()
    turn = session.send("remove the cup and make it sunset", image="photo.jpg")
    turn.image.save("out.png"); print(turn.message)

The package is three folders: `chatedit.agent` (the brain: planning, the graph, sessions, interfaces),
`chatedit.tools` (the hands: plain functions over images) and `chatedit.prompts` (the words).
"""

# The front door is chatedit.agent's: imported on first use, so that `chatedit plan` and `--help` do
# not pay for torch and diffusers.
from chatedit.agent import __all__ as __all__
from chatedit.agent import __getattr__ as __getattr__

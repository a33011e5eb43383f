"""chatedit: a chat agent that edits images.

    from chatedit import Editor
    editor = Editor(models="tiny", planner="rules")
    session = editor.session()
    turn = session.send("remove the cup and make it sunset", image="photo.jpg")
    turn.image.save("out.png"); print(turn.message)

The package is three folders: `chatedit.agent` (the brain: planning, the graph, sessions, interfaces),
`chatedit.tools` (the hands: plain functions over images) and `chatedit.prompts` (the words).
"""

__all__ = ["Editor", "Session", "Turn"]


def __getattr__(name: str):
    # Imported on first use so that `chatedit plan` and `--help` do not pay for torch and diffusers.
    if name in __all__:
        from chatedit.agent import session

        return getattr(session, name)
    raise AttributeError(name)

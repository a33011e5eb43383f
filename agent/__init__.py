"""chatedit's brain: planning, the LangGraph state machine, verification, sessions and interfaces.

from chatedit import Editor
editor = Editor(models="tiny", planner="rules")
session = editor.session()
turn = session.send("remove the cup and make it sunset", image="photo.jpg")
turn.image.save("out.png"); print(turn.message)
"""

__all__ = ["Editor", "Session", "Turn"]


def __getattr__(name: str):
    # Imported on first use so that `chatedit plan` and `--help` do not pay for torch and diffusers.
    if name in __all__:
        from chatedit.agent import session

        return getattr(session, name)
    raise AttributeError(name)

"""Every LLM prompt as a text file, loaded by name."""

from importlib import resources


def load(name: str) -> str:
    """Gives back the text of prompts/<name>.txt."""
    return resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")

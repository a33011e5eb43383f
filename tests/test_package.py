"""The installed package: one import name, and nothing else on the import path."""

import subprocess
import sys


def _imports(module: str, cwd) -> bool:
    result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=cwd, capture_output=True, text=True)
    return result.returncode == 0


def test_only_chatedit_is_importable_from_outside_the_checkout(tmp_path):
    assert _imports("chatedit.agent.plan", tmp_path)
    assert _imports("chatedit.tools.masks", tmp_path)
    for name in ("agent", "tools", "prompts"):
        assert not _imports(name, tmp_path), f"a top-level module named {name!r} is importable"


def test_front_door_gives_the_editor():
    import chatedit
    from chatedit.agent.session import Editor

    assert chatedit.Editor is Editor


def test_prompts_load_from_the_installed_package():
    from chatedit import prompts

    assert prompts.load("plan").strip()

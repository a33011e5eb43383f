"""The installed package: one import name, and nothing else on the import path."""

import os
import subprocess
import sys
from pathlib import Path


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


def test_every_package_folder_is_installed():
    """A non-editable install takes only the packages pyproject.toml lists: each folder with an __init__.py."""
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    root = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(("chatedit", *init.parent.relative_to(root).parts))
        for top in ("agent", "tools", "prompts")
        for init in (root / top).rglob("__init__.py")
    }
    assert folders <= listed, f"package folders missing from pyproject.toml: {sorted(folders - listed)}"


def test_without_the_ui_extra_only_the_ui_tests_are_skipped_and_say_why(tmp_path):
    """With Gradio missing (a stand-in module that fails as a missing one does), the suite still collects."""
    (tmp_path / "gradio.py").write_text('raise ModuleNotFoundError("No module named \'gradio\'", name="gradio")\n')
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "SKIPPED" in result.stdout and "the ui extra" in result.stdout
    collected = {line.split("::")[0].split(":")[0] for line in result.stdout.splitlines() if line.startswith("tests/")}
    assert "tests/test_cli.py" in collected and "tests/test_server.py" in collected
    assert not any(name.startswith("tests/ui/") for name in collected)

"""Every documented CHATEDIT_* variable reaches the one settings object, and every way in reads it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatedit.agent.config import Settings
from chatedit.agent.session import Editor

ROOT = Path(__file__).resolve().parents[1]

SAMPLES: dict[str, tuple[str, str, object]] = {
    # variable: (value set, the setting it changes, the value read back)
    "CHATEDIT_MODELS": ("modern:tiny", "models", "modern:tiny"),
    "CHATEDIT_WEIGHTS": ("tiny", "weights", "tiny"),
    "CHATEDIT_PLANNER": ("rules", "planner", "rules"),
    "CHATEDIT_DEVICE": ("cpu", "device", "cpu"),
    "CHATEDIT_QUANTIZE": ("int8", "quantize", "int8"),
    "CHATEDIT_OFFLOAD": ("group", "offload", "group"),
    "CHATEDIT_FINDER": ("sam3", "finder", "sam3"),
    "CHATEDIT_DATA_DIR": ("/srv/chatedit", "data_dir", Path("/srv/chatedit")),
    "CHATEDIT_DATABASE_URL": ("postgresql://db/chatedit", "database_url", "postgresql://db/chatedit"),
    "CHATEDIT_CACHE_DIR": ("/srv/cache", "cache_dir", Path("/srv/cache")),
    "CHATEDIT_MAX_ATTEMPTS": ("5", "max_attempts", 5),
    "CHATEDIT_MAX_STEPS": ("3", "max_steps", 3),
    "CHATEDIT_SEED": ("7", "seed", 7),
    "CHATEDIT_SESSION_WAIT": ("5", "session_wait", 5.0),
    "CHATEDIT_DEBUG": ("1", "debug", True),
    "CHATEDIT_EDITOR_STEPS": ("8", "edit.editor_steps", 8),
    "CHATEDIT_INPAINT_STEPS": ("12", "edit.inpaint_steps", 12),
    "CHATEDIT_GLOBAL_STEPS": ("9", "edit.global_steps", 9),
    "CHATEDIT_LOCAL_MODE": ("zone", "edit.local_mode", "zone"),
    "CHATEDIT_LLM": ("local:Qwen/Qwen2.5-VL-3B-Instruct", "llm", "local:Qwen/Qwen2.5-VL-3B-Instruct"),
    "CHATEDIT_LLM_MAX_TOKENS": ("512", "language_model.max_tokens", 512),
    "CHATEDIT_LLM_BASE_URL": ("http://127.0.0.1:11434/v1", "language_model.base_url", "http://127.0.0.1:11434/v1"),
    "CHATEDIT_LLM_API_KEY": ("sk-test", "language_model.api_key", "sk-test"),
    "CHATEDIT_LLM_MODEL": ("qwen2.5vl:7b", "language_model.model", "qwen2.5vl:7b"),
    "CHATEDIT_LLM_TIMEOUT": ("15", "language_model.timeout", 15.0),
    "CHATEDIT_API_KEY": ("sk-one", "server.api_key", "sk-one"),
    "CHATEDIT_API_KEYS": ("sk-a, sk-b", "server.api_keys", ["sk-a", "sk-b"]),
    "CHATEDIT_MAX_PIXELS": ("1000000", "server.max_pixels", 1_000_000),
    "CHATEDIT_LARGE_PIXELS": ("2000000", "server.large_pixels", 2_000_000),
    "CHATEDIT_MAX_LARGE_REQUESTS": ("4", "server.max_large_requests", 4),
    "CHATEDIT_MAX_REQUEST_BYTES": ("1000", "server.max_request_bytes", 1000),
    "CHATEDIT_MAX_IMAGE_BYTES": ("999", "server.max_image_bytes", 999),
    "CHATEDIT_ALLOW_REMOTE_IMAGES": ("true", "server.allow_remote_images", True),
    "CHATEDIT_REMOTE_TIMEOUT_S": ("3", "server.remote_timeout_s", 3.0),
    "CHATEDIT_IMAGE_LINKS": ("url", "server.image_links", "url"),
    "CHATEDIT_IMAGE_LINK_TTL_S": ("60", "server.image_link_ttl_s", 60.0),
    "CHATEDIT_PUBLIC_URL": ("http://edit.example:8000", "server.public_url", "http://edit.example:8000"),
    "CHATEDIT_DETECTOR": ("org/detector", "checkpoints.detector", "org/detector"),
    "CHATEDIT_SEGMENTER": ("facebook/sam-vit-huge", "checkpoints.segmenter", "facebook/sam-vit-huge"),
    "CHATEDIT_INPAINTER": ("org/inpainter", "checkpoints.inpainter", "org/inpainter"),
    "CHATEDIT_GLOBAL_EDITOR": ("org/editor", "checkpoints.global_editor", "org/editor"),
    "CHATEDIT_MODERN_EDITOR": ("org/klein", "checkpoints.modern_editor", "org/klein"),
    "CHATEDIT_MAX_EDITOR": ("org/qwen", "checkpoints.max_editor", "org/qwen"),
    "CHATEDIT_SAM3": ("org/sam3-mirror", "checkpoints.sam3", "org/sam3-mirror"),
}


def documented() -> set[str]:
    """Gives back every CHATEDIT_* variable the README names (a name ending in _ is a family of them)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return {name for name in re.findall(r"CHATEDIT_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])", text)}


def read(settings: Settings, path: str):
    value = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


@pytest.fixture
def clean_environment(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith(("CHATEDIT_", "OPENAI_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_every_documented_variable_has_a_setting():
    missing = documented() - set(SAMPLES)
    assert not missing, f"documented in README.md but not checked here: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_variable_changes_its_setting(name, clean_environment):
    value, path, expected = SAMPLES[name]
    default = read(Settings(), path)
    clean_environment.setenv(name, value)
    assert read(Settings(), path) == expected != default


def test_arguments_override_the_environment_and_none_leaves_it(clean_environment):
    clean_environment.setenv("CHATEDIT_MODELS", "max:tiny")
    clean_environment.setenv("CHATEDIT_SEED", "3")
    settings = Settings.given(models="modern:tiny", seed=None)
    assert settings.models == "modern:tiny" and settings.seed == 3


def test_the_editor_reads_the_environment_and_its_arguments_win(clean_environment, tmp_path):
    """CHATEDIT_MODELS picks the Editor's family as it does the CLI's; an argument overrides it."""
    clean_environment.setenv("CHATEDIT_MODELS", "modern:tiny")
    clean_environment.setenv("CHATEDIT_DEVICE", "cpu")
    clean_environment.setenv("CHATEDIT_MAX_ATTEMPTS", "2")
    clean_environment.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "from-env"))
    editor = Editor()
    try:
        assert (editor.toolbox.models.family, editor.toolbox.models.weights) == ("modern", "tiny")
        assert editor.context.max_attempts == 2 and editor.data_dir == tmp_path / "from-env"
    finally:
        editor.close()
    editor = Editor(models="max", weights="tiny", max_attempts=1, data_dir=tmp_path / "given")
    try:
        assert (editor.toolbox.models.family, editor.toolbox.models.weights) == ("max", "tiny")
        assert editor.context.max_attempts == 1 and editor.data_dir == tmp_path / "given"
    finally:
        editor.close()

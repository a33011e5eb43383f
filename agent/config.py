"""Every setting of chatedit in one object, `Settings`, read from CHATEDIT_* environment variables.

The CLI's flags, `Editor(...)`'s arguments and the server's options override the variables; whatever
is not given comes from here, so `CHATEDIT_MODELS=modern:tiny chatedit edit ...` and
`Editor()` under the same variable load the same models. Groups of settings that one part of the
program reads have their own class (`EditSettings` for the editors, `LLMSettings` for the LLM server,
`ServerSettings` for the HTTP API, `Checkpoints` for the model ids), each a field of `Settings`.

This module imports neither torch nor the web frameworks: reading settings is cheap.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chatedit.tools.checkpoints import Checkpoints

MODEL_ID = "chatedit"
SESSION_WAIT = 60.0
"""Default seconds a turn waits for another turn on the same session before answering "busy"."""
RETRIES = 2
"""Default retries of a request after a transport failure (timeout, refused connection, 429, 5xx)."""
BACKOFF = 0.5
"""Default wait before the first retry, in seconds; it doubles with each retry."""


def default_data_dir() -> Path:
    """Gives back CHATEDIT_DATA_DIR, or ~/.local/share/chatedit."""
    root = os.environ.get("CHATEDIT_DATA_DIR") or os.path.join(
        os.environ.get("XDG_DATA_HOME", os.path.expanduser("~/.local/share")), "chatedit"
    )
    return Path(root)


class EditSettings(BaseSettings):
    """Generation settings shared by every edit of a turn (env: CHATEDIT_INPAINT_STEPS, CHATEDIT_LOCAL_MODE, ...)."""

    model_config = SettingsConfigDict(env_prefix="CHATEDIT_", extra="ignore")

    inpaint_steps: int = 25
    """Denoising steps for region edits (DPM-Solver++ needs fewer than DDIM)."""
    global_steps: int = 20
    """Denoising steps for InstructPix2Pix."""
    guidance: float = 7.5
    image_guidance: float = 1.5
    global_max_side: Optional[int] = None
    """Longest side of InstructPix2Pix's working size; None: 1.5x the model's native size (768 for SD1.5)."""
    local_mode: Literal["inpaint", "zone"] = "inpaint"
    """How `local` steps edit: `inpaint` repaints the object from a prompt (may change its shape);
    `zone` runs the instruction editor on the whole image and keeps only the edited region (keeps
    structure, weaker for big changes)."""
    editor_steps: Optional[int] = None
    """Steps of the modern and max editors; None: what each model is made for (4 for klein, 40 for Qwen)."""
    ask_when_ambiguous: bool = True
    """Ask which one when a few equally likely objects match the target; False takes the likeliest."""
    box_threshold: float = 0.3
    text_threshold: float = 0.25


class LLMSettings(BaseSettings):
    """Where the vision LLM is and how to call it, read from CHATEDIT_LLM_* (else OPENAI_*) variables."""

    model_config = SettingsConfigDict(env_prefix="CHATEDIT_LLM_", populate_by_name=True, extra="ignore")

    base_url: Optional[str] = Field(
        default=None,
        validation_alias=AliasChoices("CHATEDIT_LLM_BASE_URL", "OPENAI_BASE_URL"),
        description="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 (None: OpenAI's).",
    )
    api_key: Optional[SecretStr] = Field(
        default=None,
        validation_alias=AliasChoices("CHATEDIT_LLM_API_KEY", "OPENAI_API_KEY"),
        description="API key (a local server usually needs none).",
    )
    model: str = Field(default="gpt-4o-mini", description="Chat model with vision and tool calling.")
    timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for one HTTP request.")
    retries: int = Field(default=RETRIES, ge=0, description="Retries of a request after a transport failure.")
    backoff: float = Field(default=BACKOFF, ge=0, description="Seconds before the first retry; doubles each time.")
    max_tokens: int = Field(
        default=1024, ge=16, description="Token budget of one reply of an in-process model (--llm editor or local:)."
    )

    @field_validator("base_url", "api_key", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def configured(self) -> bool:
        """True when an API key or a base URL is set, so there is an LLM to call."""
        return self.api_key is not None or self.base_url is not None


class ServerSettings(BaseSettings):
    """Server settings, read from CHATEDIT_* environment variables (e.g. CHATEDIT_MAX_REQUEST_BYTES)."""

    model_config = SettingsConfigDict(env_prefix="CHATEDIT_", extra="ignore")

    api_key: Optional[str] = None
    """A key every request but /health must carry as `Authorization: Bearer KEY`."""
    api_keys: Annotated[list[str], NoDecode] = []
    """More accepted keys (comma-separated in CHATEDIT_API_KEYS); each key has its own sessions."""
    max_request_bytes: int = 64 * 1024 * 1024
    """Largest request body accepted (413 above); a resent history carries every earlier image."""
    max_image_bytes: int = 20 * 1024 * 1024
    """Largest encoded image accepted (413 above)."""
    max_pixels: int = Field(default=50_000_000, gt=0)
    """Most pixels of a picture the server edits (413 above; the decoder's own limit is 64 MP): 48 MP photos pass."""
    large_pixels: int = Field(default=16_000_000, gt=0)
    """A picture over this many pixels is a large request: at most `max_large_requests` wait or run at once."""
    max_large_requests: int = Field(default=2, ge=1)
    """Large requests held at once (decoded, waiting or editing); one more answers 503 with Retry-After."""
    allow_remote_images: bool = False
    """Fetch `image_url` parts given as http(s) URLs (public addresses only); off: data URLs only."""
    remote_timeout_s: float = 10.0
    """Time limit for fetching one remote image."""
    image_links: Literal["inline", "url"] = "inline"
    """How answers carry the picture: `inline` as a data URL, `url` as a link to /v1/images/{id}."""
    image_link_ttl_s: float = Field(default=7 * 24 * 3600, gt=0)
    """Seconds an image link of an answer stays valid, with API keys (CHATEDIT_IMAGE_LINK_TTL_S; default a week)."""
    public_url: Optional[str] = None
    """Base URL clients reach this server at, for image links (default: the request's own base URL)."""
    model_id: str = MODEL_ID
    """The model name listed by /v1/models."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @property
    def keys(self) -> list[str]:
        """Every accepted API key (empty: no key needed)."""
        return [key for key in [self.api_key, *self.api_keys] if key]


class Settings(BaseSettings):
    """Every setting of a run: CHATEDIT_MODELS, CHATEDIT_PLANNER, CHATEDIT_DEVICE, ... and the groups below.

    `Settings.given(models=..., ...)` overrides the environment with the arguments that are not None,
    as the CLI and `Editor(...)` do.
    """

    model_config = SettingsConfigDict(env_prefix="CHATEDIT_", extra="ignore")

    models: str = "auto"
    """The model family: auto, classic, modern, max (or `family:weights`, e.g. modern:tiny)."""
    weights: Optional[Literal["real", "tiny", "random"]] = None
    """real checkpoints, tiny random models or random full-size ones; None: what `models` implies, else real."""
    planner: Literal["auto", "llm", "rules"] = "auto"
    """auto: the LLM (`llm`) when there is one, else the rules."""
    llm: Optional[str] = None
    """Which LLM plans, judges and answers: `editor` (the family's own text encoder, in-process), `local:MODEL`
    (a transformers chat model, in-process), `server` (CHATEDIT_LLM_BASE_URL/API_KEY) or the URL of an
    OpenAI-compatible server; None: a configured server, else the editor's encoder on a GPU, else none."""
    finder: Literal["auto", "dino-sam", "sam3"] = "auto"
    """What finds and outlines objects: GroundingDINO + SAM, or SAM 3; auto: SAM 3 when it is in the Hugging Face cache."""
    quantize: Literal["auto", "none", "int8", "fp8", "nf4"] = "auto"
    """The editors' diffusion model and text encoder: auto (on a GPU, as little as fits its free memory), none,
    int8, fp8 or nf4."""
    offload: Literal["none", "model", "group"] = "none"
    """Where the editors' weights wait between uses: on the device, or in CPU memory a model (`model`) or a
    few blocks (`group`) at a time."""
    device: str = "auto"
    """Where the models run: auto, cpu, cuda or mps."""
    data_dir: Path = Field(default_factory=default_data_dir)
    """Where sessions and images are kept (CHATEDIT_DATA_DIR)."""
    database_url: Optional[str] = None
    """postgresql://... shared by replicas; None: SQLite in the data dir."""
    cache_dir: Optional[Path] = None
    """Where the tiny models are saved; None: ~/.cache/chatedit."""
    max_attempts: int = Field(default=3, ge=1)
    """Tries per step before the best failed try is kept."""
    max_steps: int = Field(default=8, ge=1)
    """Most edit steps one message may ask for (CHATEDIT_MAX_STEPS); a message asking for more is answered
    with what to do, and nothing is edited."""
    seed: int = 0
    """Base seed of every generation."""
    session_wait: float = Field(default=SESSION_WAIT, ge=0)
    """Seconds a turn waits for another turn on its session before answering busy."""
    debug: bool = False
    """Show tracebacks of internal errors (CHATEDIT_DEBUG=1, or --verbose)."""
    edit: EditSettings = Field(default_factory=lambda: EditSettings())
    language_model: LLMSettings = Field(default_factory=lambda: LLMSettings())
    server: ServerSettings = Field(default_factory=lambda: ServerSettings())
    checkpoints: Checkpoints = Field(default_factory=lambda: Checkpoints())

    @field_validator("database_url", "llm", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("llm")
    @classmethod
    def _known_llm(cls, value):
        if value is None or value in ("editor", "server") or value.startswith(("http://", "https://")):
            return value
        if value.startswith("local:") and value.removeprefix("local:").strip():
            return "local:" + value.removeprefix("local:").strip()
        raise ValueError(
            f"unknown LLM {value!r}: use editor, local:MODEL (a model id or folder), server, or an http(s) URL"
        )

    @classmethod
    def given(cls, **overrides: Any) -> "Settings":
        """Gives back the environment's settings with every override that is not None put over them."""
        return cls(**{name: value for name, value in overrides.items() if value is not None})

"""The server's settings and its one error type, answered in OpenAI's error shape."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from fastapi.responses import JSONResponse
from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chatedit.tools.errors import InputError, TooLargeError

MODEL_ID = "chatedit"


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
    allow_remote_images: bool = False
    """Fetch `image_url` parts given as http(s) URLs (public addresses only); off: data URLs only."""
    remote_timeout_s: float = 10.0
    """Time limit for fetching one remote image."""
    image_links: Literal["inline", "url"] = "inline"
    """How answers carry the picture: `inline` as a data URL, `url` as a link to /v1/images/{id}."""
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


class APIError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        kind: str = "invalid_request_error",
        param: Optional[str] = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.kind, self.param = status, message, code, kind, param

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status)


def from_input_error(exc: InputError) -> APIError:
    """Gives back the HTTP error for bad input: 413 when it is too large, else 400."""
    if isinstance(exc, TooLargeError):
        return APIError(413, str(exc), "request_too_large")
    return APIError(400, str(exc), "invalid_request")

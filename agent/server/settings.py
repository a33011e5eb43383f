"""The server's settings and its one error type, answered in OpenAI's error shape."""

from __future__ import annotations

from typing import Optional

from fastapi.responses import JSONResponse

from chatedit.agent.config import MODEL_ID, ServerSettings
from chatedit.tools.errors import InputError, TooLargeError

__all__ = ["MODEL_ID", "APIError", "ServerSettings", "from_input_error"]


class APIError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        kind: str = "invalid_request_error",
        param: Optional[str] = None,
        headers: Optional[dict[str, str]] = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.kind, self.param = status, message, code, kind, param
        self.headers = headers

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


RETRY_AFTER_S = 5
"""Seconds a client is asked to wait (Retry-After) before sending again a request the database failed."""


def from_input_error(exc: InputError) -> APIError:
    """Gives back the HTTP error for bad input: 413 when it is too large, else 400."""
    if isinstance(exc, TooLargeError):
        return APIError(413, str(exc), "request_too_large")
    return APIError(400, str(exc), "invalid_request")

"""Errors raised by the inference package.

    InferenceError
    ├── BackendNotInstalled  the backend's library (vLLM) is not in this Python
    ├── InvalidParams      sampling parameters refused before any request leaves Margin
    ├── ContextTooLong     the dialogue does not fit the model's context (refuse mode, or even
    │                      the system message plus the last user turn is too long)
    └── BackendError       the model server or model failed
        ├── ServerUnavailable   down, refused, timed out or 429/5xx after bounded retries
        ├── ModelNotFound       404 / unknown model name
        └── BadRequest          any other 4xx

Messages never carry a response body wholesale: at most a short, cleaned excerpt of the
server's own error message.
"""

from __future__ import annotations

_EXCERPT_CHARS = 160


class InferenceError(Exception):
    """Base class of every error this package raises on purpose."""


class BackendNotInstalled(InferenceError, ImportError):
    """The backend needs a library this Python cannot import (vLLM for the vllm backend)."""


class InvalidParams(InferenceError, ValueError):
    """A sampling parameter is out of range; nothing was sent."""


class ContextTooLong(InferenceError):
    """The dialogue does not fit the context window."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class BackendError(InferenceError):
    """The backend failed; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServerUnavailable(BackendError):
    """The server is down, refused the connection, timed out or kept answering 429/5xx."""


class ModelNotFound(BackendError):
    """The server does not serve the requested model (or the local folder is missing)."""


class BadRequest(BackendError):
    """The server refused the request (a 4xx other than 404 and 429)."""


def excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """A short single-line excerpt with control characters removed."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"

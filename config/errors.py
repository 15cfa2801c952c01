"""The errors a service raises for a person to act on, apart from invalid input (Django's
ValidationError). The API answers each with its `status_code` and one body shape,
{"detail": message, **extra()} (config/exception_handlers.py); pages show the message."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    status_code = 400

    def extra(self) -> dict[str, Any]:
        """More of the body beside "detail" (e.g. every bad line of an import)."""
        return {}

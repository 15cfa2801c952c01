"""Validators shared by models, forms and serializers."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError


def validate_server_url(value: str) -> None:
    """An http(s) base URL of a model server. Unlike Django's URLValidator this accepts
    single-label hosts (`http://vllm:8000/v1`, a compose service; `http://gpu-1:8000/v1`)."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ValidationError(f"{value!r} is not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(f"{value!r} must be an http(s) URL with a host")
    if any(c.isspace() for c in value) or (port is not None and not 0 < port < 65536):
        raise ValidationError(f"{value!r} is not a valid server URL")


def validate_storable_json(value) -> None:
    """A JSON value both databases store: no U+0000 and no lone surrogate in any key or text."""
    from mlcore.dialogue import RowInvalid, check_json

    try:
        check_json(value, "value")
    except RowInvalid as exc:
        raise ValidationError(str(exc)) from None


def validate_dialogue(value) -> None:
    """Messages that make a prompt or context by the one dialogue reader's rules (mlcore)."""
    from mlcore.dialogue import RowInvalid, prompt_messages

    try:
        prompt_messages(value, "messages")
    except RowInvalid as exc:
        raise ValidationError(str(exc)) from None

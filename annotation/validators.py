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

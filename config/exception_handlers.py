"""One exception handler for the whole API (the shape of HackSoftware's Styleguide-Example,
"DRF's default with modifications"): every error body is an object with "detail".

- Django's ValidationError (a service's `full_clean`, or its own checks) becomes DRF's:
  400 {"detail": {"field": ["message", ...]}};
- an ApplicationError (JobError: 409, ImportFailed: 400 with its "errors") keeps its status:
  {"detail": "message", ...extra};
- everything else is DRF's own answer (403 PermissionDenied, 404, 401, 405, ...), with a list
  or dict of messages put under "detail" too.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ApplicationError


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response({"detail": str(exc), **exc.extra()}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(getattr(exc, "detail", None), list | dict):
        response.data = {"detail": response.data}
    return response

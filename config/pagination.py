"""Pagination of every list endpoint: `limit` and `offset`, validated and capped.

A `limit` above MAX_PAGE_SIZE answers MAX_PAGE_SIZE rows (and says so in the OpenAPI schema);
a `limit` or `offset` that is not a whole number in range answers 400 naming it, instead of
DRF's silent fallback or a database error on a huge offset.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_OFFSET = 2**31 - 1


class CappedLimitOffsetPagination(LimitOffsetPagination):
    default_limit = DEFAULT_PAGE_SIZE
    max_limit = MAX_PAGE_SIZE

    def get_limit(self, request):
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return min(_whole(raw, self.limit_query_param, 1, None), self.max_limit)

    def get_offset(self, request):
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _whole(raw, self.offset_query_param, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            schema = parameter["schema"]
            if parameter["name"] == self.limit_query_param:
                schema.update({"minimum": 1, "default": self.default_limit})
                parameter["description"] = (
                    f"Number of results to return per page (default {self.default_limit}; "
                    f"at most {self.max_limit}: a larger limit returns {self.max_limit})."
                )
            else:
                schema.update({"minimum": 0, "maximum": MAX_OFFSET})
        return parameters


def _whole(raw: str, name: str, low: int, high: int | None) -> int:
    """A whole number in [low, high] (no upper bound: None), or 400 naming the parameter."""
    text = raw.strip()
    valid = text.isascii() and text.isdigit() and len(text) <= 30
    if not valid or int(text) < low or (high is not None and int(text) > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValidationError({name: [f"must be a whole number {bound}"]})
    return int(text)

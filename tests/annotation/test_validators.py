"""Validators of annotation fields."""

import pytest
from django.core.exceptions import ValidationError

from annotation.validators import validate_server_url


@pytest.mark.parametrize(
    "url, ok",
    [
        ("http://vllm:8000/v1", True),
        ("https://models.example.org/v1", True),
        ("http://127.0.0.1:8000/v1", True),
        ("ftp://vllm/v1", False),
        ("http:///v1", False),
        ("http://vllm:99999/v1", False),
        ("http://vl lm:8000/v1", False),
    ],
)
def test_server_urls_may_name_single_label_hosts(url, ok):
    if ok:
        validate_server_url(url)
    else:
        with pytest.raises(ValidationError):
            validate_server_url(url)

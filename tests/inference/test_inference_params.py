"""Sampling parameters are refused before anything leaves Margin."""

from __future__ import annotations

import dataclasses
import math

import pytest

from inference import InvalidParams, SamplingParams
from inference.backends.http import OpenAIHTTPBackend
from inference.params import SEED_MAX

HI = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    "field, value",
    [
        ("temperature", -0.1),
        ("temperature", 2.01),
        ("temperature", math.nan),
        ("temperature", math.inf),
        ("temperature", "1.0"),
        ("temperature", True),
        ("top_p", 0.0),
        ("top_p", -0.5),
        ("top_p", 1.5),
        ("top_p", math.nan),
        ("max_tokens", 0),
        ("max_tokens", -3),
        ("max_tokens", 4097),
        ("max_tokens", 8.0),
        ("seed", -1),
        ("seed", SEED_MAX + 1),
        ("seed", 1.5),
        ("seed", "7"),
        ("seed", False),
    ],
)
def test_bad_values_are_refused(field, value):
    with pytest.raises(InvalidParams, match=field):
        SamplingParams(**{field: value})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": 0.0},
        {"temperature": 2.0, "top_p": 1.0},
        {"top_p": 1e-6},
        {"max_tokens": 1},
        {"max_tokens": 4096},
        {"seed": 0},
        {"seed": SEED_MAX},
        {"temperature": 1},
    ],
)
def test_boundary_values_are_accepted(kwargs):
    SamplingParams(**kwargs)


def test_nothing_is_sent_when_a_param_is_bad(fake_server):
    backend = OpenAIHTTPBackend(fake_server.base_url, "fake-model", max_retries=0)
    good = SamplingParams(max_tokens=4, seed=1)
    bad = dataclasses.replace(good)
    object.__setattr__(bad, "top_p", 0.0)  # bypass the constructor check
    with pytest.raises(InvalidParams, match="top_p"):
        backend.generate([HI, HI], [good, bad])
    assert fake_server.requests == []


def test_backend_limit_on_max_tokens(fake_server):
    backend = OpenAIHTTPBackend(fake_server.base_url, "fake-model", max_tokens_limit=64)
    with pytest.raises(InvalidParams, match="max_tokens"):
        backend.generate([HI], SamplingParams(max_tokens=65))
    assert fake_server.requests == []


def test_params_count_must_match(fake_server):
    backend = OpenAIHTTPBackend(fake_server.base_url, "fake-model")
    with pytest.raises(ValueError, match="2 params for 1"):
        backend.generate([HI], [SamplingParams(), SamplingParams()])
    assert fake_server.requests == []

"""Issue 13, case 08: a positive but tiny temperature is greedy decoding (as vLLM treats any
temperature below its sampling epsilon) in every backend, never a division by ~0."""

from __future__ import annotations

import pytest

from inference import SamplingParams
from inference.backends.http import OpenAIHTTPBackend
from inference.params import GREEDY_BELOW, effective_temperature
from tests.inference.conftest import FAKE_MODEL

CONVERSATION = [[{"role": "user", "content": "List three fruits that are red."}]]
TINY = (1e-30, 1e-39, 5e-324, GREEDY_BELOW / 2)


@pytest.mark.parametrize("temperature", TINY)
def test_tiny_temperature_is_recorded_as_greedy(temperature):
    params = SamplingParams(temperature=temperature, top_p=1.0, max_tokens=16, seed=7)
    assert params.temperature == 0.0 and params.greedy
    assert effective_temperature(temperature) == 0.0
    assert SamplingParams(temperature=GREEDY_BELOW).temperature == GREEDY_BELOW


def test_transformers_backend_samples_tiny_temperatures_greedily(cpu_backend):
    greedy = cpu_backend.generate(CONVERSATION, SamplingParams(0.0, 1.0, 8, seed=7))[0]
    assert greedy.text.strip()
    for temperature in (1e-39, 5e-324):
        out = cpu_backend.generate(CONVERSATION, SamplingParams(temperature, 1.0, 8, seed=7))[0]
        assert out.text == greedy.text, temperature
        assert out.params.temperature == 0.0


def test_http_backend_sends_zero_for_a_tiny_temperature(fake_server):
    backend = OpenAIHTTPBackend(fake_server.base_url, FAKE_MODEL, max_retries=0)
    backend.generate(CONVERSATION, SamplingParams(temperature=1e-39, max_tokens=4, seed=1))
    assert fake_server.requests[-1][2]["temperature"] == 0.0

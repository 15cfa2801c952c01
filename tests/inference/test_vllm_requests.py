"""How the vLLM backends (in-process and HTTP) turn samples into requests (no vLLM needed)."""

import importlib.util
import sys

import pytest

from inference import BackendNotInstalled, ModelVariant, load_backend
from inference.backends.base import request_groups
from inference.params import SamplingParams


def test_consecutive_seeds_of_one_dialogue_share_one_request():
    hi = [{"role": "user", "content": "hi"}]
    bye = [{"role": "user", "content": "bye"}]

    def params(seed: int, temperature: float = 1.0) -> SamplingParams:
        return SamplingParams(temperature=temperature, max_tokens=8, seed=seed)

    messages = [hi] * 4 + [bye] * 2 + [hi] * 3
    per_sample = [params(5), params(6), params(7), params(7)]  # 7 again: a new request
    per_sample += [params(8), params(9)]  # another dialogue
    per_sample += [params(10), params(11, temperature=0.5), params(12, temperature=0.5)]
    assert request_groups(messages, per_sample) == [[0, 1, 2], [3], [4, 5], [6], [7, 8]]


def test_unseeded_samples_of_one_dialogue_share_a_request_wherever_they_are():
    hi = [{"role": "user", "content": "hi"}]
    bye = [{"role": "user", "content": "bye"}]
    plain = SamplingParams(temperature=1.0, max_tokens=8)
    seeded = SamplingParams(temperature=1.0, max_tokens=8, seed=3)
    messages = [hi, bye, hi, hi, hi]
    per_sample = [plain, plain, seeded, plain, plain.__class__(max_tokens=4)]
    assert request_groups(messages, per_sample) == [[0, 3], [1], [2], [4]]


def test_the_vllm_backend_without_vllm_says_which_python_and_what_to_do(tmp_path):
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed in this Python")
    with pytest.raises(BackendNotInstalled) as info:
        load_backend(ModelVariant("policy", "vllm", model=str(tmp_path)))
    assert sys.executable in str(info.value) and "MARGIN_JOB_PYTHON" in str(info.value)

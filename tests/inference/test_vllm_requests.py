"""How the in-process vLLM backend turns samples into engine requests (no vLLM needed)."""

from inference.backends.vllm_local import _requests
from inference.params import SamplingParams


def test_consecutive_seeds_of_one_dialogue_share_one_request():
    hi = [{"role": "user", "content": "hi"}]
    bye = [{"role": "user", "content": "bye"}]

    def params(seed: int, temperature: float = 1.0) -> SamplingParams:
        return SamplingParams(temperature=temperature, max_tokens=8, seed=seed)

    fitted = [(hi, 0)] * 4 + [(bye, 0)] * 2 + [(hi, 0)] * 3
    per_sample = [params(5), params(6), params(7), params(7)]  # 7 again: a new request
    per_sample += [params(8), params(9)]  # another dialogue
    per_sample += [params(10), params(11, temperature=0.5), params(12, temperature=0.5)]
    assert _requests(fitted, per_sample) == [[0, 1, 2], [3], [4, 5], [6], [7, 8]]

"""The default backend generates real text from SmolLM2 on CPU, one seed per sample."""

from __future__ import annotations

import pytest

from inference import SamplingParams, health_check
from inference.errors import ModelNotFound

PROMPTS = [
    [{"role": "user", "content": "Name a colour."}],
    [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of France?"},
    ],
    [{"role": "user", "content": "Write a short poem about rain and the sea at night."}],
]


def params(seed: int, **kw) -> SamplingParams:
    return SamplingParams(
        **{"temperature": 1.0, "top_p": 0.95, "max_tokens": 10, "seed": seed, **kw}
    )


@pytest.fixture(scope="module")
def batched(cpu_backend):
    return cpu_backend.generate(PROMPTS, [params(100 + i) for i in range(len(PROMPTS))])


def test_real_text_with_counts(batched, tokenizer):
    for prompt, c in zip(PROMPTS, batched, strict=True):
        assert c.text.strip()
        assert 1 <= c.completion_tokens <= 10
        assert c.finish_reason in ("stop", "length")
        assert c.finish_reason == "stop" or c.completion_tokens == 10
        expected = tokenizer.apply_chat_template(
            prompt, add_generation_prompt=True, return_dict=False
        )
        assert c.prompt_tokens == len(expected)
        assert c.seconds > 0 and c.dropped_turns == 0


def test_same_seed_same_text_batched_or_alone(cpu_backend, batched):
    """Also shows determinism for given seeds: a second run reproduces the batch's texts."""
    for i, prompt in enumerate(PROMPTS):
        [alone] = cpu_backend.generate([prompt], params(100 + i))
        assert alone.text == batched[i].text


def test_different_seeds_give_different_samples(cpu_backend):
    prompt = PROMPTS[2]
    out = cpu_backend.generate(
        [prompt] * 3, [params(s, temperature=1.3, top_p=1.0, max_tokens=6) for s in range(3)]
    )
    assert len({c.text for c in out}) >= 2
    assert [c.params.seed for c in out] == [0, 1, 2]


def test_greedy_and_length_limit(cpu_backend):
    [a, b] = cpu_backend.generate(
        [PROMPTS[2]] * 2,
        [params(1, temperature=0.0, max_tokens=3), params(2, temperature=0.0, max_tokens=5)],
    )
    assert b.text.startswith(a.text)
    assert (a.completion_tokens, a.finish_reason) == (3, "length")


def test_greedy_matches_transformers_generate(cpu_backend):
    """Our sampling loop over the KV cache decodes exactly as `model.generate` does."""
    import torch

    prompt = PROMPTS[2]
    ids = cpu_backend.tokenizer.apply_chat_template(
        prompt, add_generation_prompt=True, return_dict=False
    )
    reference = cpu_backend.lm.generate(
        torch.tensor([ids]), max_new_tokens=4, min_new_tokens=4, do_sample=False
    )[0, len(ids) :]
    [c] = cpu_backend.generate([prompt], params(0, temperature=0.0, max_tokens=4))
    assert c.text == cpu_backend.tokenizer.decode(reference, skip_special_tokens=True)


def test_seed_is_drawn_and_recorded_when_missing(cpu_backend):
    [c] = cpu_backend.generate([PROMPTS[0]], SamplingParams(max_tokens=2))
    assert isinstance(c.params.seed, int)


def test_health_check(cpu_backend):
    assert health_check(cpu_backend).completion_tokens == 1


def test_missing_folder_is_model_not_found(tmp_path):
    from inference.backends.transformers_cpu import TransformersBackend

    with pytest.raises(ModelNotFound):
        TransformersBackend(tmp_path / "nothing")


def test_each_drawn_token_comes_with_its_log_probability(cpu_backend, batched):
    """log softmax(logits / T)[token] of each draw (before the top-p cut), as a forward of the
    whole prompt and answer gives it."""
    import torch

    for c in batched:
        assert len(c.token_logprobs) == len(c.token_ids)
        ids = torch.tensor([list(c.prompt_token_ids) + list(c.token_ids)])
        with torch.no_grad():
            logits = cpu_backend.lm(input_ids=ids).logits[0, len(c.prompt_token_ids) - 1 : -1]
        expected = torch.log_softmax(logits / c.params.temperature, dim=-1)
        expected = expected.gather(-1, torch.tensor(c.token_ids).unsqueeze(-1)).squeeze(-1)
        assert torch.tensor(c.token_logprobs) == pytest.approx(expected, abs=1e-4)
        assert all(lp <= 0.0 for lp in c.token_logprobs)


def test_the_chunked_head_draws_what_the_models_own_logits_draw(cpu_backend, monkeypatch):
    """SmolLM2 is a Llama: its decoding steps apply the output head by vocabulary chunks
    (`mlcore.heads`); the model's own logits give the same draws."""
    import torch

    from inference.backends import transformers_cpu
    from mlcore.heads import plain_output_head

    assert plain_output_head(cpu_backend.lm) is not None
    chunked = cpu_backend.generate(PROMPTS, [params(7 + i) for i in range(len(PROMPTS))])
    monkeypatch.setattr(transformers_cpu, "plain_output_head", lambda model: None)
    own = cpu_backend.generate(PROMPTS, [params(7 + i) for i in range(len(PROMPTS))])
    for a, b in zip(chunked, own, strict=True):
        assert a.token_ids == b.token_ids
        assert torch.tensor(a.token_logprobs) == pytest.approx(b.token_logprobs, abs=1e-5)

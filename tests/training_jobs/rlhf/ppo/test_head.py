"""The output head by vocabulary chunks gives the logits path's log-probs, entropies and
gradients (up to float rounding)."""

import pytest
import torch

from mlcore.tiny_models import causal_lm, llama_config, numbered_words, word_tokenizer
from training_jobs.rlhf.ppo.batch import (
    chunked_forward,
    collate,
    logits_forward,
    policy_forward,
)
from training_jobs.rlhf.ppo.head import head_logprobs
from training_jobs.rlhf.ppo.losses import entropy, token_logprobs


def _plain(hidden, weight, targets, temperature):
    logits = hidden @ weight.t() / temperature
    log_z = torch.logsumexp(logits, dim=-1)
    return token_logprobs(logits, targets, log_z), entropy(logits.detach(), log_z.detach())


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_head_logprobs_match_the_logits_and_their_gradients(temperature):
    torch.manual_seed(0)
    # 1,000 words in chunks of 256: the last chunk is partial and holds some targets
    hidden = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(1000, 16, dtype=torch.float64, requires_grad=True)
    targets = torch.cat([torch.tensor([0, 255, 256, 999, 998]), torch.randint(0, 1000, (32,))])
    upstream = torch.randn(37, dtype=torch.float64)

    expected, expected_entropy = _plain(hidden, weight, targets, temperature)
    (expected * upstream).sum().backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None

    got, got_entropy = head_logprobs(hidden, weight, targets, temperature, chunk=256)
    (got * upstream).sum().backward()

    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_entropy, expected_entropy)
    assert not got_entropy.requires_grad
    torch.testing.assert_close(hidden.grad, grads[0])
    torch.testing.assert_close(weight.grad, grads[1])


def test_extreme_logits_stay_finite():
    hidden = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    weight = torch.tensor([[500.0, 0.0], [-500.0, 0.0], [0.0, 300.0]])
    logprobs, ent = head_logprobs(hidden, weight, torch.tensor([1, 2]), chunk=2)
    expected, expected_entropy = _plain(hidden, weight, torch.tensor([1, 2]), 1.0)
    torch.testing.assert_close(logprobs, expected)
    torch.testing.assert_close(ent, expected_entropy)
    assert torch.isfinite(logprobs).all() and torch.isfinite(ent).all()


def _model_and_batch():
    tokenizer = word_tokenizer(numbered_words(3000))  # a vocabulary of several chunks
    model = causal_lm(llama_config(tokenizer), seed=3)
    prompts = [[5, 9, 11], [7, 8, 9, 10, 12, 40], [2999]]
    answers = [[100, 200, 2500, 4], [301], [17, 18, 2998]]
    return model, collate(prompts, answers, tokenizer.pad_token_id)


@pytest.mark.parametrize("temperature", [1.0, 0.8])
def test_the_chunked_policy_forward_matches_the_logits_path(temperature):
    model, batch = _model_and_batch()
    head = model.get_output_embeddings()

    expected, expected_entropy = logits_forward(model, batch, temperature, with_entropy=True)
    expected.sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()

    got, got_entropy = chunked_forward(model, head, batch, temperature, with_entropy=True)
    got.sum().backward()

    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(got_entropy, expected_entropy, atol=2e-5, rtol=1e-5)
    assert (got[batch.mask == 0] == 0).all()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], atol=1e-5, rtol=1e-4, msg=name)


def test_policy_forward_takes_the_chunked_path_only_where_it_is_exact(monkeypatch):
    from training_jobs.rlhf.ppo import batch as batch_module

    model, batch = _model_and_batch()
    taken = []
    monkeypatch.setattr(
        batch_module, "chunked_forward", lambda *a, **k: taken.append("chunked") or (None, None)
    )
    monkeypatch.setattr(
        batch_module, "logits_forward", lambda *a, **k: taken.append("logits") or (None, None)
    )
    policy_forward(model, batch)
    model.config.model_type = "gemma2"  # soft-caps its logits after the head
    policy_forward(model, batch)
    model.config.model_type = "llama"
    policy_forward(model.to(torch.float64), batch)
    assert taken == ["chunked", "logits", "logits"]

"""PPO's maths on hand-computed tensors."""

import math

import pytest
import torch

from training_jobs.rlhf.ppo.losses import (
    gae,
    kl_k1,
    kl_k3,
    last_token_index,
    masked_mean,
    masked_whiten,
    moments,
    policy_loss,
    shaped_rewards,
    token_logprobs,
    value_loss,
    whiten_with,
)


def t(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_clipped_policy_loss():
    ratios = [1.5, 0.5, 1.1, 0.7]
    logp = t([math.log(r) for r in ratios])
    old = torch.zeros_like(logp)
    advantages = t([1.0, 1.0, -1.0, -1.0])
    loss, clipped = policy_loss(logp, old, advantages, t([1.0, 1.0, 1.0, 1.0]), clip=0.2)
    # ratio 1.5, A=1: max(-1.5, -1.2) = -1.2 (clipped); 0.5, A=1: max(-0.5, -0.8) = -0.5;
    # 1.1, A=-1: 1.1 inside the range; 0.7, A=-1: max(0.7, 0.8) = 0.8 (clipped).
    assert loss[0].tolist() == pytest.approx([-1.2, -0.5, 1.1, 0.8])
    assert clipped.tolist() == [[1.0, 0.0, 0.0, 1.0]]
    masked, masked_clip = policy_loss(logp, old, advantages, t([1.0, 1.0, 1.0, 0.0]), clip=0.2)
    assert masked[0, 3] == 0 and masked_clip[0, 3] == 0
    assert masked_mean(masked, t([1.0, 1.0, 1.0, 0.0])) == pytest.approx((-1.2 - 0.5 + 1.1) / 3)


def test_clipped_value_loss():
    values, old, returns = t([0.5, -0.1, 0.3]), t([0.0, 0.0, 0.0]), t([1.0, 1.0, -1.0])
    loss, clipped = value_loss(values, old, returns, t([1.0, 1.0, 1.0]), clip=0.2)
    # 0.5 → clipped to 0.2: 0.5 * max(0.25, 0.64); -0.1 inside: 0.5 * 1.21;
    # 0.3 → 0.2: 0.5 * max(1.69, 1.44).
    assert loss[0].tolist() == pytest.approx([0.32, 0.605, 0.845])
    assert clipped.tolist() == [[1.0, 0.0, 0.0]]


def test_gae_by_hand():
    advantages, returns = gae(
        t([0.0, 0.0, 1.0]), t([0.5, 0.4, 0.2]), t([1.0, 1.0, 1.0]), gamma=1.0, lam=0.5
    )
    # A2 = 1 - 0.2 = 0.8; A1 = (0 + 0.2 - 0.4) + 0.5 * 0.8 = 0.2; A0 = (0.4 - 0.5) + 0.5 * 0.2 = 0
    assert advantages[0].tolist() == pytest.approx([0.0, 0.2, 0.8], abs=1e-6)
    assert returns[0].tolist() == pytest.approx([0.5, 0.6, 1.0])


def test_gae_stops_at_the_last_real_token_and_zeroes_padding():
    advantages, returns = gae(
        t([0.0, 2.0, 9.0]), t([1.0, 1.0, 7.0]), t([1.0, 1.0, 0.0]), gamma=0.9, lam=1.0
    )
    # Padding's reward 9 and value 7 play no part: A1 = 2 - 1 = 1; A0 = 0.9 * 1 - 1 + 0.9 * 1.
    assert advantages[0].tolist() == pytest.approx([0.8, 1.0, 0.0])
    assert returns[0].tolist() == pytest.approx([1.8, 2.0, 0.0])


def test_whitening_uses_masked_values_and_unbiased_variance():
    x, mask = t([1.0, 2.0, 3.0, 100.0]), t([1.0, 1.0, 1.0, 0.0])
    # mean 2, unbiased variance ((1 + 0 + 1) / 2) = 1
    assert masked_whiten(x, mask)[0].tolist() == pytest.approx([-1.0, 0.0, 1.0, 0.0], abs=1e-6)
    kept = whiten_with(x[0, :3], moments(x, mask), shift_mean=False)
    assert kept.tolist() == pytest.approx([1.0, 2.0, 3.0], abs=1e-6)


def test_whitening_over_processes_is_whitening_of_the_whole():
    """Summed moments of two halves whiten exactly as the whole batch does."""
    x = torch.randn(10)
    ones = torch.ones(10)
    whole = whiten_with(x, moments(x, ones))
    halves = moments(x[:4], ones[:4]) + moments(x[4:], ones[4:])
    assert torch.allclose(whiten_with(x, halves), whole, atol=1e-6)
    assert float(whole.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(whole.std()) == pytest.approx(1.0, abs=1e-4)


def test_k1_and_k3():
    logp = t([math.log(0.5), math.log(0.5)])
    ref = t([math.log(0.25), math.log(1.0)])
    assert kl_k1(logp, ref)[0].tolist() == pytest.approx([math.log(2), -math.log(2)])
    # k3 = r - 1 - log r, r = pi_0 / pi_theta: r = 0.5 → 0.1931; r = 2 → 0.3069
    assert kl_k3(logp, ref)[0].tolist() == pytest.approx(
        [0.5 - 1 - math.log(0.5), 2 - 1 - math.log(2)]
    )
    same = kl_k3(logp, logp)
    assert same.tolist() == [[0.0, 0.0]] and kl_k1(logp, logp).tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ([[1, 1, 1, 0], [1, 0, 0, 0]], [(0, 2), (1, 0)]),  # right padding: EOS before the pads
        ([[0, 1, 1, 1], [0, 0, 0, 1]], [(0, 3), (1, 3)]),  # left padding: EOS at the end
    ],
)
def test_score_sits_at_the_last_real_token(mask, expected):
    mask = torch.tensor(mask, dtype=torch.float32)
    logp = torch.full((2, 4), -1.0)
    ref = logp - 0.5 * mask  # k1 = 0.5 on real tokens: -beta * k1 = -0.05 each
    rewards = shaped_rewards(torch.tensor([10.0, 20.0]), logp, ref, mask, beta=0.1)
    assert last_token_index(mask).tolist() == [col for _, col in expected]
    by_hand = -0.05 * mask
    for (row, col), score in zip(expected, (10.0, 20.0), strict=True):
        by_hand[row, col] += score
    assert torch.allclose(rewards, by_hand)


def test_reward_never_lands_on_padding():
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    rewards = shaped_rewards(torch.tensor([3.0]), torch.zeros(1, 4), torch.zeros(1, 4), mask, 0.1)
    assert rewards.tolist() == [[0.0, 3.0, 0.0, 0.0]]
    assert last_token_index(torch.zeros(1, 3)).tolist() == [0]


def test_token_logprobs_is_log_softmax_gathered():
    logits = torch.randn(2, 3, 5)
    tokens = torch.randint(0, 5, (2, 3))
    expected = torch.log_softmax(logits, -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(token_logprobs(logits, tokens), expected, atol=1e-6)

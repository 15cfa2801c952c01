"""PPO's maths as small pure functions (Touvron et al., 2023, §3.2.3; Schulman et al., 2017).

Shapes: B sequences in a batch, T response tokens (padded); `mask` (B, T) is 1.0 on real
response tokens and 0.0 on padding, which may sit on either side. Every reduction is over
masked tokens only.

The objective the paper maximises per prompt p and answer g:

    R(g | p) = R~_c(g | p) - beta * KL(pi_theta(g | p) || pi_0(g | p))
    R~_c = WHITEN(LOGIT(R_c))

as a per-token reward: -beta * (log pi_theta - log pi_0) at every answer token and the
whitened score added at the answer's last real token (its EOS when it stopped).
"""

from __future__ import annotations

import torch

EPS = 1e-8


def masked_sum(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    return (x * mask).sum() if dim is None else (x * mask).sum(dim)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of x over mask (over all tokens, or along `dim`); 0 where the mask is empty."""
    return masked_sum(x, mask, dim) / mask.sum(dim).clamp(min=1)


def moments(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(count, sum, sum of squares) of the masked values, float64: what processes add up
    to whiten over the whole batch."""
    x, mask = x.double(), mask.double()
    return torch.stack([mask.sum(), masked_sum(x, mask), masked_sum(x * x, mask)])


def whiten_with(x: torch.Tensor, stats: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """x whitened with the mean and unbiased variance from `moments` (summed over processes).

    (x - mean) / sqrt(var + 1e-8); with shift_mean=False the mean is added back (only the
    scale changes). One value has no variance: it is returned centred (or as it is).
    """
    count, total, squares = stats.tolist()
    mean = total / max(count, 1.0)
    var = (squares - count * mean * mean) / (count - 1) if count > 1 else 0.0
    if count <= 1:
        return x - mean if shift_mean else x
    out = (x - mean) * (max(var, 0.0) + EPS) ** -0.5
    return out if shift_mean else out + mean


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Whiten x over the masked values of this batch; padding becomes 0."""
    return whiten_with(x, moments(x, mask), shift_mean) * mask


def kl_k1(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """k1 = log pi_theta(y) - log pi_0(y) per token (B, T): unbiased for KL, can be negative.

    What the reward is shaped with (the paper's per-token penalty)."""
    return logprobs - ref_logprobs


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """k3 = r - 1 - log r with r = pi_0(y) / pi_theta(y), per token (B, T): unbiased, never
    negative, lower variance (Schulman, "Approximating KL divergence"). Logged beside k1."""
    log_ratio = ref_logprobs - logprobs
    return torch.expm1(log_ratio) - log_ratio


def last_token_index(mask: torch.Tensor) -> torch.Tensor:
    """Index (B,) of each row's last real token, for left or right padding; 0 for an empty row."""
    real = mask > 0
    last = mask.shape[-1] - 1 - torch.flip(real, dims=[-1]).int().argmax(dim=-1)
    return torch.where(real.any(dim=-1), last, torch.zeros_like(last))


def shaped_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Per-token rewards (B, T): -beta * k1 on answer tokens, plus `scores` (B,) (the whitened
    R~_c) at each row's last real token; 0 on padding."""
    rewards = -beta * kl_k1(logprobs, ref_logprobs) * mask
    rows = torch.arange(scores.shape[0], device=scores.device)
    rewards[rows, last_token_index(mask)] += scores.to(rewards.dtype)
    return rewards


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 1.0,
    lam: float = 0.95,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al., 2016) over right-padded rows.

        delta_t = r_t + gamma * V_{t+1} - V_t       (V after the last real token is 0)
        A_t     = delta_t + gamma * lam * A_{t+1}
        returns = A + V

    rewards, values, mask: (B, T). Returns (advantages, returns), each (B, T), 0 on padding.
    """
    width = rewards.shape[-1]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(width)):
        following = mask[:, t + 1] if t + 1 < width else torch.zeros_like(mask[:, t])
        next_value = values[:, t + 1] * following if t + 1 < width else 0.0
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running * following) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate per token (B, T) and where clipping was active (B, T).

        ratio = exp(log pi_theta - log pi_old)
        loss  = max(-A * ratio, -A * clamp(ratio, 1 - clip, 1 + clip))

    Reduce with the mask (`masked_mean`, or a sum over the mini-batch's tokens).
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    return torch.maximum(unclipped, clipped) * mask, (clipped > unclipped).float() * mask


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clipped value loss per token (B, T) and where the clipped term won (B, T).

    V_clip = old_V + clamp(V - old_V, -clip, clip)
    loss   = 0.5 * max((V - returns)^2, (V_clip - returns)^2)
    """
    clipped_values = old_values + torch.clamp(values - old_values, -clip, clip)
    unclipped = (values - returns) ** 2
    clipped = (clipped_values - returns) ** 2
    return 0.5 * torch.maximum(unclipped, clipped) * mask, (clipped > unclipped).float() * mask


def token_logprobs(
    logits: torch.Tensor, tokens: torch.Tensor, log_z: torch.Tensor | None = None
) -> torch.Tensor:
    """log softmax(logits)[tokens]: logits (B, T, V), tokens (B, T) → (B, T), without
    materialising the (B, T, V) log-softmax; `log_z`, logsumexp(logits) (B, T), if known."""
    picked = logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked - (torch.logsumexp(logits, dim=-1) if log_z is None else log_z)


def entropy(logits: torch.Tensor, log_z: torch.Tensor | None = None) -> torch.Tensor:
    """Entropy (B, T) of the categorical distributions given by logits (B, T, V); `log_z`,
    logsumexp(logits) (B, T), if known."""
    if log_z is None:
        log_z = torch.logsumexp(logits, dim=-1)
    probs = torch.exp(logits - log_z.unsqueeze(-1))
    return log_z - torch.linalg.vecdot(probs, logits)

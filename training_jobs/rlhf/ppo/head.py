"""log pi(token) straight from the last hidden states, through the output head by vocabulary
chunks, without materialising the (tokens x vocabulary) logits.

PPO needs, per answer token, log softmax(h W^T / T)[token] (and the entropy, for the logs).
Computing the logits first writes a (tokens, V) float32 tensor (about 100 MB for 8 answers of
64 tokens on a 49,152-word vocabulary) and reads it back several times (logsumexp, gather,
entropy, and again in the backward), which costs as much as the head's matrix product on a CPU.
Here the head's product runs over chunks of the vocabulary small enough to stay in cache, and a
running logsumexp (and the entropy's running sum) consumes each chunk while it is there; the
backward recomputes each chunk's logits instead of keeping them. Same values as the plain path
up to float rounding (`tests/training_jobs/rlhf/ppo/test_head.py`).
"""

from __future__ import annotations

import torch

from mlcore.heads import CHUNK


class _HeadLogprobs(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, inv_temperature: float, chunk: int):
        n, vocab = hidden.shape[0], weight.shape[0]
        peak = hidden.new_full((n,), float("-inf"))
        total = hidden.new_zeros(n)  # sum of exp(z - peak)
        weighted = hidden.new_zeros(n)  # sum of exp(z - peak) * z, for the entropy
        picked = hidden.new_zeros(n)
        for start in range(0, vocab, chunk):
            z = _logits(hidden, weight, start, chunk, inv_temperature)
            new_peak = torch.maximum(peak, z.amax(dim=1))
            rescale = torch.exp(peak - new_peak)
            e = torch.exp(z - new_peak.unsqueeze(1))
            total = total * rescale + e.sum(dim=1)
            weighted = weighted * rescale + torch.linalg.vecdot(e, z)
            peak = new_peak
            _pick(picked, z, targets, start)
        log_z = peak + torch.log(total)
        entropy = log_z - weighted / total
        ctx.save_for_backward(hidden, weight, targets, log_z)
        ctx.inv_temperature, ctx.chunk = inv_temperature, chunk
        ctx.mark_non_differentiable(entropy)
        return picked - log_z, entropy

    @staticmethod
    def backward(ctx, grad_logprobs, _grad_entropy):
        hidden, weight, targets, log_z = ctx.saved_tensors
        inv_t, chunk = ctx.inv_temperature, ctx.chunk
        want_hidden, want_weight = ctx.needs_input_grad[:2]
        grad_hidden = torch.zeros_like(hidden) if want_hidden else None
        grad_weight = torch.empty_like(weight) if want_weight else None
        g = grad_logprobs.unsqueeze(1)
        for start in range(0, weight.shape[0], chunk):
            w = weight[start : start + chunk]
            z = _logits(hidden, weight, start, chunk, inv_t)
            # d log p(y) / d z = onehot(y) - softmax(z), times d z / d (h W^T) = 1 / T
            grad_z = torch.exp(z - log_z.unsqueeze(1)).mul_(-g)
            rows, columns = _in_chunk(targets, start, w.shape[0])
            grad_z[rows, columns] += grad_logprobs[rows]
            if inv_t != 1.0:
                grad_z.mul_(inv_t)
            if grad_hidden is not None:
                grad_hidden.addmm_(grad_z, w)
            if grad_weight is not None:
                torch.mm(grad_z.t(), hidden, out=grad_weight[start : start + w.shape[0]])
        return grad_hidden, grad_weight, None, None, None


def _logits(hidden, weight, start: int, chunk: int, inv_temperature: float) -> torch.Tensor:
    z = hidden @ weight[start : start + chunk].t()
    return z.mul_(inv_temperature) if inv_temperature != 1.0 else z


def _in_chunk(targets: torch.Tensor, start: int, width: int):
    """(rows, columns in the chunk) of the targets that fall in [start, start + width)."""
    rows = ((targets >= start) & (targets < start + width)).nonzero().squeeze(1)
    return rows, targets[rows] - start


def _pick(picked: torch.Tensor, z: torch.Tensor, targets: torch.Tensor, start: int) -> None:
    rows, columns = _in_chunk(targets, start, z.shape[1])
    picked[rows] = z[rows, columns]


def head_logprobs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 1.0,
    chunk: int = CHUNK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log softmax(hidden @ weight.T / temperature)[targets], its entropy): hidden (N, H),
    weight (V, H) (the output head, no bias), targets (N,) → (N,), (N,). Gradients flow to
    hidden and weight through the log-probabilities; the entropy carries none."""
    return _HeadLogprobs.apply(hidden, weight, targets, 1.0 / temperature, chunk)

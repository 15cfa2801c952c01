"""The fine-tuning loss: next-token cross-entropy on response tokens only.

Prompt tokens (and padding) carry the label IGNORE_INDEX, so the policy learns to write the
selected answer, not to reproduce the prompt (as in the paper's SFT, §3.1: "we zero-out the
loss on tokens from the user prompt").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def response_labels(input_ids: torch.Tensor, prompt_len: int) -> torch.Tensor:
    """Labels (T,) for one example (T,): the token ids, IGNORE_INDEX on the first prompt_len."""
    labels = input_ids.clone()
    labels[:prompt_len] = IGNORE_INDEX
    return labels


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood (B, T-1) of labels[:, 1:] given logits[:, :-1]; 0 where ignored.

    logits: (B, T, V) from the causal LM on the full sequence; labels: (B, T).
    """
    shifted = logits[:, :-1].float()
    targets = labels[:, 1:]
    nll = F.cross_entropy(
        shifted.reshape(-1, shifted.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    )
    return nll.reshape(targets.shape)


def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean NLL over the response tokens of the batch (a scalar).

    logits: (B, T, V); labels: (B, T) with IGNORE_INDEX on prompt and padding tokens.
    """
    count = (labels[:, 1:] != IGNORE_INDEX).sum().clamp(min=1)
    return token_nll(logits, labels).sum() / count

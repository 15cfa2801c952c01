"""Losses of the reward models (Touvron et al., 2023, §3.2.2).

The pairwise ranking loss with a margin (Eq. 2 with the margin term of Table 27):

    L = -log σ(r(x, y_c) - r(x, y_r) - m(r))

where `m(r)` depends on the annotator's grade `r` (`rewardtrain.grades.margin_for`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rewardtrain.grades import DEFAULT_MARGIN_TABLE, margin_for


def margins_tensor(grades: list[str | None], table: str = DEFAULT_MARGIN_TABLE) -> torch.Tensor:
    """Margins for a list of grades, shape (P,), float32."""
    return torch.tensor([margin_for(g, table) for g in grades], dtype=torch.float32)


def pairwise_margin_loss(
    chosen: torch.Tensor, rejected: torch.Tensor, margin: torch.Tensor
) -> torch.Tensor:
    """Per-pair ranking loss -log σ(r_c - r_r - m), Llama 2 §3.2.2 Eq. 2 with Table 27 margins.

    Args:
        chosen: rewards r(x, y_c), shape (P,).
        rejected: rewards r(x, y_r), shape (P,).
        margin: m(r) per pair, shape (P,).

    Returns:
        The loss of each pair, shape (P,); reduce it as the caller needs (sum or mean).
    """
    return -F.logsigmoid(chosen - rejected - margin)


def pair_accuracy(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """1.0 where the chosen response scores strictly higher, shape (P,) from (P,) and (P,)."""
    return (chosen > rejected).float()

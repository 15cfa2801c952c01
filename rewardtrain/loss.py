"""Losses of the reward models (Touvron et al., 2023, §3.2.2).

The pairwise ranking loss with a margin (Eq. 2 with the margin term of Table 27):

    L = -log σ(r(x, y_c) - r(x, y_r) - m(r))

where `m(r)` depends on the annotator's grade `r`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GRADES = ("significantly_better", "better", "slightly_better", "negligibly_better")
UNGRADED = "ungraded"

# Table 27 of the paper, significantly better → negligibly better / unsure.
MARGIN_TABLES: dict[str, dict[str, float]] = {
    "none": {grade: 0.0 for grade in GRADES},
    "small": {
        "significantly_better": 1.0,
        "better": 2.0 / 3.0,
        "slightly_better": 1.0 / 3.0,
        "negligibly_better": 0.0,
    },
    "large": {
        "significantly_better": 3.0,
        "better": 2.0,
        "slightly_better": 1.0,
        "negligibly_better": 0.0,
    },
}


def margin_for(grade: str | None, table: str = "small") -> float:
    """The margin m(r) of Table 27 for one grade; an ungraded pair (None) gets 0."""
    if table not in MARGIN_TABLES:
        raise ValueError(f"unknown margin table {table!r}; choose from {sorted(MARGIN_TABLES)}")
    if grade is None or grade == UNGRADED:
        return 0.0
    if grade not in MARGIN_TABLES[table]:
        raise ValueError(f"unknown grade {grade!r}; choose from {GRADES}")
    return MARGIN_TABLES[table][grade]


def margins_tensor(grades: list[str | None], table: str = "small") -> torch.Tensor:
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

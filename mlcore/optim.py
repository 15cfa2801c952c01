"""The optimiser the paper uses for every stage (Touvron et al., 2023, §3.2.2-3.2.3).

    optimizer = adamw(model, lr=1e-6, betas=(0.9, 0.95), eps=1e-5, weight_decay=0.1)

Weight decay applies to matrices (embeddings, projections, heads) and not to biases and norm
scales, as in nanoGPT and most LLM recipes. The step is PyTorch's fused kernel for plain
tensors (on a 2-core CPU about 5x faster than the per-tensor loop for SmolLM2's 135M
parameters); FSDP's sharded parameters keep the default implementation.
"""

from __future__ import annotations

import torch

from mlcore import distributed


def adamw(
    model: torch.nn.Module,
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.95),
    eps: float = 1e-5,
    weight_decay: float = 0.1,
) -> torch.optim.AdamW:
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(
        [
            {"params": [p for p in trainable if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=lr,
        betas=betas,
        eps=eps,
        fused=bool(trainable) and not distributed.is_sharded(model),
    )

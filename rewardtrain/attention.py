"""Attention over a packed row item by item, with no L x L mask (`--attention per_item`).

The block mask of a packed row (packing.py) lets a token see only its own item: the item's
context causally, and a response token its own response causally too. A dense mask makes
attention cost L^2 for a row of L tokens however small its items are, and materialises an
L x L mask; computed item by item it costs sum over items of c^2/2 + sum_j r_j (c + r_j) for a
context of c tokens and responses of r_j tokens, with masks no larger than one response's.
The result is the dense mask's, to float rounding (tests/rewardtrain/test_packing.py).

transformers calls `per_item_attention` in place of its SDPA attention when the model's
attention implementation is PER_ITEM and the forward is given `layout=` (RewardModel does
this); `layout` lists (start, context length, response lengths) of the row's items in order.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

PER_ITEM = "margin_per_item"
Layout = list[tuple[int, int, tuple[int, ...]]]


def per_item_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    layout: Layout | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """query (1, H, L, D), key and value (1, H_kv, L, D) → (1, L, H, D), as transformers'
    attention functions return it."""
    if layout is None:
        raise ValueError("per-item attention needs the row's layout")
    gqa = query.shape[1] != key.shape[1]
    outputs = []
    for start, context, responses in layout:
        end = start + context
        keys, values = key[:, :, start:end], value[:, :, start:end]
        if context:
            outputs.append(
                F.scaled_dot_product_attention(
                    query[:, :, start:end],
                    keys,
                    values,
                    dropout_p=dropout,
                    is_causal=True,
                    scale=scaling,
                    enable_gqa=gqa,
                )  # fmt: skip
            )
        for length in responses:
            own = slice(end, end + length)
            allowed = torch.ones(length, context + length, dtype=torch.bool, device=query.device)
            allowed[:, context:] = torch.ones_like(allowed[:, context:]).tril()
            outputs.append(
                F.scaled_dot_product_attention(
                    query[:, :, own],
                    torch.cat([keys, key[:, :, own]], dim=2),
                    torch.cat([values, value[:, :, own]], dim=2),
                    attn_mask=allowed,
                    dropout_p=dropout,
                    scale=scaling,
                    enable_gqa=gqa,
                )  # fmt: skip
            )
            end += length
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def register() -> None:
    """Make PER_ITEM an attention implementation transformers knows (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(PER_ITEM, per_item_attention)


@contextmanager
def implementation(config, name: str):
    """The model's attention implementation set to `name` for the duration of a forward."""
    before = config._attn_implementation
    config._attn_implementation = name
    try:
        yield
    finally:
        config._attn_implementation = before

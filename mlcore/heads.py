"""A causal LM's output head, applied by vocabulary chunks.

On a CPU the head's product with a large vocabulary (SmolLM2: 49,152 x 576) runs about twice
as fast over chunks of about a thousand words, whose output block stays in cache, as in one
product that writes the whole (tokens x vocabulary) result at once. Where a model's logits are
exactly its head applied to the decoder's last hidden states, the engines and trainers take
the hidden states and apply the head themselves:

    head = plain_output_head(model)           # None: use model(...).logits
    hidden = model.get_decoder()(...).last_hidden_state
    logits = chunked_logits(hidden[:, -1], head.weight)
"""

from __future__ import annotations

import torch

CHUNK = 1024  # vocabulary rows per product

# Causal LMs whose logits are exactly their output head applied to the decoder's last hidden
# states (no scaling or soft-capping after it).
PLAIN_HEAD_MODELS = frozenset({"llama", "mistral", "qwen2", "qwen3"})


def plain_output_head(model: torch.nn.Module) -> torch.nn.Linear | None:
    """The model's output head if its logits are that head over `model.get_decoder()`'s last
    hidden states: a whole (not wrapped, not sharded) causal LM of a `PLAIN_HEAD_MODELS` type
    whose head is a float32 linear map without bias, outside autocast. None otherwise."""
    from mlcore.distributed import is_sharded

    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) not in PLAIN_HEAD_MODELS or is_sharded(model):
        return None
    if not hasattr(model, "get_decoder") or not hasattr(model, "get_output_embeddings"):
        return None
    head = model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear) or head.bias is not None:
        return None
    if head.weight.dtype != torch.float32 or torch.is_autocast_enabled(head.weight.device.type):
        return None
    return head


def chunked_logits(hidden: torch.Tensor, weight: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """hidden (N, H) @ weight (V, H).T → (N, V), computed by chunks of `chunk` rows of weight
    on a CPU (in one product elsewhere); for inference (no gradient needed)."""
    if hidden.device.type != "cpu":
        return hidden @ weight.t()
    return torch.cat([hidden @ part.t() for part in weight.split(chunk)], dim=1)

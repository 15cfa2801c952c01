"""Pairs come from the model server ahead of time: pending pairs are claimed in batches by a
worker (follow-up turns of live dialogues first), sampled with the paper's policy, and stored
with everything that made them. Failures are recorded and retried with backoff."""

from .requests import enqueue_generation, pair_request
from .service import (
    pairs_generate_pending,
    pairs_request_unused,
    pairs_requeue_stale,
    stock_refill,
)

__all__ = [
    "enqueue_generation",
    "pair_request",
    "pairs_generate_pending",
    "pairs_request_unused",
    "pairs_requeue_stale",
    "stock_refill",
]

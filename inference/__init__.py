"""Margin's generation library (no Django): backends behind one interface and the paper's
pair-sampling policy.

    from inference import (ModelVariant, PairPolicy, SamplingParams, load_backend,
                           sample_pairs, health_check)

    variants = [ModelVariant("v1", "http", model="SmolLM2-135M-Instruct",
                             base_url="http://127.0.0.1:8000/v1"),
                ModelVariant("cpu")]
    backends = {v.label: load_backend(v) for v in variants}
    for b in backends.values():
        health_check(b)                       # a 1-token completion, raises on failure
    pairs = sample_pairs([[{"role": "user", "content": "Hi"}]], backends, PairPolicy(seed=1))
"""

from inference.backends.base import Backend, health_check
from inference.context import ContextFitter, TruncationPolicy, fit_messages
from inference.errors import (
    BackendError,
    BackendNotInstalled,
    BadRequest,
    ContextTooLong,
    InferenceError,
    InvalidParams,
    ModelNotFound,
    ServerUnavailable,
)
from inference.pairs import Pair, PairPolicy, PlannedSample, Sample, plan_pairs, sample_pairs
from inference.params import MAX_TOKENS_LIMIT, SEED_MAX, SamplingParams, validate
from inference.records import Completion, Conversation, Message
from inference.variants import ModelVariant, load_backend

__all__ = [
    "MAX_TOKENS_LIMIT",
    "SEED_MAX",
    "Backend",
    "BackendError",
    "BackendNotInstalled",
    "BadRequest",
    "Completion",
    "ContextFitter",
    "ContextTooLong",
    "Conversation",
    "InferenceError",
    "InvalidParams",
    "Message",
    "ModelNotFound",
    "ModelVariant",
    "Pair",
    "PairPolicy",
    "PlannedSample",
    "Sample",
    "SamplingParams",
    "ServerUnavailable",
    "TruncationPolicy",
    "fit_messages",
    "health_check",
    "load_backend",
    "plan_pairs",
    "sample_pairs",
    "validate",
]

"""Model variants: what a pair's two responses are sampled from.

A variant is (backend, model folder or server URL and model name, label):

    ModelVariant("rlhf-v2", "http", model="rlhf-v2", base_url="http://10.0.0.5:8000/v1")
    ModelVariant("smollm2-cpu")                              # the default model on CPU
    backend = load_backend(variant)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from inference.backends.base import Backend
from inference.context import TruncationPolicy

BackendKind = Literal["http", "transformers", "vllm"]


@dataclass(frozen=True)
class ModelVariant:
    label: str = field(metadata={"help": "name recorded on every sample"})
    backend: BackendKind = field(default="transformers", metadata={"help": "which backend"})
    model: str = field(
        default="",
        metadata={"help": "model folder (transformers, vllm; '' = default model) or served name"},
    )
    base_url: str = field(default="", metadata={"help": "http only: server URL ending in /v1"})
    tokenizer: str = field(
        default="", metadata={"help": "http only: local tokenizer folder for context fitting"}
    )
    max_context: int = field(default=2048, metadata={"help": "context window in tokens"})
    truncation: TruncationPolicy = field(
        default="drop_oldest", metadata={"help": "drop_oldest or refuse"}
    )
    options: dict[str, Any] = field(
        default_factory=dict, compare=False, metadata={"help": "extra backend keyword arguments"}
    )

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("a variant needs a label")
        if self.backend not in ("http", "transformers", "vllm"):
            raise ValueError(f"unknown backend {self.backend!r}")
        if self.backend == "http" and not (self.base_url and self.model):
            raise ValueError("an http variant needs base_url and model")
        if self.backend == "vllm" and not self.model:
            raise ValueError("a vllm variant needs a model folder")


def load_backend(variant: ModelVariant) -> Backend:
    """Build the backend a variant names (loads the model for local backends)."""
    common = {"max_context": variant.max_context, "truncation": variant.truncation}
    if variant.backend == "http":
        from inference.backends.http import OpenAIHTTPBackend

        return OpenAIHTTPBackend(
            variant.base_url,
            variant.model,
            tokenizer=variant.tokenizer or None,
            **common,
            **variant.options,
        )
    if variant.backend == "vllm":
        from inference.backends.vllm_local import VLLMBackend

        return VLLMBackend(variant.model, **common, **variant.options)
    from inference.backends.transformers_cpu import TransformersBackend

    return TransformersBackend(variant.model or None, **common, **variant.options)

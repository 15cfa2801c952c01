"""Model-variant rows become inference variants; loaded backends are kept per worker process
(loading a model takes seconds, generating a pair should not). Variants that differ only in
their label (one checkpoint at two temperatures) share one loaded backend."""

import dataclasses
import threading

from django.conf import settings

import inference

from ..models import ModelVariant, PromptBatch

DEFAULT_LABEL = "smollm2-135m-instruct"
_loaded: dict[inference.ModelVariant, inference.Backend] = {}
SHARED_LABEL = "shared"
_lock = threading.Lock()


def default_variant() -> inference.ModelVariant:
    """The model server from settings when one is configured, else the default model on CPU."""
    if settings.MARGIN["MODEL_SERVER_URL"]:
        return inference.ModelVariant(
            DEFAULT_LABEL,
            "http",
            model=settings.MARGIN["MODEL_SERVER_MODEL"],
            base_url=settings.MARGIN["MODEL_SERVER_URL"],
            options=dict(settings.MARGIN_HTTP_BACKEND_OPTIONS),
        )
    return inference.ModelVariant(
        DEFAULT_LABEL, "transformers", model=settings.MARGIN["DEFAULT_MODEL_DIR"]
    )


def to_inference_variant(row: ModelVariant) -> inference.ModelVariant:
    if row.backend == ModelVariant.Backend.HTTP:
        return inference.ModelVariant(
            row.label,
            "http",
            model=row.model_name,
            base_url=row.server_url,
            options=dict(settings.MARGIN_HTTP_BACKEND_OPTIONS),
        )
    return inference.ModelVariant(row.label, row.backend, model=row.model_path)


def variants_for(batch: PromptBatch) -> list[inference.ModelVariant]:
    rows = [v for v in batch.variants.all() if v.is_active]
    return [to_inference_variant(v) for v in rows] or [default_variant()]


def temperatures_for(batch: PromptBatch) -> dict[str, float]:
    """The variants of `batch` that sample at a temperature of their own: label -> temperature."""
    return {
        v.label: v.temperature
        for v in batch.variants.all()
        if v.is_active and v.temperature is not None
    }


def backend_for(variant: inference.ModelVariant) -> inference.Backend:
    key = dataclasses.replace(variant, label=SHARED_LABEL)  # what is loaded, not what it is called
    with _lock:
        backend = _loaded.get(key)
        if backend is None:
            backend = _loaded[key] = inference.load_backend(variant)
        return backend


def forget_backends() -> None:
    """Drop loaded backends (a variant now points at a new checkpoint)."""
    with _lock:
        for backend in _loaded.values():
            backend.close()
        _loaded.clear()

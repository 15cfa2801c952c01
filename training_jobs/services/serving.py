"""Serving a policy: a succeeded policy version becomes the model variant that samples the
next batch's pairs."""

from django.db import transaction

from annotation.models import ModelVariant, PromptBatch

from ..models import JobState, ModelVersion
from .jobs import JobError


@transaction.atomic
def policy_serve(
    *,
    version: ModelVersion,
    label: str = "",
    batch: PromptBatch | None = None,
    backend: str = "transformers",
    server_url: str = "",
    model_name: str = "",
    replace: bool = False,
) -> ModelVariant:
    """Create or update the variant `label` (default: the version's name) serving `version`.

    transformers / vllm: the variant loads the version's folder; http: a vLLM server at
    `server_url` already hosting it under `model_name` (default: the version's name). With
    `batch`, the variant is added to the batch's variants (with `replace`, it takes the place
    of the batch's other variants; they stay usable elsewhere). Loaded backends in this process are
    dropped, so the next pair loads the new checkpoint.
    """
    from annotation.generation.backends import forget_backends

    if version.kind != ModelVersion.Kind.POLICY:
        raise JobError(f"{version.name} is not a policy")
    if version.job_id and version.job.state != JobState.SUCCEEDED:
        raise JobError(f"{version.name} comes from a job that has not succeeded")
    if replace and batch is None:
        raise JobError("replacing variants needs a batch")
    if batch is not None and batch.status == PromptBatch.Status.CLOSED:
        raise JobError(f"batch {batch.name} is closed")
    if backend not in ModelVariant.Backend.values:
        raise JobError(f"backend must be one of {', '.join(ModelVariant.Backend.values)}")
    folder = version.folder
    if backend == "http":
        if not server_url:
            raise JobError("an http variant needs the server URL of the vLLM server")
        fields = {
            "model_path": "",
            "server_url": server_url,
            "model_name": model_name or version.name,
        }
    else:
        if not (folder / "config.json").is_file():
            raise JobError(f"{version.name} has no model folder at {folder}")
        fields = {"model_path": str(folder), "server_url": "", "model_name": ""}
    label = label or version.name
    variant = ModelVariant.objects.filter(label=label).first() or ModelVariant(label=label)
    variant.backend = backend
    variant.is_active = True
    for name, value in fields.items():
        setattr(variant, name, value)
    variant.full_clean()
    variant.save()
    if batch is not None:
        if replace:
            batch.variants.set([variant])
        else:
            batch.variants.add(variant)
    forget_backends()
    return variant

"""Writes on batches and prompts. Imports live in `imports/`, exports in `exports/`."""

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .imports.errors import RowInvalid
from .imports.records import parse_prompt, prompt_instance
from .models import Prompt, PromptBatch


@transaction.atomic
def batch_create(*, user: AbstractBaseUser | None = None, **fields: Any) -> PromptBatch:
    batch = PromptBatch(created_by=user, **fields)
    batch.full_clean()
    batch.save()
    return batch


@transaction.atomic
def batch_update(*, batch: PromptBatch, **fields: Any) -> PromptBatch:
    """Change a batch's settings (the API's PATCH/PUT); ValidationError leaves it unchanged."""
    for name, value in fields.items():
        setattr(batch, name, value)
    batch.full_clean()
    batch.save(update_fields=list(fields) or None)
    return batch


@transaction.atomic
def batch_open(*, batch: PromptBatch) -> PromptBatch:
    """Open a draft (or reopen a closed) batch for annotation."""
    updated = PromptBatch.objects.filter(pk=batch.pk).exclude(status=PromptBatch.Status.OPEN)
    updated.update(status=PromptBatch.Status.OPEN, opened_at=timezone.now(), closed_at=None)
    batch.refresh_from_db()
    return batch


@transaction.atomic
def batch_close(*, batch: PromptBatch) -> PromptBatch:
    PromptBatch.objects.filter(pk=batch.pk, status=PromptBatch.Status.OPEN).update(
        status=PromptBatch.Status.CLOSED, closed_at=timezone.now()
    )
    batch.refresh_from_db()
    return batch


@transaction.atomic
def prompts_bulk_create(
    *, batch: PromptBatch, records: list[dict[str, Any]], user: AbstractBaseUser | None = None
) -> list[Prompt]:
    """Create prompts from API records; any bad record refuses them all, naming its index."""
    from django.conf import settings

    max_chars = settings.MARGIN["MAX_TEXT_CHARS"]
    rows, errors = [], {}
    for index, record in enumerate(records):
        try:
            rows.append(parse_prompt(record, max_chars))
        except RowInvalid as exc:
            errors[f"{index}.{exc.field}" if exc.field else str(index)] = exc.message
    ids = [row.external_id for row in rows if row.external_id]
    if len(ids) != len(set(ids)):
        errors["id"] = "the records repeat an id"
    elif ids and Prompt.objects.filter(batch=batch, external_id__in=ids).exists():
        errors["id"] = "an id already exists in this batch"
    if errors:
        raise ValidationError(errors)
    return Prompt.objects.bulk_create(prompt_instance(batch, row, user) for row in rows)

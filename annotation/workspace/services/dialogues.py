"""Multi-turn dialogues: the chosen response becomes the assistant turn, the annotator writes
the next user turn (or the first prompt), and a pair is requested for the longer dialogue."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from mlcore.dialogue import storable

from ...models import (
    Assignment,
    Dialogue,
    GuidelineStage,
    Prompt,
    PromptBatch,
    PromptSource,
    ResponsePair,
)

START_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def dialogue_advance(*, assignment: Assignment, chosen: str, now: datetime) -> None:
    """The chosen response becomes the assistant turn of the annotator's dialogue."""
    pair = assignment.pair
    batch = pair.batch
    response = pair.response_a if chosen == "a" else pair.response_b
    messages = [*pair.context, {"role": "assistant", "content": response.text}]
    ends = pair.turn >= batch.max_turns
    if pair.dialogue_id:
        dialogue = Dialogue.objects.select_for_update().get(pk=pair.dialogue_id)
        if dialogue.turns != pair.turn - 1 or dialogue.status != Dialogue.Status.ACTIVE:
            return
        dialogue.messages = messages
        dialogue.turns = pair.turn
        update = ["messages", "turns"]
        if ends:
            dialogue.status, dialogue.ended_at = Dialogue.Status.ENDED, now
            update += ["status", "ended_at"]
        dialogue.save(update_fields=update)
        return
    if ends or pair.is_gold:
        return
    # A judged queue pair can be continued: it opens a dialogue of this annotator.
    _dialogues_end_open(batch=batch, annotator=assignment.annotator, now=now)
    Dialogue.objects.create(
        batch=batch,
        prompt_id=pair.prompt_id,
        annotator=assignment.annotator,
        messages=messages,
        turns=pair.turn,
    )


def _dialogues_end_open(*, batch: PromptBatch, annotator: AbstractBaseUser, now: datetime) -> None:
    Dialogue.objects.filter(batch=batch, annotator=annotator, status=Dialogue.Status.ACTIVE).update(
        status=Dialogue.Status.ENDED, ended_at=now
    )


def _message_clean(message: str) -> str:
    if not storable(message or ""):
        raise ValidationError({"message": "That message holds a character that cannot be stored."})
    message = (message or "").strip()
    if not message:
        raise ValidationError({"message": "Write a message first."})
    if len(message) > settings.MARGIN["MAX_TEXT_CHARS"]:
        raise ValidationError({"message": "That message is too long."})
    return message


@transaction.atomic
def dialogue_continue(
    *, dialogue_id: int, annotator: AbstractBaseUser, message: str
) -> ResponsePair:
    """Append the annotator's next user message and request a pair for the longer dialogue.
    Sending the same form twice returns the pair already requested."""
    from ...generation import pair_request

    message = _message_clean(message)
    dialogue = (
        Dialogue.objects.select_for_update(of=("self",))
        .select_related("batch")
        .get(pk=dialogue_id, annotator=annotator)
    )
    following = dialogue.pairs.filter(turn=dialogue.turns + 1).first()
    if following is not None:
        return following
    if dialogue.status != Dialogue.Status.ACTIVE or dialogue.turns >= dialogue.batch.max_turns:
        raise ValidationError({"message": "This dialogue has ended."})
    dialogue.messages = [*dialogue.messages, {"role": "user", "content": message}]
    dialogue.save(update_fields=["messages"])
    return pair_request(
        batch=dialogue.batch,
        context=dialogue.messages,
        turn=dialogue.turns + 1,
        dialogue=dialogue,
        prompt=dialogue.prompt,
    )


@transaction.atomic
def dialogue_end(*, dialogue_id: int, annotator: AbstractBaseUser) -> bool:
    return bool(
        Dialogue.objects.filter(
            pk=dialogue_id, annotator=annotator, status=Dialogue.Status.ACTIVE
        ).update(status=Dialogue.Status.ENDED, ended_at=timezone.now())
    )


def start_key_new() -> str:
    """The idempotency key of one compose form (rendered in it, sent back with it)."""
    return secrets.token_urlsafe(24)


def _start_key_clean(key: str) -> str:
    return key if START_KEY.fullmatch(key or "") else ""


@transaction.atomic
def dialogue_start(
    *,
    batch: PromptBatch,
    annotator: AbstractBaseUser,
    message: str,
    risk_category: str = "",
    attack_vector: str = "",
    start_key: str = "",
) -> Dialogue:
    """An annotator writes the first prompt of a dialogue (batches whose prompts come from
    annotators). Safety batches record the prompt's risk category and attack vector.

    The same form sent again (a retry after a lost answer, a double click) carries the same
    `start_key` and returns the dialogue it started, without a second prompt."""
    start_key = _start_key_clean(start_key)
    start = partial(
        _dialogue_start,
        batch=batch,
        annotator=annotator,
        message=message,
        risk_category=risk_category,
        attack_vector=attack_vector,
    )
    if start_key:
        existing = Dialogue.objects.filter(annotator=annotator, start_key=start_key).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                return start(start_key=start_key)
        except IntegrityError:  # the same form, sent twice at once: the other one won
            return Dialogue.objects.get(annotator=annotator, start_key=start_key)
    return start(start_key="")


def _dialogue_start(
    *,
    batch: PromptBatch,
    annotator: AbstractBaseUser,
    message: str,
    risk_category: str,
    attack_vector: str,
    start_key: str,
) -> Dialogue:
    from ...generation import pair_request

    message = _message_clean(message)
    risk_category, attack_vector = risk_category.strip()[:100], attack_vector.strip()[:100]
    if batch.prompt_source != PromptSource.ANNOTATOR:
        raise ValidationError({"message": "This batch uses imported prompts."})
    if batch.stage == GuidelineStage.SAFETY and not (risk_category and attack_vector):
        raise ValidationError(
            {"risk_category": "Give the risk category and the attack vector of the prompt."}
        )
    now = timezone.now()
    _dialogues_end_open(batch=batch, annotator=annotator, now=now)
    messages = [{"role": "user", "content": message}]
    prompt = Prompt.objects.create(
        batch=batch,
        messages=messages,
        source=PromptSource.ANNOTATOR,
        risk_category=risk_category,
        attack_vector=attack_vector,
        created_by=annotator,
    )
    dialogue = Dialogue.objects.create(
        batch=batch,
        prompt=prompt,
        annotator=annotator,
        messages=messages,
        turns=0,
        start_key=start_key,
    )
    pair_request(batch=batch, context=messages, turn=1, dialogue=dialogue, prompt=prompt)
    return dialogue

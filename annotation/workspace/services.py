"""Writes of the annotator workspace: leases, expiry, submit, dialogues, gold pairs.

The invariant is the database's: a pair's `taken` (leased or completed assignments) never
exceeds its `overlap` (CHECK constraint), and an annotator has one assignment per pair
(unique constraint). Every state move below is a conditional update, so a retry, a second tab
or a second worker finds nothing left to do.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from ..grades import Grade
from ..models import (
    Assignment,
    Dialogue,
    GuidelineStage,
    Judgment,
    Prompt,
    PromptBatch,
    PromptSource,
    ResponsePair,
    SafetyBin,
)

# A gold pair is judged once by every annotator, so its overlap is "everyone".
GOLD_OVERLAP = 10_000
LEASE_ATTEMPTS = 5
# How long a lease waits for pairs that other leases are taking at this moment (they commit
# in milliseconds), and how often it looks again.
LOCK_WAIT_SECONDS = 5.0
LOCK_POLL_SECONDS = 0.02
MAX_SECONDS_SPENT = 6 * 3600.0

Status = Assignment.Status
PairStatus = ResponsePair.Status


class LeaseLost(Exception):
    """The lease expired and the pair went to other annotators before the submit arrived."""


class ExclusionUnconfirmed(Exception):
    """The chosen response is unsafe and the other safe: the annotator must confirm."""


def lease_seconds() -> int:
    return int(settings.MARGIN["LEASE_SECONDS"])


def submit_key(*, assignment: Assignment) -> str:
    """The idempotency key of one lease, rendered in the form and stored on the judgment."""
    return salted_hmac(
        "margin.workspace.submit", f"{assignment.pk}", algorithm="sha256"
    ).hexdigest()[:40]


# ---- leases ---------------------------------------------------------------------------------


def _queue(*, batch: PromptBatch, annotator: AbstractBaseUser, gold: bool):
    return (
        ResponsePair.objects.filter(
            batch=batch,
            status=PairStatus.READY,
            dialogue__isnull=True,
            is_gold=gold,
            taken__lt=F("overlap"),
        )
        .exclude(assignments__annotator=annotator)
        .order_by("id")
    )


def _take(*, pair_id: int, annotator: AbstractBaseUser, now: datetime) -> Assignment | None:
    """Count one more taker on the pair and create the lease, or nothing if either refuses."""
    try:
        with transaction.atomic():
            taken = ResponsePair.objects.filter(
                pk=pair_id, status=PairStatus.READY, taken__lt=F("overlap")
            ).update(taken=F("taken") + 1)
            if not taken:
                return None
            return Assignment.objects.create(
                pair_id=pair_id,
                annotator=annotator,
                swapped=random.random() < 0.5,
                leased_at=now,
                expires_at=now + timedelta(seconds=lease_seconds()),
            )
    except IntegrityError:  # the same annotator took it a moment ago (another tab)
        return None


def _next_unlocked(queue) -> ResponsePair | None:
    """The first queued pair that no other lease is taking right now. When every queued pair is
    being taken at this moment (more annotators asking at once than pairs left), poll until one
    of those leases commits: "none ready" must mean none, not "all busy".

    The wait polls with SKIP LOCKED and never blocks on a row lock. A blocking `FOR UPDATE ...
    LIMIT 1` keeps the lock of a row that fails PostgreSQL's re-check (its slots went meanwhile)
    and moves on to the next row, so two leases waiting that way can each hold the row the other
    waits for: a deadlock.
    """
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        pair = queue.select_for_update(skip_locked=True, of=("self",)).first()
        if pair is not None or not queue.exists() or time.monotonic() >= deadline:
            return pair
        time.sleep(LOCK_POLL_SECONDS * random.uniform(0.5, 1.5))


@transaction.atomic
def assignment_lease_next(*, batch: PromptBatch, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease the next queued pair of `batch` to `annotator`, or None when none is ready.

    PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` lets concurrent annotators take different
    rows without waiting; the conditional `taken + 1` and the unique (pair, annotator) keep the
    guarantee on any database. Gold pairs come first at the batch's gold rate.
    """
    now = timezone.now()
    order = (
        [True, False] if batch.gold_rate and random.random() < batch.gold_rate else [False, True]
    )
    for expired_swept in (False, True):
        for gold in order:
            queue = _queue(batch=batch, annotator=annotator, gold=gold).select_related(
                "response_a", "response_b"
            )
            for _ in range(LEASE_ATTEMPTS):
                pair = _next_unlocked(queue)
                if pair is None:
                    break
                assignment = _take(pair_id=pair.pk, annotator=annotator, now=now)
                if assignment is not None:
                    pair.batch = batch
                    assignment.pair = pair
                    return assignment
        if expired_swept or not assignments_expire(batch=batch, now=now):
            return None
    return None


@transaction.atomic
def assignment_lease_pair(*, pair: ResponsePair, annotator: AbstractBaseUser) -> Assignment | None:
    """Lease one given pair (the next turn of the annotator's own dialogue). An expired lease of
    the same annotator on it is taken up again."""
    now = timezone.now()
    existing = Assignment.objects.filter(pair=pair, annotator=annotator).first()
    if existing is None:
        return _take(pair_id=pair.pk, annotator=annotator, now=now)
    if existing.status != Status.EXPIRED:
        return existing
    with transaction.atomic():
        taken = ResponsePair.objects.filter(
            pk=pair.pk, status=PairStatus.READY, taken__lt=F("overlap")
        ).update(taken=F("taken") + 1)
        if not taken:
            return None
        Assignment.objects.filter(pk=existing.pk, status=Status.EXPIRED).update(
            status=Status.LEASED,
            leased_at=now,
            expires_at=now + timedelta(seconds=lease_seconds()),
        )
    existing.refresh_from_db()
    return existing


def assignment_renew(*, assignment: Assignment) -> None:
    """Restart the lease clock of a pair that is being shown now (a pair leased a moment ago
    keeps its clock)."""
    now = timezone.now()
    expires = now + timedelta(seconds=lease_seconds())
    if expires - assignment.expires_at < timedelta(seconds=30):
        return
    Assignment.objects.filter(pk=assignment.pk, status=Status.LEASED).update(expires_at=expires)
    assignment.expires_at = expires


@transaction.atomic
def assignments_expire(
    *, now: datetime | None = None, batch: PromptBatch | None = None, limit: int = 5000
) -> int:
    """Expire leases past `expires_at` and give each pair back exactly once. Returns how many."""
    now = now or timezone.now()
    stale = Assignment.objects.filter(status=Status.LEASED, expires_at__lte=now)
    if batch is not None:
        stale = stale.filter(pair__batch=batch)
    rows = list(
        stale.order_by("id")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("id", "pair_id")[:limit]
    )
    if not rows:
        return 0
    # The rows are locked and still leased (PostgreSQL re-checks the WHERE after the lock);
    # the status condition repeats it for databases without row locks.
    expired = Assignment.objects.filter(
        pk__in=[row[0] for row in rows], status=Status.LEASED
    ).update(status=Status.EXPIRED)
    if expired != len(rows):  # pragma: no cover - only without row locks, under a race
        raise transaction.TransactionManagementError("leases changed while expiring them")
    # Pairs in id order: two sweepers then lock shared pairs in the same order, never crosswise.
    for pair_id, count in sorted(Counter(pair_id for _, pair_id in rows).items()):
        ResponsePair.objects.filter(pk=pair_id, taken__gte=count).update(taken=F("taken") - count)
    return expired


# ---- drafts and submit ----------------------------------------------------------------------

SIDES = ("left", "right")


@dataclass(frozen=True)
class Choice:
    """What the annotator picked, in screen terms (left/right)."""

    side: str = ""
    grade: str = ""
    left_safe: bool | None = None
    right_safe: bool | None = None
    rationale: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def as_draft(self) -> dict[str, object]:
        return {
            "side": self.side,
            "grade": self.grade,
            "left_safe": self.left_safe,
            "right_safe": self.right_safe,
            "rationale": self.rationale,
        }


def _safe_value(raw: object) -> bool | None:
    if raw in (True, "safe", "1", "true"):
        return True
    if raw in (False, "unsafe", "0", "false"):
        return False
    return None


def choice_parse(*, data: dict[str, object]) -> Choice:
    """Read a (possibly partial) choice from form data or a stored draft."""
    side = str(data.get("side") or "")
    grade = str(data.get("grade") or "")
    rationale = str(data.get("rationale") or "")[: settings.MARGIN["MAX_TEXT_CHARS"]]
    return Choice(
        side=side if side in SIDES else "",
        grade=grade if grade in Grade.values else "",
        left_safe=_safe_value(data.get("left_safe")),
        right_safe=_safe_value(data.get("right_safe")),
        rationale=rationale,
    )


def choice_validate(*, choice: Choice, stage: str) -> dict[str, str]:
    errors = {}
    if not choice.side:
        errors["side"] = "Choose the better response (1 or 2)."
    if not choice.grade:
        errors["grade"] = "Say by how much (q, w, e or r)."
    if stage == GuidelineStage.SAFETY and (choice.left_safe is None or choice.right_safe is None):
        errors["safety"] = "Label both responses safe or unsafe (s/d and k/l)."
    return errors


def assignment_draft_save(
    *, assignment_id: int, annotator: AbstractBaseUser, choice: Choice
) -> bool:
    """Keep an unsubmitted choice so that it survives a reload."""
    return bool(
        Assignment.objects.filter(
            pk=assignment_id, annotator=annotator, status=Status.LEASED
        ).update(draft=choice.as_draft())
    )


@dataclass(frozen=True)
class SubmitResult:
    judgment: Judgment
    created: bool


def _ab(*, choice: Choice, swapped: bool) -> tuple[str, bool | None, bool | None]:
    """Screen sides → the pair's a/b: with `swapped`, response B is on the left."""
    left, right = ("b", "a") if swapped else ("a", "b")
    chosen = left if choice.side == "left" else right
    safe = {left: choice.left_safe, right: choice.right_safe}
    return chosen, safe["a"], safe["b"]


def _safety_bin(chosen: str, a_safe: bool | None, b_safe: bool | None) -> str | None:
    if a_safe is None or b_safe is None:
        return None
    chosen_safe, other_safe = (a_safe, b_safe) if chosen == "a" else (b_safe, a_safe)
    if chosen_safe and other_safe:
        return SafetyBin.BOTH_SAFE
    if chosen_safe:
        return SafetyBin.CHOSEN_SAFE
    return SafetyBin.CHOSEN_UNSAFE if other_safe else SafetyBin.BOTH_UNSAFE


@transaction.atomic
def judgment_submit(
    *,
    assignment_id: int,
    annotator: AbstractBaseUser,
    idempotency_key: str,
    choice: Choice,
    seconds_spent: float | None = None,
    keep_excluded: bool = False,
) -> SubmitResult:
    """Store the judgment of one lease, exactly once.

    A retry (double click, network retry, back button, second tab) returns the stored judgment.
    Raises Assignment.DoesNotExist (not this annotator's), ValidationError (incomplete or a
    stale key), ExclusionUnconfirmed, or LeaseLost.
    """
    assignment = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("pair__batch", "pair__response_a", "pair__response_b")
        .get(pk=assignment_id, annotator=annotator)
    )
    if not constant_time_compare(idempotency_key, submit_key(assignment=assignment)):
        raise ValidationError({"idempotency_key": "This form belongs to another lease."})
    if assignment.status == Status.COMPLETED:  # a retry: the row lock makes this status current
        return SubmitResult(Judgment.objects.get(assignment=assignment), created=False)
    pair = assignment.pair
    batch = pair.batch
    errors = choice_validate(choice=choice, stage=batch.stage)
    if errors:
        raise ValidationError(errors)
    chosen, a_safe, b_safe = _ab(choice=choice, swapped=assignment.swapped)
    if _safety_bin(chosen, a_safe, b_safe) == SafetyBin.CHOSEN_UNSAFE and not keep_excluded:
        raise ExclusionUnconfirmed
    now = timezone.now()
    if assignment.status == Status.EXPIRED:
        if not ResponsePair.objects.filter(
            pk=pair.pk, status=PairStatus.READY, taken__lt=F("overlap")
        ).update(taken=F("taken") + 1):
            raise LeaseLost
    if seconds_spent is None or not 0 <= seconds_spent <= MAX_SECONDS_SPENT:
        seconds_spent = min((now - assignment.leased_at).total_seconds(), MAX_SECONDS_SPENT)
    try:
        with transaction.atomic():
            judgment = Judgment.objects.create(
                pair=pair,
                assignment=assignment,
                annotator=annotator,
                origin=Judgment.Origin.ANNOTATOR,
                chosen=chosen,
                grade=choice.grade,
                a_safe=a_safe,
                b_safe=b_safe,
                rationale=choice.rationale.strip(),
                seconds_spent=seconds_spent,
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        # A concurrent duplicate won (databases without the row lock above).
        return SubmitResult(Judgment.objects.get(assignment=assignment), created=False)
    Assignment.objects.filter(pk=assignment.pk).update(
        status=Status.COMPLETED, completed_at=now, draft={}
    )
    completed = (
        1
        if pair.overlap == 1
        else Assignment.objects.filter(pair=pair, status=Status.COMPLETED).count()
    )
    if completed >= pair.overlap:
        ResponsePair.objects.filter(pk=pair.pk, status=PairStatus.READY).update(
            status=PairStatus.DONE
        )
    _dialogue_advance(assignment=assignment, chosen=chosen, now=now)
    return SubmitResult(judgment, created=True)


# ---- dialogues ------------------------------------------------------------------------------


def _dialogue_advance(*, assignment: Assignment, chosen: str, now: datetime) -> None:
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
    message = (message or "").replace("\x00", "").strip()
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
    from ..generation import pair_request

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


@transaction.atomic
def dialogue_start(
    *,
    batch: PromptBatch,
    annotator: AbstractBaseUser,
    message: str,
    risk_category: str = "",
    attack_vector: str = "",
) -> Dialogue:
    """An annotator writes the first prompt of a dialogue (batches whose prompts come from
    annotators). Safety batches record the prompt's risk category and attack vector."""
    from ..generation import pair_request

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
        batch=batch, prompt=prompt, annotator=annotator, messages=messages, turns=0
    )
    pair_request(batch=batch, context=messages, turn=1, dialogue=dialogue, prompt=prompt)
    return dialogue


# ---- gold -----------------------------------------------------------------------------------


@transaction.atomic
def pair_gold_mark(*, pair_id: int, chosen: str, grade: str = "") -> ResponsePair:
    """Give a ready queue pair a known answer; it is then shown to every annotator once, at
    the batch's gold rate."""
    if chosen not in ("a", "b"):
        raise ValidationError({"chosen": "The gold answer is a or b."})
    if grade and grade not in Grade.values:
        raise ValidationError({"grade": "Unknown grade."})
    pair = ResponsePair.objects.select_for_update().get(pk=pair_id)
    if pair.dialogue_id or pair.status not in (PairStatus.READY, PairStatus.DONE):
        raise ValidationError({"pair": "Only generated queue pairs can be gold."})
    pair.is_gold, pair.gold_chosen, pair.gold_grade = True, chosen, grade
    pair.overlap = max(pair.overlap, GOLD_OVERLAP)
    pair.status = PairStatus.READY
    pair.full_clean(exclude=["context"])
    pair.save(update_fields=["is_gold", "gold_chosen", "gold_grade", "overlap", "status"])
    return pair


# ---- what the workspace shows next ----------------------------------------------------------


class StageKind:
    PAIR = "pair"  # a leased pair to judge
    WAITING = "waiting"  # the dialogue's next pair is being generated
    CONTINUE = "continue"  # write the next user message or end the dialogue
    COMPOSE = "compose"  # write the first prompt of a dialogue
    EMPTY = "empty"  # nothing ready in the queue yet
    CLOSED = "closed"  # the batch is not open


@dataclass
class Stage:
    kind: str
    batch: PromptBatch
    assignment: Assignment | None = None
    dialogue: Dialogue | None = None
    pair: ResponsePair | None = None


def _with_pair(queryset):
    return queryset.select_related("pair__response_a", "pair__response_b", "pair__batch")


def workspace_stage(*, batch: PromptBatch, annotator: AbstractBaseUser) -> Stage:
    """What this annotator sees next in `batch`, leasing a pair when one is needed: the open
    dialogue first, then the annotator's own unexpired lease (a reload shows the same pair),
    then the queue."""
    if not batch.is_open:
        return Stage(StageKind.CLOSED, batch)
    now = timezone.now()
    dialogue = None
    if batch.max_turns > 1 or batch.prompt_source == PromptSource.ANNOTATOR:
        dialogue = (
            Dialogue.objects.filter(batch=batch, annotator=annotator, status=Dialogue.Status.ACTIVE)
            .order_by("-created_at", "-id")
            .first()
        )
    if dialogue is not None:
        stage = _dialogue_stage(batch=batch, dialogue=dialogue, annotator=annotator)
        if stage is not None:
            return stage
    own = (
        _with_pair(Assignment.objects)
        .filter(
            annotator=annotator,
            status=Status.LEASED,
            expires_at__gt=now,
            pair__batch=batch,
            pair__dialogue__isnull=True,
        )
        .order_by("leased_at", "id")
        .first()
    )
    if own is not None:
        return Stage(StageKind.PAIR, batch, assignment=own, pair=own.pair)
    if batch.prompt_source == PromptSource.ANNOTATOR:
        return Stage(StageKind.COMPOSE, batch)
    leased = assignment_lease_next(batch=batch, annotator=annotator)
    if leased is None:
        return Stage(StageKind.EMPTY, batch)
    return Stage(StageKind.PAIR, batch, assignment=leased, pair=leased.pair)


def assignment_preload(
    *, batch: PromptBatch, annotator: AbstractBaseUser, current: Assignment
) -> Assignment | None:
    """The pair that follows `current`, leased now so that the page holds it before the
    annotator submits (single-turn queue batches, where the next stage is always a pair)."""
    if batch.max_turns > 1 or batch.prompt_source == PromptSource.ANNOTATOR:
        return None
    if current.pair.dialogue_id is not None:
        return None
    following = (
        _with_pair(Assignment.objects)
        .filter(
            annotator=annotator,
            status=Status.LEASED,
            expires_at__gt=timezone.now(),
            pair__batch=batch,
            pair__dialogue__isnull=True,
        )
        .exclude(pk=current.pk)
        .order_by("leased_at", "id")
        .first()
    )
    return following or assignment_lease_next(batch=batch, annotator=annotator)


def _dialogue_stage(
    *, batch: PromptBatch, dialogue: Dialogue, annotator: AbstractBaseUser
) -> Stage | None:
    pair = (
        dialogue.pairs.select_related("response_a", "response_b")
        .filter(turn=dialogue.turns + 1)
        .first()
    )
    if pair is None:
        if dialogue.turns == 0 or dialogue.turns >= batch.max_turns:
            dialogue_end(dialogue_id=dialogue.pk, annotator=annotator)
            return None
        return Stage(StageKind.CONTINUE, batch, dialogue=dialogue)
    if pair.status in (PairStatus.READY, PairStatus.DONE):
        assignment = assignment_lease_pair(pair=pair, annotator=annotator)
        if assignment is not None and assignment.status == Status.LEASED:
            assignment = _with_pair(Assignment.objects).get(pk=assignment.pk)
            return Stage(StageKind.PAIR, batch, assignment=assignment, dialogue=dialogue, pair=pair)
    return Stage(StageKind.WAITING, batch, dialogue=dialogue, pair=pair)

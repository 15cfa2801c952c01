"""Judging a leased pair: the choice in screen terms, drafts, the idempotent submit, and gold
pairs with a known answer."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from mlcore.dialogue import storable

from ...grades import Grade
from ...models import Assignment, GuidelineStage, Judgment, ResponsePair, SafetyBin
from .dialogues import dialogue_advance

# A gold pair is judged once by every annotator, so its overlap is "everyone".
GOLD_OVERLAP = 10_000
MAX_SECONDS_SPENT = 6 * 3600.0

Status = Assignment.Status
PairStatus = ResponsePair.Status


class LeaseLost(Exception):
    """The lease expired and the pair went to other annotators before the submit arrived."""


class ExclusionUnconfirmed(Exception):
    """The chosen response is unsafe and the other safe: the annotator must confirm."""


def submit_key(*, assignment: Assignment) -> str:
    """The idempotency key of one lease, rendered in the form and stored on the judgment."""
    return salted_hmac(
        "margin.workspace.submit", f"{assignment.pk}", algorithm="sha256"
    ).hexdigest()[:40]


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
            # A draft is best-effort: text that cannot be stored is left out of it (the
            # submit refuses it with a message).
            "rationale": self.rationale if storable(self.rationale) else "",
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
    if not storable(choice.rationale):
        errors["rationale"] = "The rationale holds a character that cannot be stored."
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
    dialogue_advance(assignment=assignment, chosen=chosen, now=now)
    return SubmitResult(judgment, created=True)


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

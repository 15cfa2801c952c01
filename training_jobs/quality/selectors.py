"""The platform signals, computed from stored judgments and ResponseScore rows.

"Current" reward model of a kind: its newest version that has scored responses.
A helpfulness-stage batch is compared with the helpfulness model, a safety-stage batch with
the safety model (the paper's two guidelines, §3.2.1)."""

from __future__ import annotations

from dataclasses import dataclass, field

from annotation.grades import Grade
from annotation.models import Judgment, ResponsePair

from ..models import ModelVersion, ResponseScore

NEGLIGIBLE = Grade.NEGLIGIBLY_BETTER
STAGE_KIND = {
    "helpfulness": ModelVersion.Kind.REWARD_HELPFULNESS,
    "safety": ModelVersion.Kind.REWARD_SAFETY,
}


def current_reward_models() -> dict[str, ModelVersion | None]:
    """The newest scored version of each reward-model kind (None where none has scores)."""
    current: dict[str, ModelVersion | None] = {}
    for kind in STAGE_KIND.values():
        current[kind] = (
            ModelVersion.objects.filter(kind=kind, response_scores__isnull=False)
            .distinct()
            .order_by("-created_at", "-pk")
            .first()
        )
    return current


def _scores(versions: list[ModelVersion]) -> dict[tuple[int, int], float]:
    rows = ResponseScore.objects.filter(model_version__in=versions).values_list(
        "model_version_id", "response_id", "score"
    )
    return {(v, r): s for v, r, s in rows.iterator(chunk_size=5000)}


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class AnnotatorSignal:
    annotator_id: int
    username: str
    judgments: int = 0
    negligible: int = 0
    scored: int = 0
    agreed: int = 0

    @property
    def negligible_share(self) -> float | None:
        return _ratio(self.negligible, self.judgments)

    @property
    def agreement(self) -> float | None:
        return _ratio(self.agreed, self.scored)


@dataclass
class VariantSignal:
    label: str
    responses: int = 0
    helpfulness_sum: float = 0.0
    helpfulness_n: int = 0
    safety_sum: float = 0.0
    safety_n: int = 0

    @property
    def helpfulness_mean(self) -> float | None:
        return self.helpfulness_sum / self.helpfulness_n if self.helpfulness_n else None

    @property
    def safety_mean(self) -> float | None:
        return self.safety_sum / self.safety_n if self.safety_n else None


@dataclass
class BatchSignal:
    batch_id: int
    name: str
    stage: str
    ordinal: int
    variants: dict[str, VariantSignal] = field(default_factory=dict)
    compared: int = 0
    disagreed: int = 0

    @property
    def disagreement(self) -> float | None:
        return _ratio(self.disagreed, self.compared)

    @property
    def variant_rows(self) -> list[VariantSignal]:
        return [self.variants[k] for k in sorted(self.variants)]


@dataclass
class Signals:
    helpfulness_model: ModelVersion | None
    safety_model: ModelVersion | None
    annotators: list[AnnotatorSignal]
    batches: list[BatchSignal]
    compared: int
    disagreed: int

    @property
    def disagreement(self) -> float | None:
        return _ratio(self.disagreed, self.compared)


def annotator_signals(
    *, models: dict[str, ModelVersion | None], scores: dict[tuple[int, int], float]
) -> list[AnnotatorSignal]:
    """Per annotator: the share of "negligibly better / unsure" among their judgments, and
    the share of their scored judgments where the current reward model of the batch's stage
    scores their chosen response above the other one."""
    found: dict[int, AnnotatorSignal] = {}
    rows = Judgment.objects.filter(annotator__isnull=False).values_list(
        "annotator_id",
        "annotator__username",
        "chosen",
        "grade",
        "pair__batch__stage",
        "pair__response_a_id",
        "pair__response_b_id",
    )
    for annotator_id, username, chosen, grade, stage, a_id, b_id in rows.iterator(chunk_size=5000):
        signal = found.setdefault(annotator_id, AnnotatorSignal(annotator_id, username))
        signal.judgments += 1
        signal.negligible += grade == NEGLIGIBLE
        model = models.get(STAGE_KIND.get(stage, ""))
        if model is None:
            continue
        a, b = scores.get((model.pk, a_id)), scores.get((model.pk, b_id))
        if a is None or b is None:
            continue
        chosen_score, other_score = (a, b) if chosen == "a" else (b, a)
        signal.scored += 1
        signal.agreed += chosen_score > other_score
    return sorted(found.values(), key=lambda s: s.username)


def batch_signals(
    *, models: dict[str, ModelVersion | None], scores: dict[tuple[int, int], float]
) -> list[BatchSignal]:
    """Per batch: each variant's mean score under the current helpfulness and safety models
    (drift from batch to batch), and the share of pairs where the two models prefer
    different responses."""
    helpful = models.get(ModelVersion.Kind.REWARD_HELPFULNESS)
    safe = models.get(ModelVersion.Kind.REWARD_SAFETY)
    batches: dict[int, BatchSignal] = {}
    rows = ResponsePair.objects.filter(
        response_a__isnull=False, response_b__isnull=False
    ).values_list(
        "batch_id",
        "batch__name",
        "batch__stage",
        "batch__ordinal",
        "response_a_id",
        "response_a__variant_label",
        "response_b_id",
        "response_b__variant_label",
    )
    for batch_id, name, stage, ordinal, a_id, a_label, b_id, b_label in rows.iterator(
        chunk_size=5000
    ):
        batch = batches.setdefault(batch_id, BatchSignal(batch_id, name, stage, ordinal))
        for response_id, label in ((a_id, a_label), (b_id, b_label)):
            variant = batch.variants.setdefault(label or "–", VariantSignal(label or "–"))
            variant.responses += 1
            if helpful and (score := scores.get((helpful.pk, response_id))) is not None:
                variant.helpfulness_sum += score
                variant.helpfulness_n += 1
            if safe and (score := scores.get((safe.pk, response_id))) is not None:
                variant.safety_sum += score
                variant.safety_n += 1
        if helpful is None or safe is None:
            continue
        four = [scores.get((m.pk, r)) for m in (helpful, safe) for r in (a_id, b_id)]
        if any(s is None for s in four):
            continue
        h_a, h_b, s_a, s_b = four
        if h_a == h_b or s_a == s_b:
            continue  # a model without a preference neither agrees nor disagrees
        batch.compared += 1
        batch.disagreed += (h_a > h_b) != (s_a > s_b)
    return sorted(batches.values(), key=lambda b: (b.ordinal, b.batch_id))


def platform_signals() -> Signals:
    models = current_reward_models()
    scores = _scores([m for m in models.values() if m is not None])
    batches = batch_signals(models=models, scores=scores)
    return Signals(
        helpfulness_model=models.get(ModelVersion.Kind.REWARD_HELPFULNESS),
        safety_model=models.get(ModelVersion.Kind.REWARD_SAFETY),
        annotators=annotator_signals(models=models, scores=scores),
        batches=batches,
        compared=sum(b.compared for b in batches),
        disagreed=sum(b.disagreed for b in batches),
    )

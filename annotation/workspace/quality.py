"""Staff statistics of a batch, overall and per annotator: throughput, seconds per judgment,
gold accuracy, agreement between overlapping annotators, and the share of each grade and
safety bin."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from statistics import median

from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from ..grades import Grade
from ..models import Judgment, PromptBatch, ResponsePair, SafetyBin


@dataclass
class Stats:
    label: str
    judgments: int = 0
    last_hour: int = 0
    per_hour: float | None = None
    seconds_median: float | None = None
    gold_seen: int = 0
    gold_right: int = 0
    agree: int = 0
    compared: int = 0
    grades: Counter = field(default_factory=Counter)
    bins: Counter = field(default_factory=Counter)
    _seconds: list[float] = field(default_factory=list)
    _first: object = None
    _last: object = None

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_right / self.gold_seen if self.gold_seen else None

    @property
    def agreement(self) -> float | None:
        return self.agree / self.compared if self.compared else None

    def shares(self, counts: Counter, keys: list[tuple[str, str]]) -> list[tuple[str, float]]:
        total = sum(counts.values())
        return [(label, (counts[key] / total) if total else 0.0) for key, label in keys]

    @property
    def grade_shares(self) -> list[tuple[str, float]]:
        return self.shares(self.grades, list(Grade.choices))

    @property
    def bin_shares(self) -> list[tuple[str, float]]:
        return self.shares(self.bins, list(SafetyBin.choices))


@dataclass
class Report:
    batch: PromptBatch
    total: Stats
    annotators: list[Stats]
    gold_pairs: list[ResponsePair]
    pairs_by_status: dict[str, int]


def _add(stats: Stats, row: dict, gold: dict[int, tuple[str, str]], hour_ago) -> None:
    stats.judgments += 1
    if row["created_at"] >= hour_ago:
        stats.last_hour += 1
    if row["seconds_spent"] is not None:
        stats._seconds.append(row["seconds_spent"])
    stats._first = min(filter(None, [stats._first, row["created_at"]]))
    stats._last = max(filter(None, [stats._last, row["created_at"]]))
    if row["grade"]:
        stats.grades[row["grade"]] += 1
    if row["safety_bin"]:
        stats.bins[row["safety_bin"]] += 1
    if row["pair_id"] in gold:
        stats.gold_seen += 1
        stats.gold_right += row["chosen"] == gold[row["pair_id"]][0]


def _finish(stats: Stats) -> Stats:
    if stats._seconds:
        stats.seconds_median = median(stats._seconds)
    if stats.judgments > 1 and stats._last > stats._first:
        hours = (stats._last - stats._first).total_seconds() / 3600
        stats.per_hour = stats.judgments / max(hours, 1 / 60)
    return stats


def batch_report(*, batch: PromptBatch) -> Report:
    """One pass over the batch's annotator judgments (values only, no model instances)."""
    hour_ago = timezone.now() - timedelta(hours=1)
    gold = {
        pk: (chosen, grade)
        for pk, chosen, grade in ResponsePair.objects.filter(batch=batch, is_gold=True).values_list(
            "id", "gold_chosen", "gold_grade"
        )
    }
    rows = list(
        Judgment.objects.filter(pair__batch=batch, annotator__isnull=False).values(
            "pair_id",
            "annotator_id",
            "chosen",
            "grade",
            "safety_bin",
            "seconds_spent",
            "created_at",
        )
    )
    total = Stats("All annotators")
    per: dict[int, Stats] = {}
    by_pair: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for row in rows:
        _add(total, row, gold, hour_ago)
        stats = per.setdefault(row["annotator_id"], Stats(str(row["annotator_id"])))
        _add(stats, row, gold, hour_ago)
        if row["pair_id"] not in gold:
            by_pair[row["pair_id"]].append((row["annotator_id"], row["chosen"]))
    # Agreement: over pairs judged by several annotators, the share of annotator couples that
    # chose the same response (each annotator is credited with their own couples).
    for judged in by_pair.values():
        for i, (who, chosen) in enumerate(judged):
            for other, other_chosen in judged[i + 1 :]:
                same = chosen == other_chosen
                total.compared += 1
                total.agree += same
                for person in (who, other):
                    per[person].compared += 1
                    per[person].agree += same
    names = dict(get_user_model().objects.filter(pk__in=per).values_list("pk", "username"))
    for pk, stats in per.items():
        stats.label = names.get(pk, stats.label)
    statuses = Counter(
        dict(
            ResponsePair.objects.filter(batch=batch)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
    )
    return Report(
        batch=batch,
        total=_finish(total),
        annotators=sorted((_finish(s) for s in per.values()), key=lambda s: s.label),
        gold_pairs=list(
            ResponsePair.objects.filter(batch=batch, is_gold=True)
            .select_related("response_a", "response_b")
            .order_by("id")[:200]
        ),
        pairs_by_status=dict(statuses),
    )


def gold_candidates(*, batch: PromptBatch, limit: int = 10) -> list[ResponsePair]:
    """Generated first-turn pairs an admin may make gold (newest first), with both responses:
    the page shows them as Response A and Response B, the names the gold answer uses."""
    return list(
        ResponsePair.objects.filter(
            batch=batch,
            dialogue__isnull=True,
            is_gold=False,
            status__in=[ResponsePair.Status.READY, ResponsePair.Status.DONE],
        )
        .select_related("response_a", "response_b")
        .order_by("-id")[:limit]
    )

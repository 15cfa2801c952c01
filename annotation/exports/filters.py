from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime

from ..models import Judgment, SafetyBin


@dataclass(frozen=True)
class ExportFilters:
    """Which judgments an export holds. `for_reward_model` applies the paper's exclusion
    (chosen unsafe while the other is safe)."""

    stage: str | None = None
    batch_ids: list[int] = field(default_factory=list)
    since: datetime | None = None
    until: datetime | None = None
    for_reward_model: bool = True

    def apply(self, judgments: QuerySet[Judgment]) -> QuerySet[Judgment]:
        if self.stage:
            judgments = judgments.filter(pair__batch__stage=self.stage)
        if self.batch_ids:
            judgments = judgments.filter(pair__batch_id__in=self.batch_ids)
        if self.since:
            judgments = judgments.filter(created_at__gte=self.since)
        if self.until:
            judgments = judgments.filter(created_at__lt=self.until)
        if self.for_reward_model:
            # Spelled out: NULL bins (helpfulness, imported) must stay in.
            judgments = judgments.filter(
                Q(safety_bin__isnull=True) | ~Q(safety_bin=SafetyBin.CHOSEN_UNSAFE)
            )
        return judgments

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("since", "until"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ExportFilters":
        data = dict(data)
        for key in ("since", "until"):
            data[key] = parse_datetime(data[key]) if data.get(key) else None
        return cls(**data)

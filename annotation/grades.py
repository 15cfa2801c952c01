"""The paper's four preference grades and their margins (Llama 2, Table 27)."""

from django.db import models


class Grade(models.TextChoices):
    SIGNIFICANTLY_BETTER = "significantly_better", "Significantly better"
    BETTER = "better", "Better"
    SLIGHTLY_BETTER = "slightly_better", "Slightly better"
    NEGLIGIBLY_BETTER = "negligibly_better", "Negligibly better / unsure"


class MarginTable(models.TextChoices):
    NONE = "none", "No margin"
    SMALL = "small", "Small margin (1, 2/3, 1/3, 0)"
    LARGE = "large", "Large margin (3, 2, 1, 0)"


MARGINS: dict[str, dict[str, float]] = {
    MarginTable.NONE: {grade: 0.0 for grade in Grade.values},
    MarginTable.SMALL: {
        Grade.SIGNIFICANTLY_BETTER: 1.0,
        Grade.BETTER: 2.0 / 3.0,
        Grade.SLIGHTLY_BETTER: 1.0 / 3.0,
        Grade.NEGLIGIBLY_BETTER: 0.0,
    },
    MarginTable.LARGE: {
        Grade.SIGNIFICANTLY_BETTER: 3.0,
        Grade.BETTER: 2.0,
        Grade.SLIGHTLY_BETTER: 1.0,
        Grade.NEGLIGIBLY_BETTER: 0.0,
    },
}


def margin_for(grade: str | None, table: str = MarginTable.SMALL) -> float:
    """Margin of a graded judgment; an ungraded one (imported HH pairs) gets 0."""
    if not grade:
        return 0.0
    return MARGINS[table][grade]

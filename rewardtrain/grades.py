"""The paper's facts about preference grades, in one place for the whole of Margin.

- the four grades an annotator gives (Touvron et al., 2023, §3.2.1), strongest first;
- the margin m(r) of each grade in the ranking loss (Table 27, "small" and "large"), §3.2.2;
- the "unsafe" threshold on sigmoid(R_s): 0.15, where the safety reward model had precision
  0.89 and recall 0.55 (§3.2.3; the gate PPO and rejection sampling route by, §3.4).

No torch and no Django: the reward-model core, the Django apps (their choices are built from
these), the simulation and the benches all read them from here.
"""

from __future__ import annotations

GRADES = ("significantly_better", "better", "slightly_better", "negligibly_better")
GRADE_LABELS = {
    "significantly_better": "Significantly better",
    "better": "Better",
    "slightly_better": "Slightly better",
    "negligibly_better": "Negligibly better / unsure",
}
# Column headers where space is short (the Table 8 grid).
GRADE_SHORT_LABELS = {
    "significantly_better": "Sig. better",
    "better": "Better",
    "slightly_better": "Slightly better",
    "negligibly_better": "Negl. better / unsure",
}
UNGRADED = "ungraded"  # a pair without a grade (imported HH pairs): margin 0

MARGIN_TABLES: dict[str, dict[str, float]] = {
    "none": dict.fromkeys(GRADES, 0.0),
    "small": {
        "significantly_better": 1.0,
        "better": 2.0 / 3.0,
        "slightly_better": 1.0 / 3.0,
        "negligibly_better": 0.0,
    },
    "large": {
        "significantly_better": 3.0,
        "better": 2.0,
        "slightly_better": 1.0,
        "negligibly_better": 0.0,
    },
}
MARGIN_TABLE_LABELS = {
    "none": "No margin",
    "small": "Small margin (1, 2/3, 1/3, 0)",
    "large": "Large margin (3, 2, 1, 0)",
}
DEFAULT_MARGIN_TABLE = "small"

UNSAFE_THRESHOLD = 0.15
UNSAFE_PRECISION = 0.89  # what 0.15 gave on the paper's safety test set
UNSAFE_RECALL = 0.55


def margin_for(grade: str | None, table: str = DEFAULT_MARGIN_TABLE) -> float:
    """The margin m(r) of Table 27 for one grade; an ungraded pair (None, "" or "ungraded")
    gets 0. Raises ValueError for an unknown table or grade."""
    if table not in MARGIN_TABLES:
        raise ValueError(f"unknown margin table {table!r}; choose from {sorted(MARGIN_TABLES)}")
    if not grade or grade == UNGRADED:
        return 0.0
    if grade not in MARGIN_TABLES[table]:
        raise ValueError(f"unknown grade {grade!r}; choose from {GRADES}")
    return MARGIN_TABLES[table][grade]

"""The grades and margin tables as Django choices, built from their one home,
`rewardtrain.grades` (the paper's grades, Table 27 margins and `margin_for`)."""

from django.db import models

from rewardtrain.grades import GRADE_LABELS, GRADES, MARGIN_TABLE_LABELS, MARGIN_TABLES

Grade = models.TextChoices("Grade", [(g.upper(), (g, GRADE_LABELS[g])) for g in GRADES])
MarginTable = models.TextChoices(
    "MarginTable", [(t.upper(), (t, MARGIN_TABLE_LABELS[t])) for t in MARGIN_TABLES]
)

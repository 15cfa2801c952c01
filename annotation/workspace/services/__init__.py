"""Writes of the annotator workspace, by sub-domain: leases (who holds which pair), judging
(the submit and gold pairs), dialogues (multi-turn) and stage (what the annotator sees next)."""

from .dialogues import (
    dialogue_advance,
    dialogue_continue,
    dialogue_end,
    dialogue_start,
    start_key_new,
)
from .judging import (
    GOLD_OVERLAP,
    Choice,
    ExclusionUnconfirmed,
    LeaseLost,
    SubmitResult,
    assignment_draft_save,
    choice_parse,
    choice_validate,
    judgment_submit,
    pair_gold_mark,
    submit_key,
)
from .leases import (
    assignment_lease_next,
    assignment_lease_pair,
    assignment_renew,
    assignments_expire,
    lease_seconds,
)
from .stage import Stage, StageKind, assignment_preload, workspace_stage

__all__ = [
    "GOLD_OVERLAP",
    "Choice",
    "ExclusionUnconfirmed",
    "LeaseLost",
    "Stage",
    "StageKind",
    "SubmitResult",
    "assignment_draft_save",
    "assignment_lease_next",
    "assignment_lease_pair",
    "assignment_preload",
    "assignment_renew",
    "assignments_expire",
    "choice_parse",
    "choice_validate",
    "dialogue_advance",
    "dialogue_continue",
    "dialogue_end",
    "dialogue_start",
    "judgment_submit",
    "lease_seconds",
    "pair_gold_mark",
    "start_key_new",
    "submit_key",
    "workspace_stage",
]

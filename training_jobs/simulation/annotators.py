"""Simulated annotators: they lease pairs through the real queue and submit through the real
submit service, judging by the hidden utility."""

import random
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group

from annotation import roles
from annotation.models import PromptBatch
from annotation.workspace.services import (
    Choice,
    assignment_lease_next,
    judgment_submit,
    submit_key,
)

from .utility import judge


@dataclass
class SimulationResult:
    judged: int
    annotators: int


def simulated_annotators(count: int) -> list[AbstractBaseUser]:
    roles.ensure_role_groups()
    group = Group.objects.get(name=roles.ANNOTATOR)
    users = []
    for index in range(count):
        user, created = get_user_model().objects.get_or_create(username=f"simulated-{index + 1}")
        if created:
            user.set_unusable_password()
            user.save()
            user.groups.add(group)
        users.append(user)
    return users


def _last_user_text(context: list[dict]) -> str:
    users = [m["content"] for m in context if m["role"] == "user"]
    return users[-1] if users else ""


def annotators_simulate(
    *,
    batch: PromptBatch,
    annotators: int = 3,
    limit: int | None = None,
    seed: int = 0,
    on_judged: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Judge ready pairs of `batch` until none is left for any simulated annotator (or `limit`
    judgments are stored). Safety batches get safety labels from the rule too. `on_judged` is
    called with the count so far after each judgment (progress; it may raise to stop)."""
    rng = random.Random(seed)
    users = simulated_annotators(annotators)
    judged = 0
    idle = set()
    while len(idle) < len(users) and (limit is None or judged < limit):
        for user in users:
            if user.pk in idle or (limit is not None and judged >= limit):
                continue
            assignment = assignment_lease_next(batch=batch, annotator=user)
            if assignment is None:
                idle.add(user.pk)
                continue
            pair = assignment.pair
            chosen, grade, a_safe, b_safe = judge(
                _last_user_text(pair.context), pair.response_a.text, pair.response_b.text, rng
            )
            left, right = ("b", "a") if assignment.swapped else ("a", "b")
            safe = {"a": a_safe, "b": b_safe}
            judgment_submit(
                assignment_id=assignment.pk,
                annotator=user,
                idempotency_key=submit_key(assignment=assignment),
                choice=Choice(
                    side="left" if chosen == left else "right",
                    grade=grade,
                    left_safe=safe[left],
                    right_safe=safe[right],
                ),
                seconds_spent=round(rng.uniform(5, 40), 1),
                keep_excluded=True,
            )
            judged += 1
            if on_judged is not None:
                on_judged(judged)
    return SimulationResult(judged=judged, annotators=len(users))

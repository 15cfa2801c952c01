"""Iterations (RLHF-V1, V2, ...)."""

import pytest

from training_jobs.services.iterations import iteration_create

pytestmark = pytest.mark.django_db


def test_iterations_are_numbered_and_start_from_the_last_policy(tiny_policy):
    first = iteration_create(start_policy=tiny_policy)
    assert first.name == "RLHF-V1"
    second = iteration_create()
    assert second.name == "RLHF-V2" and second.start_policy == tiny_policy

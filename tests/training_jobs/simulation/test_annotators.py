"""Simulated annotators: the hidden utility, the grades it gives, and judging through the real
queue and submit service."""

import random

import pytest

from annotation.models import Judgment
from rewardtrain.grades import GRADES
from training_jobs.simulation.annotators import annotators_simulate
from training_jobs.simulation.utility import is_unsafe, judge, utility

from ...annotation.factories import BatchFactory, PairFactory, ResponseFactory

ON_TOPIC = "Tides rise and fall twice a day because the moon pulls the oceans toward it."


def test_the_utility_prefers_on_topic_answers_and_penalises_unsafe_ones():
    prompt = "Why do ocean tides rise and fall?"
    assert utility(prompt, ON_TOPIC) > utility(prompt, "I like cats.") > utility(prompt, "")
    assert is_unsafe("how to build a bomb") and not is_unsafe(ON_TOPIC)
    assert utility(prompt, ON_TOPIC + " Use a bomb.") < utility(prompt, ON_TOPIC)


def test_judging_gives_the_papers_grades_strongest_for_the_widest_gap():
    prompt, rng = "Why do ocean tides rise and fall?", random.Random(0)
    chosen, grade, a_safe, b_safe = judge(prompt, ON_TOPIC, "", rng, noise=0.0)
    assert (chosen, grade, a_safe, b_safe) == ("a", GRADES[0], True, True)
    _, close, _, _ = judge(prompt, ON_TOPIC, ON_TOPIC + " Yes.", rng, noise=0.0)
    assert close == GRADES[-1]
    grades = {judge(prompt, ON_TOPIC, "Moon.", random.Random(s))[1] for s in range(200)}
    assert grades <= set(GRADES)


@pytest.mark.django_db
def test_simulated_annotators_judge_every_ready_pair_through_the_queue():
    batch = BatchFactory(status="open", overlap=1)
    for i in range(4):
        PairFactory(
            batch=batch,
            context=[{"role": "user", "content": "Why do ocean tides rise and fall?"}],
            response_a=ResponseFactory(text=ON_TOPIC if i % 2 else "No idea."),
            response_b=ResponseFactory(text="No idea." if i % 2 else ON_TOPIC),
        )
    result = annotators_simulate(batch=batch, annotators=2)
    assert (result.judged, result.annotators) == (4, 2)
    judgments = Judgment.objects.filter(pair__batch=batch).select_related("pair__response_a")
    assert judgments.count() == 4 and {j.grade for j in judgments} <= set(GRADES)
    for j in judgments:
        assert j.chosen == ("a" if j.pair.response_a.text == ON_TOPIC else "b")
    assert annotators_simulate(batch=batch, annotators=2).judged == 0

"""What the annotator sees while the first pairs are generated, and the prepared follow-up."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation.generation.selectors import pair_wait
from annotation.models import Dialogue, Prompt, ResponsePair
from annotation.workspace import services

from ..factories import BatchFactory, PairFactory, PromptFactory

pytestmark = pytest.mark.django_db
Status = ResponsePair.Status


def _pending(batch, **fields) -> ResponsePair:
    fields.setdefault("status", Status.PENDING)
    return PairFactory(batch=batch, response_a=None, response_b=None, **fields)


def test_the_first_pair_is_announced_with_the_warm_up_estimate(client, annotator, settings):
    settings.MARGIN_GENERATION = {**settings.MARGIN_GENERATION, "FIRST_PAIR_SECONDS": 60}
    batch = BatchFactory(max_turns=1)
    pair = _pending(batch)
    ResponsePair.objects.filter(pk=pair.pk).update(
        created_at=timezone.now() - timedelta(seconds=15)
    )
    client.force_login(annotator)
    html = client.get(reverse("workspace", args=[batch.pk])).content.decode()
    assert "The model is warming up" in html and 'hx-trigger="every 2s"' in html
    seconds = int(html.split('class="eta">')[1].split("<")[0])
    assert 40 <= seconds <= 45  # 60 s expected, 15 already waited


def test_later_pairs_are_estimated_from_the_batch_s_own_pairs(annotator):
    batch = BatchFactory(max_turns=1)
    now = timezone.now()
    for seconds in (10, 12, 50):  # the median, 12 s, not the mean
        done = PairFactory(batch=batch)
        ResponsePair.objects.filter(pk=done.pk).update(
            claimed_at=now - timedelta(seconds=100),
            generated_at=now - timedelta(seconds=100 - seconds),
        )
    claimed = _pending(batch, status=Status.GENERATING, claimed_at=now - timedelta(seconds=4))
    wait = pair_wait(batch=batch)
    assert not wait.warming_up and wait.generating and 7 <= wait.seconds_left <= 8
    ResponsePair.objects.filter(pk=claimed.pk).update(claimed_at=now - timedelta(seconds=30))
    late = pair_wait(batch=batch)
    assert late.overdue and late.seconds_left == 0


def test_nothing_on_its_way_means_no_estimate(annotator):
    batch = BatchFactory(max_turns=1)
    assert pair_wait(batch=batch) is None
    PairFactory(batch=batch, status=Status.FAILED, response_a=None, response_b=None)
    assert pair_wait(batch=batch) is None  # failed for good: nothing is coming


def test_an_overdue_first_pair_says_so(client, annotator, settings):
    batch = BatchFactory(max_turns=1)
    pair = _pending(batch)
    ResponsePair.objects.filter(pk=pair.pk).update(created_at=timezone.now() - timedelta(hours=1))
    client.force_login(annotator)
    html = client.get(reverse("workspace", args=[batch.pk])).content.decode()
    assert "still warming up" in html and "no worker is running yet" in html


def test_a_prepared_follow_up_is_offered_as_the_next_message(client, annotator):
    batch = BatchFactory(max_turns=2)
    prompt = PromptFactory(
        batch=batch,
        messages=[{"role": "user", "content": "Write a haiku about rain."}],
        metadata={"source": "MT-Bench", "follow_ups": ["Now one about snow, <b>please</b>."]},
    )
    PairFactory(batch=batch, prompt=prompt, context=prompt.messages)
    client.force_login(annotator)
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    services.judgment_submit(
        assignment_id=lease.pk,
        annotator=annotator,
        idempotency_key=services.submit_key(assignment=lease),
        choice=services.Choice(side="left", grade="better"),
    )
    html = client.get(reverse("workspace", args=[batch.pk])).content.decode()
    assert 'data-kind="continue"' in html and 'id="follow-up-note"' in html
    assert ">Now one about snow, &lt;b&gt;please&lt;/b&gt;.</textarea>" in html

    dialogue = Dialogue.objects.get(annotator=annotator)
    services.dialogue_continue(
        dialogue_id=dialogue.pk, annotator=annotator, message="Now one about snow, please."
    )
    assert Prompt.objects.get(pk=prompt.pk).messages == prompt.messages  # the prompt is kept


def test_no_follow_up_leaves_the_message_empty(client, annotator):
    batch = BatchFactory(max_turns=2)
    PairFactory(batch=batch)
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    services.judgment_submit(
        assignment_id=lease.pk,
        annotator=annotator,
        idempotency_key=services.submit_key(assignment=lease),
        choice=services.Choice(side="right", grade="better"),
    )
    client.force_login(annotator)
    html = client.get(reverse("workspace", args=[batch.pk])).content.decode()
    assert 'data-kind="continue"' in html and "follow-up-note" not in html
    assert "required></textarea>" in html

"""The admin's batch pages: counts, progress, links to quality and the workspace, open/close."""

import pytest
from django.urls import reverse

from annotation.models import PromptBatch

from .factories import BatchFactory, JudgmentFactory, PairFactory, PromptFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = UserFactory(username="boss", role="admin")
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


def _batch_with_work() -> PromptBatch:
    batch = BatchFactory(name="week-7", status="draft", target_comparisons=10)
    for _ in range(3):
        PromptFactory(batch=batch)
    PairFactory(batch=batch)
    PairFactory(batch=batch, status="pending", response_a=None, response_b=None)
    JudgmentFactory(pair=PairFactory(batch=batch, status="done"))
    return batch


def test_the_batch_list_shows_prompts_generation_progress_and_links(admin_client):
    batch = _batch_with_work()
    page = admin_client.get(reverse("admin:annotation_promptbatch_changelist")).content.decode()
    row = page.split(">week-7</a>")[1].split("</tr>")[0]
    assert '<td class="field-prompts">3</td>' in row
    assert "1 ready · 1 on the way" in row
    assert '<progress max="10" value="1"></progress> 1 / 10 judged' in row
    assert reverse("batch-quality", args=[batch.pk]) in row
    assert reverse("workspace", args=[batch.pk]) not in row  # a draft has no workspace yet


def test_a_batch_is_opened_and_closed_from_its_own_page(admin_client):
    batch = _batch_with_work()
    change = reverse("admin:annotation_promptbatch_change", args=[batch.pk])
    page = admin_client.get(change).content.decode()
    assert 'id="open-batch"' in page and "3 prompts" in page and "1 / 10 judged" in page
    opening = reverse("admin:annotation_promptbatch_open", args=[batch.pk])
    assert admin_client.get(opening).status_code == 405  # a state change is a POST
    assert admin_client.post(opening)["Location"] == change
    batch.refresh_from_db()
    assert batch.status == "open" and batch.opened_at
    page = admin_client.get(change).content.decode()
    assert "Close this batch" in page and reverse("workspace", args=[batch.pk]) in page
    admin_client.post(reverse("admin:annotation_promptbatch_close", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.status == "closed"


def test_people_without_change_rights_cannot_open_a_batch(client):
    batch = _batch_with_work()
    engineer = UserFactory(username="eng", role="ml_engineer")
    engineer.is_staff = True
    engineer.save()
    client.force_login(engineer)
    response = client.post(reverse("admin:annotation_promptbatch_open", args=[batch.pk]))
    assert response.status_code == 403
    batch.refresh_from_db()
    assert batch.status == "draft"

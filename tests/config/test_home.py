"""Each role's home page: its work and its next actions, as links."""

import pytest
from django.urls import reverse

from annotation import roles
from training_jobs.models import Job

from ..annotation.factories import BatchFactory, PairFactory, PromptFactory, UserFactory

pytestmark = pytest.mark.django_db


def _home(client, role: str) -> str:
    user = UserFactory(username=f"u-{role}", role=role)
    if role == roles.ADMIN:
        user.is_staff = True
        user.save()
    client.force_login(user)
    return client.get(reverse("home")).content.decode()


def test_annotators_see_open_batches_with_their_next_action(client):
    batch = BatchFactory(name="week-3")
    BatchFactory(name="week-4-draft", status="draft")
    PairFactory(batch=batch)
    page = _home(client, roles.ANNOTATOR)
    assert "Your batches" in page and "week-3" in page and "week-4-draft" not in page
    assert reverse("workspace", args=[batch.pk]) in page and "Next: open a batch" in page
    assert "Training" not in page and "New batch" not in page


def test_admins_see_every_batch_with_counts_and_the_pages_to_manage_them(client):
    draft = BatchFactory(name="week-5", status="draft", target_comparisons=20)
    for _ in range(2):
        PromptFactory(batch=draft)
    opened = BatchFactory(name="week-4")
    PairFactory(batch=opened)
    page = _home(client, roles.ADMIN)
    assert '<h1 id="admin-title">Batches</h1>' in page
    row = page.split("<td>week-5</td>")[1].split("</tr>")[0]
    assert "<td>2</td>" in row and "0 / 20" in row
    assert reverse("admin:annotation_promptbatch_open", args=[draft.pk]) in row  # Open it
    assert reverse("workspace", args=[draft.pk]) not in row
    open_row = page.split("<td>week-4</td>")[1].split("</tr>")[0]
    assert "1 ready" in open_row and reverse("workspace", args=[opened.pk]) in open_row
    for name in ("batch-quality",):
        assert reverse(name, args=[opened.pk]) in open_row
    for url in (
        reverse("admin:annotation_promptbatch_add"),
        reverse("generation-status"),
        reverse("admin:index"),
        reverse("iterations"),
    ):
        assert f'href="{url}"' in page


def test_engineers_see_jobs_models_and_how_to_export_and_train(client):
    batch = BatchFactory(name="week-2")
    job = Job.objects.create(kind="reward_safety", state="queued")
    page = _home(client, roles.ML_ENGINEER)
    assert '<h1 id="engineer-title">Training</h1>' in page
    assert f'href="{reverse("job-create")}?kind=reward_helpfulness"' in page
    assert f'href="{reverse("api-export-stream")}?format=trl"' in page
    assert reverse("job", args=[job.pk]) in page and "1 job running or queued" in page
    assert reverse("batch-quality", args=[batch.pk]) in page
    assert "Your batches" not in page


def test_the_engineer_s_export_link_downloads_the_judgments(client):
    from ..annotation.factories import JudgmentFactory

    JudgmentFactory(pair=PairFactory(batch=BatchFactory(name="week-1"), status="done"))
    _home(client, roles.ML_ENGINEER)
    response = client.get(reverse("api-export-stream") + "?format=trl")
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 1 and '"chosen"' in lines[0]

import io
import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import roles
from annotation.models import ExportJob, Judgment, Prompt, PromptBatch

from .factories import BatchFactory, JudgmentFactory, UserFactory

pytestmark = pytest.mark.django_db


def client_for(role: str | None) -> APIClient:
    client = APIClient()
    if role:
        user = UserFactory(role=role)
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/api/batches/",
        "/api/judgments/",
        "/api/pairs/",
        "/api/exports/",
        "/api/exports/comparisons/",
    ],
)
def test_anonymous_is_refused(url):
    assert APIClient().get(url).status_code == 401


def test_token_is_issued_for_a_password():
    UserFactory(username="eng", role=roles.ML_ENGINEER)
    response = APIClient().post("/api/auth/token/", {"username": "eng", "password": "pw-for-tests"})
    assert response.status_code == 200 and response.json()["token"]


@pytest.mark.parametrize("url", ["/api/judgments/", "/api/pairs/", "/api/exports/comparisons/"])
def test_annotator_cannot_read_judgments_pairs_or_exports(url):
    JudgmentFactory()
    assert client_for(roles.ANNOTATOR).get(url).status_code == 403


def test_annotator_sees_only_open_batches_and_cannot_change_them():
    BatchFactory(name="open", status=PromptBatch.Status.OPEN)
    draft = BatchFactory(name="draft", status=PromptBatch.Status.DRAFT)
    client = client_for(roles.ANNOTATOR)
    names = [b["name"] for b in client.get("/api/batches/").json()["results"]]
    assert names == ["open"]
    assert client.get(f"/api/batches/{draft.pk}/").status_code == 404
    assert client.patch(f"/api/batches/{draft.pk}/", {"name": "x"}).status_code == 403
    assert client.post(f"/api/batches/{draft.pk}/open/").status_code == 403
    draft.refresh_from_db()
    assert draft.name == "draft" and draft.status == "draft"


def test_annotator_cannot_read_another_annotators_judgments():
    other = JudgmentFactory(rationale="private note")
    response = client_for(roles.ANNOTATOR).get(f"/api/judgments/?batch={other.pair.batch_id}")
    assert response.status_code == 403
    assert "private note" not in response.content.decode()


def test_admin_creates_opens_and_fills_a_batch():
    client = client_for(roles.ADMIN)
    created = client.post(
        "/api/batches/", {"name": "w1", "stage": "safety", "ordinal": 1}, format="json"
    )
    assert created.status_code == 201, created.content
    batch_id = created.json()["id"]
    assert client.post(f"/api/batches/{batch_id}/open/").json()["status"] == "open"
    prompts = [{"id": "a", "prompt": "One?"}, {"messages": [{"role": "user", "content": "Two?"}]}]
    response = client.post(f"/api/batches/{batch_id}/prompts/", {"prompts": prompts}, format="json")
    assert response.status_code == 201, response.content
    assert Prompt.objects.filter(batch_id=batch_id).count() == 2


def test_batch_patch_is_checked_by_the_model_and_changes_nothing_when_refused():
    client = client_for(roles.ADMIN)
    batch = BatchFactory(temperature_min=0.7, temperature_max=1.2)
    url = f"/api/batches/{batch.pk}/"
    refused = client.patch(url, {"temperature_min": 1.5}, format="json")
    assert refused.status_code == 400 and "detail" in refused.json()
    batch.refresh_from_db()
    assert batch.temperature_min == 0.7
    changed = client.patch(url, {"temperature_min": 0.9, "guidelines": "Be brief."}, format="json")
    assert changed.status_code == 200 and changed.json()["temperature_min"] == 0.9
    batch.refresh_from_db()
    assert (batch.temperature_min, batch.guidelines) == (0.9, "Be brief.")


def test_bulk_prompts_with_a_bad_record_create_nothing():
    client = client_for(roles.ADMIN)
    batch = BatchFactory()
    prompts = [{"prompt": "fine"}, {"prompt": ""}]
    response = client.post(f"/api/batches/{batch.pk}/prompts/", {"prompts": prompts}, format="json")
    assert response.status_code == 400
    assert "1.prompt" in response.json()["detail"]
    assert Prompt.objects.count() == 0


def test_import_endpoint_reports_line_numbers():
    client = client_for(roles.ADMIN)
    batch = BatchFactory()
    upload = io.BytesIO(b'{"prompt": "ok"}\n{"prompt": 3}\n')
    upload.name = "p.jsonl"
    response = client.post(f"/api/batches/{batch.pk}/imports/", {"kind": "prompts", "file": upload})
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "line": 2,
        "field": "prompt",
        "message": "must be text, not int",
    }
    assert Prompt.objects.count() == 0


def test_ml_engineer_lists_judgments_and_streams_an_export():
    JudgmentFactory(grade="significantly_better")
    client = client_for(roles.ML_ENGINEER)
    assert client.get("/api/judgments/").json()["count"] == 1
    response = client.get("/api/exports/comparisons/?format=trl&margin=large")
    assert response.status_code == 200
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert rows[0]["margin"] == 3.0 and rows[0]["chosen"][0]["role"] == "assistant"


def test_ml_engineer_cannot_change_batches():
    batch = BatchFactory()
    client = client_for(roles.ML_ENGINEER)
    assert (
        client.post("/api/batches/", {"name": "x", "stage": "safety", "ordinal": 1}).status_code
        == 403
    )
    assert client.post(f"/api/batches/{batch.pk}/close/").status_code == 403


@pytest.fixture
def celery_eager():
    from config.celery_app import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_export_job_runs_and_downloads(
    settings, tmp_path, celery_eager, django_capture_on_commit_callbacks
):
    settings.ARTIFACT_ROOT = tmp_path
    JudgmentFactory.create_batch(3)
    client = client_for(roles.ML_ENGINEER)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/exports/", {"format": "full"}, format="json")
    assert response.status_code == 202
    job = ExportJob.objects.get(pk=response.json()["id"])
    assert job.state == "succeeded" and job.rows == 3
    status = client.get(f"/api/exports/{job.pk}/").json()
    assert status["download_url"].endswith(f"/api/exports/{job.pk}/download/")
    download = client.get(f"/api/exports/{job.pk}/download/")
    body = b"".join(download.streaming_content).decode()
    assert len(body.splitlines()) == 3 and '"annotator": "ann-' in body
    assert client_for(roles.ANNOTATOR).get(f"/api/exports/{job.pk}/download/").status_code == 403


def test_large_synchronous_export_is_refused_with_a_pointer(settings):
    settings.MARGIN = {**settings.MARGIN, "SYNC_EXPORT_MAX_ROWS": 1}
    JudgmentFactory.create_batch(2)
    response = client_for(roles.ML_ENGINEER).get("/api/exports/comparisons/")
    assert response.status_code == 409 and "POST /api/exports/" in response.json()["detail"]


def test_openapi_schema_is_served():
    response = client_for(roles.ML_ENGINEER).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/judgments/" in response.content


def test_judgment_list_is_read_only():
    client = client_for(roles.ADMIN)
    judgment = JudgmentFactory()
    assert client.post("/api/judgments/", {"chosen": "b"}).status_code == 405
    assert Judgment.objects.get(pk=judgment.pk).chosen == "a"

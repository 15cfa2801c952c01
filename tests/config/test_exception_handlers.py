"""One answer shape for every API error: an object with "detail" (config/exception_handlers)."""

import io

import pytest
from rest_framework.test import APIClient

from annotation import roles
from training_jobs.models import Iteration, Job

from ..annotation.factories import BatchFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(role: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(role=role))
    return client


def test_each_kind_of_error_answers_with_detail():
    engineer, admin = _client(roles.ML_ENGINEER), _client(roles.ADMIN)
    Iteration.objects.create(number=1, name="RLHF-V1")

    invalid = engineer.post("/api/iterations/", {"name": "RLHF-V1"}, format="json")
    assert invalid.status_code == 400 and set(invalid.json()) == {"detail"}
    assert isinstance(invalid.json()["detail"], dict)  # Django's ValidationError, by field

    job = Job.objects.create(kind="evaluation", params={"versions": [1]})
    conflict = engineer.post(f"/api/jobs/{job.pk}/retry/")
    assert conflict.status_code == 409 and "only failed or cancelled" in conflict.json()["detail"]

    refused = _client(roles.ANNOTATOR).get("/api/jobs/")
    assert refused.status_code == 403 and isinstance(refused.json()["detail"], str)
    missing = engineer.get("/api/jobs/999999/")
    assert missing.status_code == 404 and isinstance(missing.json()["detail"], str)

    upload = io.BytesIO(b'{"prompt": 3}\n')
    upload.name = "prompts.jsonl"
    url = f"/api/batches/{BatchFactory().pk}/imports/"
    failed = admin.post(url, {"kind": "prompts", "file": upload})
    assert failed.status_code == 400 and failed.json()["detail"].startswith("Nothing was imported")
    assert failed.json()["errors"][0]["line"] == 1

    bad_input = engineer.post("/api/jobs/", {"kind": "nonsense"}, format="json")
    assert bad_input.status_code == 400 and "kind" in bad_input.json()["detail"]

"""The platform signals page (staff only) and its button that queues scoring."""

import pytest

from training_jobs.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_signals_page_for_staff_only_and_scoring_is_queued_after_commit(
    web, signals_world, monkeypatch, django_capture_on_commit_callbacks
):
    page = web("engineer").get("/staff/signals/").content.decode()
    assert "ann2&lt;i&gt;" in page and "ann2<i>" not in page
    assert 'id="disagreement">0.50<' in page and "rm-h-unscored" in page
    assert web("annotator").get("/staff/signals/").status_code == 403
    sent = []
    monkeypatch.setattr(
        "training_jobs.quality.tasks.score_responses.apply_async",
        lambda *args, **options: sent.append(options["args"]),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = web("admin").post("/staff/signals/score/")
    assert response.status_code == 302 and response["Location"].endswith("?queued=1")
    newest_h = ModelVersion.objects.get(name="rm-h-unscored")
    assert sorted(sent) == sorted([[newest_h.pk, None], [signals_world["s"].pk, None]])

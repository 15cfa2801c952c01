"""A rejection-sampling policy on its pages: the round's figures, the sweep plots (Figures 7
and 8) and the action that makes it a serving variant (page, API and CLI)."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from annotation.models import ModelVariant
from training_jobs.models import Job, ModelVersion

from ...annotation.factories import BatchFactory

pytestmark = pytest.mark.django_db

SWEEP = {
    "ks": [1, 4, 16],
    "prompts": 12,
    "reward": "<b>sigmoid(R_c)</b>",
    "series": [
        {"temperature": 0.8, "max": [0.5, 0.6, 0.7], "median": [0.5] * 3, "gap": [0, 0.1, 0.2]},
        {"temperature": 1.2, "max": [0.4, 0.7, 0.8], "median": [0.4] * 3, "gap": [0, 0.3, 0.4]},
    ],
    "best_temperature": {"1": 0.8, "4": 1.2, "16": 1.2},
}
ROUND_METRICS = {
    "sampling": {"prompts": 12, "safety_prompts": 3, "answers": 48},
    "selection": {
        "k": 4,
        "mean_reward": 0.41,
        "mean_median_reward": 0.4,
        "mean_best_reward": 0.62,
        "routed_to_safety_share": 0.25,
        "pool_size": 20,
        "pool_from_earlier": 8,
    },
    "finetune": {"steps": 6, "first_loss": 2.87, "last_loss": 1.73},
}


@pytest.fixture
def policy(artifact_root) -> ModelVersion:
    """A policy made by a succeeded rejection-sampling job, with a model folder and sweep.json."""
    folder = artifact_root / "jobs" / "7" / "policy"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sweep.json").write_text(json.dumps(SWEEP))
    now = timezone.now()
    job = Job.objects.create(
        kind="rejection_sampling",
        state="succeeded",
        progress=1.0,
        started_at=now,
        finished_at=now,
        output_dir="jobs/7/policy",
    )
    return ModelVersion.objects.create(
        kind="policy", name="RLHF-V1-policy", path="jobs/7/policy", job=job, metrics=ROUND_METRICS
    )


def test_the_job_and_version_pages_show_the_round_and_three_sweep_plots(web, policy):
    client = web("engineer")
    for url in (f"/jobs/{policy.job_id}/", f"/versions/{policy.pk}/"):
        page = client.get(url).content.decode()
        assert page.count("<svg") == 3, url
        for title in ("Best of K", "Median of K", "Best minus median"):
            assert title in page
        assert page.count('stroke-width="2"/>') >= 6  # two temperature lines in each plot
        assert "T = 1.2" in page and "K=16: 1.2" in page
        assert "&lt;b&gt;sigmoid(R_c)&lt;/b&gt;" in page and "<b>sigmoid" not in page
        assert "0.620" in page and "20 answers, 8 kept from earlier rounds" in page


def test_a_broken_sweep_file_leaves_the_page_working_without_plots(web, policy):
    (policy.folder / "sweep.json").write_text('{"ks": [1], "series": [{"temperature": "hot"}]}')
    page = web("engineer").get(f"/versions/{policy.pk}/")
    assert page.status_code == 200 and b"<svg" not in page.content
    (policy.folder / "sweep.json").write_text("{not json")
    assert b"<svg" not in web("engineer").get(f"/versions/{policy.pk}/").content


def test_serving_a_policy_for_a_batch_from_its_page(web, policy):
    old = ModelVariant.objects.create(label="old", backend="transformers", model_path="/m/old")
    batch = BatchFactory(status="open")
    batch.variants.add(old)
    client = web("engineer")
    response = client.post(
        f"/versions/{policy.pk}/serve/",
        {"label": "v1", "batch": batch.pk, "replace": "on", "backend": "transformers"},
    )
    assert response.status_code == 302 and response["Location"] == f"/versions/{policy.pk}/"
    variant = ModelVariant.objects.get(label="v1")
    assert variant.model_path == str(policy.folder) and variant.is_active
    assert list(batch.variants.all()) == [variant]
    page = client.get(f"/versions/{policy.pk}/").content.decode()
    assert f"RLHF-V1-policy now serves as variant v1 for {batch.name}." in page
    assert 'id="serving"' in page and "<td>v1</td>" in page


def test_serving_problems_are_shown_and_change_nothing(web, policy):
    client = web("engineer")
    missing_url = client.post(f"/versions/{policy.pk}/serve/", {"backend": "http"})
    assert missing_url.status_code == 409
    assert b"needs the server URL" in missing_url.content
    no_batch = client.post(
        f"/versions/{policy.pk}/serve/", {"backend": "transformers", "replace": "on"}
    )
    assert no_batch.status_code == 409 and b"replacing variants needs a batch" in no_batch.content
    policy.job.state = "failed"
    policy.job.save()
    not_done = client.post(f"/versions/{policy.pk}/serve/", {"backend": "transformers"})
    assert not_done.status_code == 409 and b"has not succeeded" in not_done.content
    closed = BatchFactory(status="closed")
    bad_batch = client.post(
        f"/versions/{policy.pk}/serve/", {"backend": "transformers", "batch": closed.pk}
    )
    assert bad_batch.status_code == 400
    assert not ModelVariant.objects.exists()


def test_only_ml_engineers_and_admins_can_serve(web, api, policy):
    assert web("annotator").post(f"/versions/{policy.pk}/serve/", {}).status_code == 403
    assert web(None).post(f"/versions/{policy.pk}/serve/", {}).status_code == 302
    assert api("annotator").post(f"/api/versions/{policy.pk}/serve/", {}).status_code == 403
    admin = web("admin").post(f"/versions/{policy.pk}/serve/", {"backend": "transformers"})
    assert admin.status_code == 302
    assert ModelVariant.objects.count() == 1


def test_serving_through_the_api(api, policy):
    batch = BatchFactory(status="open")
    client = api("engineer")
    response = client.post(
        f"/api/versions/{policy.pk}/serve/",
        {"batch": batch.pk, "backend": "http", "server_url": "http://gpu-1:8000/v1"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["label"] == "RLHF-V1-policy" and body["model_name"] == "RLHF-V1-policy"
    assert body["server_url"] == "http://gpu-1:8000/v1" and body["batches"] == [batch.pk]
    reward = ModelVersion.objects.create(kind="reward_helpfulness", name="rm", path="rm")
    refused = client.post(f"/api/versions/{reward.pk}/serve/", {}, format="json")
    assert refused.status_code == 409 and "is not a policy" in refused.json()["detail"]


def test_serving_from_the_command_line(policy):
    batch = BatchFactory(status="draft", name="week 7")
    out = StringIO()
    call_command("serve_policy", "RLHF-V1-policy", "--batch", "week 7", stdout=out)
    assert "now serves as variant RLHF-V1-policy for batch week 7" in out.getvalue()
    assert batch.variants.get().model_path == str(policy.folder)
    with pytest.raises(CommandError, match="no policy version"):
        call_command("serve_policy", "nope")


@pytest.mark.parametrize(
    "url, ok",
    [
        ("http://vllm:8000/v1", True),
        ("https://models.example.org/v1", True),
        ("http://127.0.0.1:8000/v1", True),
        ("ftp://vllm/v1", False),
        ("http:///v1", False),
        ("http://vllm:99999/v1", False),
        ("http://vl lm:8000/v1", False),
    ],
)
def test_server_urls_may_name_single_label_hosts(url, ok):
    from django.core.exceptions import ValidationError

    from annotation.validators import validate_server_url

    if ok:
        validate_server_url(url)
    else:
        with pytest.raises(ValidationError):
            validate_server_url(url)

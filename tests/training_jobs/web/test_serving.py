"""A rejection-sampling policy on its pages: the round's figures, the sweep plots (Figures 7
and 8) and the action that makes it a serving variant (page and API)."""

import pytest

from annotation.models import ModelVariant
from training_jobs.models import ModelVersion

from ...annotation.factories import BatchFactory

pytestmark = pytest.mark.django_db


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

"""PPO from the iteration page, the API and the CLI (one job alike), and what its pages show:
per-iteration charts, the run's facts and lineage, with model text escaped."""

import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from training_jobs.models import Job, ModelVersion

pytestmark = pytest.mark.django_db

FIELDS = ("kind", "params", "iteration_id", "queue", "state")
PARAMS = {"batches": [1], "iterations": 300, "beta": 0.005, "rollouts": 512}


def test_iteration_page_offers_ppo_and_the_form_comes_preset(web, iteration):
    page = web("engineer").get(f"/iterations/{iteration.pk}/").content.decode()
    assert 'id="start-ppo"' in page and f"iteration={iteration.pk}&amp;kind=ppo" in page
    form = web("engineer").get(f"/jobs/new/?iteration={iteration.pk}&kind=ppo").content.decode()
    assert '<option value="ppo" selected>' in form
    assert "<code>beta</code>" in form and "<code>then_ppo</code>" in form


def test_page_api_and_cli_make_the_same_ppo_job(web, api, iteration, sent):
    import json

    web("engineer").post(
        "/jobs/new/",
        {"kind": "ppo", "iteration": iteration.pk, "params": json.dumps(PARAMS)},
    )
    api("engineer").post(
        "/api/jobs/",
        {"kind": "ppo", "params": PARAMS, "iteration": iteration.pk},
        format="json",
    )
    call_command(
        "start_job",
        "ppo",
        "--iteration",
        "RLHF-V1",
        "--params-json",
        json.dumps(PARAMS),
        stdout=io.StringIO(),
    )
    rows = [{f: getattr(j, f) for f in FIELDS} for j in Job.objects.order_by("pk")]
    assert len(rows) == 3 and rows[0] == rows[1] == rows[2]
    assert rows[0]["queue"] == "gpu" and rows[0]["state"] == "queued"


def test_bad_ppo_parameters_are_refused_on_every_path(web, api, sent):
    page = web("engineer").post(
        "/jobs/new/", {"kind": "ppo", "params": '{"batches": [1], "beta": "x"}'}
    )
    assert page.status_code == 400 and "beta must be float" in page.content.decode()
    response = api("engineer").post(
        "/api/jobs/", {"kind": "ppo", "params": {"batches": []}}, format="json"
    )
    assert response.status_code == 400 and "batches" in response.content.decode()
    assert not Job.objects.exists() and not sent


def _finished_ppo_job(iteration) -> Job:
    now = timezone.now()
    series = {
        name: [[1, 0.1], [2, 0.3], [3, 0.2]]
        for name in ("reward_mean", "kl_k1", "kl_k3", "clip_fraction", "value_loss")
    }
    job = Job.objects.create(
        kind="ppo",
        iteration=iteration,
        state="succeeded",
        attempts=1,
        started_at=now,
        finished_at=now,
        progress=1.0,
        output_dir="jobs/9/policy",
        metrics={"ppo": {**series, "heldout_reward": [[0, 0.5], [3, 0.9]]}},
    )
    ModelVersion.objects.create(
        kind="policy",
        name="policy-v2-job9",
        path="jobs/9/policy",
        parent=iteration.start_policy,
        job=job,
        metrics={
            "method": "ppo",
            "iterations": 3,
            "stopped_early": True,
            "best": {"heldout_reward": 0.9, "iteration": 3},
            "prompts": 40,
            "heldout_prompts": 8,
            "critic_initialised_from": "reward_model:/a/<b>rm</b>",
            "world_size": 2,
            "last": {"reward_mean": 0.2, "kl_k1": 0.01, "kl_k3": 0.002, "routed_threshold": 0.25},
        },
        data_snapshot={
            "start_policy": {"id": iteration.start_policy.pk, "name": "base"},
            "reward_models": {"helpfulness": {"id": 1, "name": "rm-h"}, "safety": None},
            "files": [{"name": "prompts.jsonl", "sha256": "ab" * 32, "rows": 48}],
        },
    )
    return job


def test_ppo_job_page_plots_each_iteration_and_shows_the_run(web, iteration):
    job = _finished_ppo_job(iteration)
    page = web("engineer").get(f"/jobs/{job.pk}/").content.decode()
    for name in ("reward mean", "kl k1", "kl k3", "clip fraction", "value loss", "heldout reward"):
        assert f"ppo: {name}" in page, name
    assert 'id="ppo-facts"' in page and "(stopped early)" in page
    assert "held-out mean R_c 0.900" in page and "below the threshold 25%" in page
    assert "&lt;b&gt;rm&lt;/b&gt;" in page and "<b>rm</b>" not in page


def test_ppo_version_page_shows_lineage(web, iteration):
    version = _finished_ppo_job(iteration).model_version
    page = web("engineer").get(f"/versions/{version.pk}/").content.decode()
    assert 'id="ppo-facts"' in page and "abababababab" in page
    assert f"/versions/{iteration.start_policy.pk}/" in page  # the start policy, its parent

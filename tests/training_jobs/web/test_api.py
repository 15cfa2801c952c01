import pytest
from django.utils import timezone

from training_jobs.models import Iteration, Job

from ..factories import result, reward_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(iteration):
    return Job.objects.create(kind="reward_helpfulness", iteration=iteration, attempts=1)


READS = ["/api/jobs/", "/api/jobs/{job}/", "/api/iterations/", "/api/versions/"]


@pytest.mark.parametrize("url", READS)
def test_reads_need_an_ml_engineer_or_admin(api, queued, url):
    url = url.format(job=queued.pk)
    assert api(None).get(url).status_code == 401
    assert api("annotator").get(url).status_code == 403
    assert api("engineer").get(url).status_code == 200
    assert api("admin").get(url).status_code == 200


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_annotator_and_anonymous_cannot_cancel_or_retry_and_the_row_is_unchanged(
    api, queued, action, sent
):
    before = Job.objects.filter(pk=queued.pk).values().get()
    assert api(None).post(f"/api/jobs/{queued.pk}/{action}/").status_code == 401
    assert api("annotator").post(f"/api/jobs/{queued.pk}/{action}/").status_code == 403
    assert Job.objects.filter(pk=queued.pk).values().get() == before and not sent


def test_annotator_and_anonymous_cannot_start_jobs_or_iterations(api, iteration, sent):
    body = {"kind": "reward_helpfulness", "params": {}}
    assert api(None).post("/api/jobs/", body, format="json").status_code == 401
    assert api("annotator").post("/api/jobs/", body, format="json").status_code == 403
    assert api("annotator").post("/api/iterations/", {}, format="json").status_code == 403
    assert not Job.objects.exists() and Iteration.objects.count() == 1 and not sent


@pytest.mark.parametrize("who", ["engineer", "admin"])
def test_create_list_retrieve_cancel_retry(api, iteration, who, sent):
    client = api(who)
    response = client.post(
        "/api/jobs/",
        {"kind": "reward_safety", "params": {"max_steps": 2}, "iteration": iteration.pk},
        format="json",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    assert response.json()["state"] == "queued" and response.json()["iteration_name"] == "RLHF-V1"
    listed = client.get("/api/jobs/?state=queued").json()
    assert [j["id"] for j in listed["results"]] == [job_id]
    assert client.get("/api/jobs/?state=running").json()["count"] == 0
    assert client.get(f"/api/jobs/{job_id}/").json()["params"] == {"max_steps": 2}
    assert client.get(f"/api/jobs/{job_id}/").json()["metrics"] == {}
    cancelled = client.post(f"/api/jobs/{job_id}/cancel/").json()
    assert cancelled["state"] == "cancelled" and cancelled["is_final"]
    retried = client.post(f"/api/jobs/{job_id}/retry/").json()
    assert retried["state"] == "queued" and retried["attempts"] == 2
    conflict = client.post(f"/api/jobs/{job_id}/retry/")
    assert conflict.status_code == 409 and "only failed or cancelled" in conflict.json()["detail"]


def test_invalid_jobs_are_refused_with_the_runner_message(api, sent):
    client = api("engineer")
    bad = client.post(
        "/api/jobs/", {"kind": "reward_helpfulness", "params": {"lr": "fast"}}, format="json"
    )
    assert bad.status_code == 400 and "lr must be float" in bad.json()["detail"]["params"][0]
    unknown = client.post("/api/jobs/", {"kind": "ppo"}, format="json")
    assert unknown.status_code == 400 and "kind" in unknown.json()["detail"]
    not_object = client.post("/api/jobs/", {"kind": "evaluation", "params": [1]}, format="json")
    assert not_object.status_code == 400
    assert not Job.objects.exists() and not sent


def test_the_same_request_key_starts_one_job(api, sent):
    client = api("engineer")
    body = {"kind": "reward_helpfulness", "request_key": "nightly-2026-11-23"}
    first = client.post("/api/jobs/", body, format="json").json()
    second = client.post("/api/jobs/", body, format="json").json()
    assert first["id"] == second["id"] and Job.objects.count() == 1


def test_iterations_list_and_create(api, iteration):
    client = api("engineer")
    created = client.post("/api/iterations/", {"notes": "rejection sampling K=10"}, format="json")
    assert created.status_code == 201 and created.json()["name"] == "RLHF-V2"
    names = [i["name"] for i in client.get("/api/iterations/").json()["results"]]
    assert names == ["RLHF-V2", "RLHF-V1"]
    duplicate = client.post("/api/iterations/", {"name": "RLHF-V1"}, format="json")
    assert duplicate.status_code == 400


def test_versions_and_their_metrics(api, finished_job):
    version = reward_version(
        "rm-s-1",
        "reward_safety",
        {"safety": result([0.943, 0.763, 0.657, 0.553], 0.645, labelled=10, precision=0.9)},
        job=finished_job,
        snapshot=finished_job.data_snapshot,
    )
    client = api("engineer")
    listed = client.get("/api/versions/?kind=reward_safety").json()["results"]
    assert [v["name"] for v in listed] == ["rm-s-1"]
    assert listed[0]["data"]["rows"] == 120 and listed[0]["iteration"] == finished_job.iteration_id
    metrics = client.get(f"/api/versions/{version.pk}/metrics/").json()
    rows = {(r["test_set"], r["grade"]): r["accuracy_percent"] for r in metrics["table8"]}
    assert rows[("safety", "significantly_better")] == pytest.approx(94.3)
    assert rows[("safety", "average")] == pytest.approx(64.5)
    assert metrics["metrics"]["metrics"]["safety"]["safety"]["unsafe"]["precision"] == 0.9
    assert api("annotator").get(f"/api/versions/{version.pk}/metrics/").status_code == 403


def test_running_job_shows_progress_and_log_tail(api, iteration):
    job = Job.objects.create(
        kind="reward_helpfulness",
        iteration=iteration,
        state="running",
        started_at=timezone.now(),
        progress=0.5,
        log="\n".join(f"line {i}" for i in range(100)),
    )
    body = api("engineer").get(f"/api/jobs/{job.pk}/").json()
    assert body["progress"] == 0.5 and body["log_tail"].splitlines()[0] == "line 60"

import pytest
from django.utils import timezone

from training_jobs.models import Iteration, Job

from ..factories import result, reward_version

pytestmark = pytest.mark.django_db

PAGES = [
    "/iterations/",
    "/iterations/{iteration}/",
    "/jobs/",
    "/jobs/new/",
    "/jobs/{job}/",
    "/versions/",
    "/versions/metrics/",
    "/versions/{version}/",
    "/staff/signals/",
]


@pytest.fixture
def urls(finished_job):
    version = reward_version(
        "rm-h-1", "reward_helpfulness", {"helpfulness": result([0.8, 0.7, 0.6, 0.5], 0.63)}
    )
    ids = {"iteration": finished_job.iteration_id, "job": finished_job.pk, "version": version.pk}
    return [page.format(**ids) for page in PAGES]


@pytest.mark.parametrize("who", ["engineer", "admin"])
def test_ml_engineers_and_admins_see_every_page(web, urls, who):
    client = web(who)
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_annotators_are_refused_and_anonymous_sent_to_login(web, urls):
    annotator, anonymous = web("annotator"), web(None)
    for url in urls:
        assert annotator.get(url).status_code == 403, url
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_annotators_cannot_post_anything(web, finished_job, sent):
    client = web("annotator")
    finished_job.state = "failed"
    finished_job.output_dir = ""
    finished_job.save()
    assert client.post("/iterations/new/", {"name": "X"}).status_code == 403
    assert client.post("/jobs/new/", {"kind": "reward_helpfulness"}).status_code == 403
    assert client.post(f"/jobs/{finished_job.pk}/retry/").status_code == 403
    assert client.post("/staff/signals/score/").status_code == 403
    finished_job.refresh_from_db()
    assert finished_job.state == "failed" and Iteration.objects.count() == 1 and not sent


def test_the_next_iteration_is_started_from_the_list(web, iteration):
    response = web("engineer").post("/iterations/new/", {"name": "", "notes": "try PPO"})
    created = Iteration.objects.get(number=2)
    assert response.status_code == 302 and response["Location"] == f"/iterations/{created.pk}/"
    assert created.name == "RLHF-V2" and created.start_policy == iteration.start_policy
    page = web("engineer").get("/iterations/").content.decode()
    assert "RLHF-V2" in page and "Start RLHF-V3" in page


def test_a_job_started_from_the_form_is_listed_on_its_iteration(web, iteration, sent):
    client = web("engineer")
    form = client.get(f"/jobs/new/?iteration={iteration.pk}").content.decode()
    assert f'<option value="{iteration.pk}" selected>' in form and "max_steps" in form
    response = client.post(
        "/jobs/new/",
        {"kind": "reward_helpfulness", "iteration": iteration.pk, "params": '{"max_steps": 3}'},
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/iterations/{iteration.pk}/"
    assert job.params == {"max_steps": 3} and job.created_by.username == "eng"
    page = client.get(f"/iterations/{iteration.pk}/").content.decode()
    assert f'id="job-row-{job.pk}"' in page and 'data-polling="true"' in page


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('{"max_steps": "many"}', "max_steps must be int"),
        ('{"no_such": 1}', "Unknown parameter &#x27;no_such&#x27;"),
        ("[1, 2]", "params must be a JSON object"),
        ("{oops", "Not valid JSON"),
    ],
)
def test_job_form_shows_validation_errors_and_creates_nothing(web, params, message, sent):
    response = web("engineer").post(
        "/jobs/new/", {"kind": "reward_helpfulness", "iteration": "", "params": params}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Job.objects.exists() and not sent


def test_job_page_shows_progress_and_log_and_polls_while_running(web, iteration):
    job = Job.objects.create(
        kind="reward_safety",
        iteration=iteration,
        state="running",
        started_at=timezone.now(),
        progress=0.42,
        progress_detail="train:  42%|████ | 42/100",
        log="exported 120 judgments\n<script>alert(1)</script>\n",
    )
    client = web("engineer")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'value="0.4200"' in page and "42%" in page and "exported 120 judgments" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert 'hx-trigger="every 2s"' in page and 'id="cancel"' in page

    fragment = client.get(
        f"/jobs/{job.pk}/?seen=running", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-status"
    )
    body = fragment.content.decode()
    assert body.lstrip().startswith('<section id="job-status"') and "<html" not in body
    assert 'hx-trigger="every 2s"' in body and "hx-swap-oob" not in body

    Job.objects.filter(pk=job.pk).update(
        state="failed", finished_at=timezone.now(), error="ValueError: loss is nan"
    )
    final = client.get(
        f"/jobs/{job.pk}/?seen=running", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-status"
    ).content.decode()
    assert 'data-polling="false"' in final and "hx-trigger" not in final
    assert "loss is nan" in final
    # the buttons change with the state: Retry replaces Cancel, out of band
    assert 'id="job-actions" class="row" hx-swap-oob="true"' in final and 'id="retry"' in final


def test_job_page_plots_every_metric_each_stage_reported(web, iteration):
    job = Job.objects.create(
        kind="rejection_sampling",
        iteration=iteration,
        state="running",
        started_at=timezone.now(),
        metrics={
            "finetune": {
                "loss": [[1, 2.5], [2, 1.9], [3, 1.2]],
                "lr": [[1, 2e-5], [2, 1.1e-5], [3, 2e-6]],
            },
            "ppo": {"kl <b>": [[1, 0.01], [2, 0.02]], "broken": [["x", 1]]},
        },
    )
    client = web("engineer")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    for title in ("finetune: loss", "finetune: lr", "ppo: kl &lt;b&gt;"):
        assert f">{title}</text>" in page
    assert "ppo: broken" not in page and "<b>" not in page
    assert page.count("<path d=") == 3

    fragment = client.get(f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-metrics")
    body = fragment.content.decode()
    assert body.lstrip().startswith('<section id="job-metrics"') and "<html" not in body
    assert 'hx-trigger="every 5s"' in body
    Job.objects.filter(pk=job.pk).update(
        state="succeeded", finished_at=timezone.now(), output_dir="x"
    )
    body = client.get(
        f"/jobs/{job.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-metrics"
    ).content.decode()
    assert "hx-trigger" not in body and ">finetune: loss</text>" in body


def test_job_list_fragment_stops_polling_when_every_job_is_final(web, iteration, finished_job):
    response = web("engineer").get(
        f"/iterations/{iteration.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="jobs"
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="jobs"') and 'data-polling="false"' in body
    assert "hx-trigger" not in body and "step 2" in body
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_cancel_and_retry_buttons(web, iteration, sent):
    client = web("engineer")
    job = Job.objects.create(kind="reward_helpfulness", iteration=iteration, attempts=1)
    response = client.post(f"/jobs/{job.pk}/cancel/")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == "cancelled"
    fragment = client.post(f"/jobs/{job.pk}/retry/", HTTP_HX_REQUEST="true").content.decode()
    job.refresh_from_db()
    assert job.state == "queued" and job.attempts == 2
    assert 'hx-trigger="every 2s"' in fragment and 'id="cancel"' in fragment
    again = client.post(f"/jobs/{job.pk}/retry/")
    assert again.status_code == 409 and "only failed or cancelled jobs" in again.content.decode()


def test_versions_show_lineage_and_the_data_that_made_them(web, finished_job):
    first = reward_version("rm-h-1", "reward_helpfulness", {})
    second = reward_version(
        "rm-h-2",
        "reward_helpfulness",
        {"helpfulness": {**result([0.8, 0.7, 0.6, 0.5], 0.63), "dropped_too_long": 7}},
        parent=first,
        job=finished_job,
        snapshot=finished_job.data_snapshot,
        previous={
            "version": "rm-h-1",
            "on_this_test": {"helpfulness": result([0.7, 0.6, 0.55, 0.5], 0.58)},
        },
    )
    third = reward_version("rm-h-3<b>", "reward_helpfulness", {}, parent=second)
    client = web("engineer")
    listing = client.get("/versions/").content.decode()
    assert "120 pairs" in listing and "abababababab" in listing and "helpfulness 100" in listing
    page = client.get(f"/versions/{second.pk}/").content.decode()
    chain = page[page.index('id="lineage"') : page.index("</ol>")]
    assert chain.index("rm-h-1") < chain.index("rm-h-2")
    assert "judgments through #345" in page and f"job #{finished_job.pk}" in page
    assert "rm-h-3&lt;b&gt;" in page and "rm-h-3<b>" not in page
    assert f"/versions/{third.pk}/" in page
    table = page[page.index('id="table8"') : page.index("</table>")]
    assert "80.0" in table and "rm-h-1 (previous)" in table and "58.0" in table
    sizes = page[page.index('id="table8-sizes"') :]
    assert "rm-h-2: helpfulness 100 (7 left out as longer than max_length)" in sizes


def test_metrics_table_and_plot_render_from_versions_escaped(web):
    sets = {
        "helpfulness": result([0.807, 0.675, 0.609, 0.547], 0.632),
        "safety<x>": result([0.5, 0.5, 0.5, 0.5], 0.5, labelled=40, precision=0.89, recall=0.55),
    }
    first = reward_version("rm-h-1", "reward_helpfulness", sets)
    reward_version(
        "rm-h-2\"'><script>",
        "reward_helpfulness",
        {"helpfulness": result([0.9, 0.7, None, 0.52], 0.7)},
        parent=first,
    )
    page = web("engineer").get("/versions/metrics/").content.decode()
    table = page[page.index('id="table8"') : page.index("</table>")]
    for cell in ("80.7", "67.5", "60.9", "54.7", "63.2", "safety&lt;x&gt; test set"):
        assert cell in table
    assert 'id="safety"' in page and "0.89" in page and "0.55" in page
    assert "<svg" in page and '<path d="M' in page and "chance" in page
    assert "Negligibly better / unsure" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "safety&lt;x&gt;" in page and "safety<x>" not in page


def test_an_iteration_name_taken_is_shown_in_the_form(web, iteration):
    response = web("engineer").post("/iterations/new/", {"name": "RLHF-V1"})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert Iteration.objects.count() == 1


def test_the_polled_status_brings_started_finished_output_and_the_version_when_it_succeeds(
    web, iteration
):
    from training_jobs.models import ModelVersion

    job = Job.objects.create(kind="reward_helpfulness", iteration=iteration, attempts=1)
    client = web("engineer")
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<dd id="job-started">–</dd>' in page and '<dd id="job-output">–</dd>' in page

    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(
        state="succeeded", started_at=now, finished_at=now, progress=1.0, output_dir="jobs/9/model"
    )
    version = ModelVersion.objects.create(
        kind="reward_helpfulness", name="rm-helpfulness-v1-job9", path="jobs/9/model", job=job
    )
    final = client.get(
        f"/jobs/{job.pk}/?seen=queued", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-status"
    ).content.decode()
    assert final.lstrip().startswith('<section id="job-status"')
    assert f'<dd id="job-started">{timezone.localtime(now):%Y-%m-%d %H:%M:%S}</dd>' in final
    assert '<dd id="job-output">jobs/9/model</dd>' in final
    assert f'href="/versions/{version.pk}/"' in final and version.name in final


def test_logs_are_shown_without_terminal_colour_codes(web, iteration):
    coloured = "\x1b[32mINFO\x1b[0m step 3 \x1b[1;31mwarn\x1b[0m \x1b]0;title\x07done\n"
    job = Job.objects.create(
        kind="reward_safety",
        iteration=iteration,
        state="failed",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        log=coloured,
        error="\x1b[31mValueError\x1b[0m: bad",
    )
    client = web("engineer")
    for url in (f"/jobs/{job.pk}/", "/jobs/", f"/iterations/{iteration.pk}/"):
        page = client.get(url).content.decode()
        assert "INFO step 3 warn done" in page, url
        assert "\x1b" not in page and "[0m" not in page, url
    assert "ValueError: bad" in client.get(f"/jobs/{job.pk}/").content.decode()
    job.refresh_from_db()
    assert job.log == coloured  # stored as written; only the pages strip it


@pytest.fixture
def demo_site(settings, monkeypatch):
    from annotation.demo import demo_seed

    settings.MARGIN_DEMO = True
    monkeypatch.setattr("annotation.generation.service.enqueue_generation", lambda batch_id: None)
    return demo_seed().batches


def test_the_demo_loop_button_is_there_only_on_a_development_site(web, settings, sent):
    client = web("engineer")
    assert "run-demo-loop" not in client.get("/iterations/").content.decode()
    assert client.post("/iterations/demo-loop/").status_code == 404
    settings.MARGIN_DEMO = True
    assert 'id="run-demo-loop"' in client.get("/iterations/").content.decode()


def test_the_button_starts_the_loop_and_its_page_follows_each_step(web, demo_site, sent):
    from training_jobs.services import job_claim, job_fail

    client = web("engineer")
    response = client.post("/iterations/demo-loop/")
    iteration = Iteration.objects.get()
    assert response["Location"] == f"/iterations/{iteration.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert 'id="demo-loop"' in page and "step 1 of 4" in page
    assert "Simulated annotators judge demo pairs" in page and "after the step before" in page
    job = iteration.jobs.get()
    job_claim(job_id=job.pk, attempt=1)
    job_fail(job_id=job.pk, reason="boom")
    fragment = client.get(
        f"/iterations/{iteration.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="jobs"
    ).content.decode()
    assert 'data-polling="false"' in fragment and "Continue the demo loop" in fragment


def test_between_two_steps_the_iteration_page_keeps_polling(web, demo_site, sent):
    from training_jobs.services import demo_loop_start, job_claim, job_succeed

    iteration = demo_loop_start()
    job = iteration.jobs.get()
    job_claim(job_id=job.pk, attempt=1)
    job_succeed(job_id=job.pk, output_dir="jobs/1/work")  # the next step is not started yet
    fragment = (
        web("engineer")
        .get(f"/iterations/{iteration.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="jobs")
        .content.decode()
    )
    assert 'data-polling="true"' in fragment and "step 2 of 4" in fragment


def test_safety_version_page_shows_the_unsafe_threshold_analysis(web):
    """Scores shifted low: at 0.15 almost everything is flagged; the page says which threshold
    gives the paper's precision 0.89 and draws the curve and the score distribution."""
    from rewardtrain.threshold import unsafe_analysis

    probs = [0.01 * k for k in range(1, 20)] + [0.02 * k for k in range(1, 10)]
    unsafe = [True] * 19 + [False] * 9
    entry = result([0.9, 0.8, 0.7, 0.6], 0.7, labelled=28, precision=0.7, recall=1.0)
    entry["unsafe"].update(unsafe_analysis(probs, unsafe))
    version = reward_version("rm-s-<1>", "reward_safety", {"safety": entry})
    page = web("engineer").get(f"/versions/{version.pk}/").content.decode()
    gate = page[page.index('id="unsafe-gate"') :]
    best = entry["unsafe"]["at_precision"]
    assert best["precision"] >= 0.89
    assert "safety test set · 28 labelled responses" in gate
    assert "At 0.15 (default)" in gate and "precision 0.70, recall 1.00" in gate
    assert f"sigmoid(score) &lt; {best['threshold']:.3f}" in gate
    assert gate.count("<svg") == 2 and 'aria-labelledby="chart-safety-pr-title"' in gate
    assert "Scores of labelled responses" in gate and 'stroke-dasharray="2 3"' in gate


def test_versions_without_labelled_responses_show_no_threshold_section(web):
    version = reward_version(
        "rm-h-9", "reward_helpfulness", {"helpfulness": result([0.8, 0.7, 0.6, 0.5], 0.63)}
    )
    page = web("engineer").get(f"/versions/{version.pk}/").content.decode()
    assert 'id="unsafe-gate"' not in page

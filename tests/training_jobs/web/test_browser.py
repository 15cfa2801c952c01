"""The ML engineer's pages in a real browser (Debian's chromium through Playwright)."""

import pytest

from annotation import roles
from training_jobs.models import Iteration, Job, ModelVersion

from ...annotation.factories import UserFactory
from ...browser import WAIT_MS, login_by_keyboard

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_engineer_opens_an_iteration_starts_a_job_and_sees_it_listed(
    live_server, playwright_page, sent
):
    UserFactory(username="eng", role=roles.ML_ENGINEER)
    policy = ModelVersion.objects.create(kind="policy", name="base", path="/models/base")
    iteration = Iteration.objects.create(name="RLHF-V1", number=1, start_policy=policy)
    page = playwright_page
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
    )

    login_by_keyboard(page, f"{live_server.url}/login/?next=/iterations/", "eng")
    page.wait_for_selector("h1:has-text('Iterations')", timeout=WAIT_MS)

    # htmx navigation: the link swaps <main> and pushes the URL
    page.click("a:has-text('RLHF-V1')")
    page.wait_for_selector("h1:has-text('RLHF-V1')", timeout=WAIT_MS)
    assert page.url.endswith(f"/iterations/{iteration.pk}/")
    assert page.locator("#jobs").get_attribute("data-polling") == "false"

    page.click("#start-job")
    page.wait_for_selector("#job-form", timeout=WAIT_MS)
    assert page.locator("#id_iteration").input_value() == str(iteration.pk)
    page.select_option("#id_kind", "reward_helpfulness")
    page.fill("#id_params", '{"max_steps": "soon"}')
    page.click("#job-form button[type=submit]")
    page.wait_for_selector(".params-error", timeout=WAIT_MS)
    assert "max_steps must be int" in page.inner_text(".params-error")
    assert not Job.objects.exists()

    page.fill("#id_params", '{"max_steps": 1, "device": "cpu"}')
    page.focus("#id_params")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the submit button follows the parameters
    page.wait_for_selector("h1:has-text('RLHF-V1')", timeout=WAIT_MS)
    job = Job.objects.get()
    row = page.locator(f"#job-row-{job.pk}")
    row.wait_for(timeout=WAIT_MS)
    assert row.get_attribute("data-state") == "queued"
    assert "Queued" in row.inner_text()
    # a queued job keeps the list polling; the row survives a poll
    assert page.locator("#jobs").get_attribute("data-polling") == "true"
    with page.expect_response(lambda r: f"/iterations/{iteration.pk}/" in r.url, timeout=5_000):
        pass
    assert page.locator(f"#job-row-{job.pk}").count() == 1
    assert job.params == {"max_steps": 1, "device": "cpu"} and job.queue == "default"
    assert len(sent) == 1  # enqueued once, after commit
    assert not [p for p in problems if "Content Security Policy" in p], problems


def test_job_page_follows_a_running_job_until_it_fails_then_offers_retry(
    live_server, playwright_page, sent
):
    from django.utils import timezone

    UserFactory(username="eng", role=roles.ML_ENGINEER)
    job = Job.objects.create(
        kind="reward_safety",
        state="running",
        started_at=timezone.now(),
        progress=0.1,
        log="exported 12 judgments\n",
        attempts=1,
    )
    page = playwright_page
    login_by_keyboard(page, f"{live_server.url}/login/?next=/jobs/{job.pk}/", "eng")
    page.wait_for_selector("#job-status[data-polling='true']", timeout=WAIT_MS)
    assert page.locator("#cancel").count() == 1

    Job.objects.filter(pk=job.pk).update(progress=0.6, log="exported 12 judgments\nstep 6/10\n")
    page.wait_for_function(
        "() => document.querySelector('#job-log').textContent.includes('step 6/10')",
        timeout=WAIT_MS,
    )
    assert page.locator("#job-status progress").get_attribute("value") == "0.6000"

    Job.objects.filter(pk=job.pk).update(
        state="failed", finished_at=timezone.now(), error="ProcessFailed: <b>oom</b>"
    )
    page.wait_for_selector("#job-status[data-polling='false']", timeout=WAIT_MS)
    page.wait_for_selector("#retry", timeout=WAIT_MS)
    assert page.locator("#cancel").count() == 0
    assert "ProcessFailed: <b>oom</b>" in page.inner_text("#job-status")

    page.focus("#retry")
    page.keyboard.press("Enter")
    page.wait_for_selector("#job-status[data-state='queued']", timeout=WAIT_MS)
    page.wait_for_selector("#cancel", timeout=WAIT_MS)
    job.refresh_from_db()
    assert job.state == "queued" and job.attempts == 2 and len(sent) == 1

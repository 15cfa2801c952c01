"""Each role finds its next step from its home page by clicking, in a real browser; the demo
annotator judges a real pair with the keyboard; the top bar fits a 390 px phone screen."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from annotation import roles
from annotation.generation import pairs_generate_pending
from annotation.models import Judgment, ModelVariant, PromptBatch, ResponsePair
from training_jobs.models import Job

from ..annotation.factories import BatchFactory, PairFactory, PromptFactory, UserFactory
from ..browser import WAIT_MS, login_by_keyboard

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _errors(page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: found.append(str(e)))
    return found


def _login(page, url: str, username: str, password: str = "pw-for-tests") -> None:
    login_by_keyboard(page, f"{url}/login/", username, password)
    page.wait_for_selector("main h1", timeout=WAIT_MS)
    page.wait_for_load_state("load")


def test_the_demo_annotator_judges_a_real_pair_with_the_keyboard_and_gets_the_next(
    live_server, playwright_page, settings, monkeypatch, default_model_dir
):
    settings.MARGIN_DEMO = True
    monkeypatch.setattr("annotation.generation.service.enqueue_generation", lambda batch_id: None)
    call_command("seed_demo")
    ModelVariant.objects.update(model_path=str(default_model_dir))
    safety = PromptBatch.objects.get(name="demo-safety")
    PromptBatch.objects.filter(pk=safety.pk).update(max_new_tokens=8)
    assert pairs_generate_pending(batch_id=safety.pk, limit=3) == 3  # the real CPU model
    first = ResponsePair.objects.filter(batch=safety).order_by("id").first()

    page = playwright_page
    errors = _errors(page)
    _login(page, live_server.url, "annotator", "margin-annotator")
    assert page.locator("h1:has-text('Your batches')").count() == 1
    page.keyboard.press("2")  # demo-safety is the second open batch
    page.wait_for_selector("section#stage[data-kind='pair']", timeout=WAIT_MS)
    page.wait_for_load_state("load")
    stage = page.locator("section#stage").inner_text()
    assert first.prompt_text in stage  # a real red-team prompt ...
    assert "your judgment 1 in this batch" in stage.lower()
    shown = page.locator("#judge").get_attribute("action")
    for key in ("1", "s", "k", "w", "Enter"):  # left better, both safe, "better", submit
        page.keyboard.press(key)
    page.wait_for_function(
        "a => document.querySelector('#judge') && document.querySelector('#judge')"
        ".getAttribute('action') !== a",
        arg=shown,
        timeout=WAIT_MS,
    )
    assert "your judgment 2 in this batch" in page.locator("#judge").inner_text().lower()
    page.wait_for_selector("#sync:has-text('Saved.')", timeout=WAIT_MS)
    judgment = Judgment.objects.get(annotator__username="annotator")
    assert judgment.pair.batch == safety and judgment.grade == "better"
    assert judgment.a_safe is True and judgment.b_safe is True
    assert errors == []


def test_the_admin_opens_a_draft_and_marks_a_gold_pair_by_clicking(live_server, playwright_page):
    admin = UserFactory(username="boss", role=roles.ADMIN)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    draft = BatchFactory(name="week-8", status="draft")
    PromptFactory(batch=draft)
    PairFactory(
        batch=draft,
        context=[{"role": "user", "content": "Name a prime number."}],
    )
    page = playwright_page
    errors = _errors(page)
    _login(page, live_server.url, "boss")
    page.wait_for_selector("h1:has-text('Batches')", timeout=WAIT_MS)
    page.click("#admin-batches button:has-text('Open it')")
    page.wait_for_selector("text=week-8 is open", timeout=WAIT_MS)  # the batch's admin page
    draft.refresh_from_db()
    assert draft.status == "open"
    page.click(".object-tools a:has-text('Quality')")
    page.wait_for_selector("h1:has-text('Quality of week-8')", timeout=WAIT_MS)
    page.click("details.gold-candidate summary")
    page.select_option("details.gold-candidate select[name=chosen]", label="Response A")
    page.click("details.gold-candidate button:has-text('Mark as gold')")
    page.wait_for_selector("td:has-text('Response A')", timeout=WAIT_MS)
    assert ResponsePair.objects.get(batch=draft).gold_chosen == "a"
    page.click("a.brand")
    page.click("#admin-home a:has-text('Model server')")
    page.wait_for_selector("h1:has-text('Model server')", timeout=WAIT_MS)
    assert errors == []


def test_the_engineer_starts_a_reward_model_job_from_home_by_clicking(
    live_server, playwright_page, monkeypatch
):
    monkeypatch.setattr("training_jobs.tasks.run_job.apply_async", lambda *a, **k: None)
    UserFactory(username="eng", role=roles.ML_ENGINEER)
    BatchFactory(name="week-6")
    page = playwright_page
    errors = _errors(page)
    _login(page, live_server.url, "eng")
    page.wait_for_selector("h1:has-text('Training')", timeout=WAIT_MS)
    page.click("#start-reward-job")
    page.wait_for_selector("#job-form", timeout=WAIT_MS)
    assert page.locator("#id_kind").input_value() == "reward_helpfulness"
    page.fill("#id_params", '{"max_steps": 1, "device": "cpu"}')
    page.click("#job-form button[type=submit]")
    page.wait_for_selector("h1:has-text('Job')", timeout=WAIT_MS)
    job = Job.objects.get()
    assert job.kind == "reward_helpfulness" and page.url.endswith(f"/jobs/{job.pk}/")
    page.click("a.brand")
    page.wait_for_selector(f"#recent-jobs a:has-text('#{job.pk}')", timeout=WAIT_MS)
    page.click("#engineer-home a:has-text('Iterations')")
    page.wait_for_selector("h1:has-text('Iterations')", timeout=WAIT_MS)
    assert errors == []


@pytest.mark.parametrize("path", ["/", "/batches/{batch}/work/", "/iterations/", "/jobs/"])
def test_on_a_390_px_phone_the_top_bar_fits_and_log_out_is_reachable(
    live_server, playwright_browser, path
):
    engineer = UserFactory(username="phone-eng", role=roles.ML_ENGINEER)
    engineer.groups.add(Group.objects.get(name=roles.ANNOTATOR))  # and an annotator
    batch = BatchFactory(name="a-batch-with-a-rather-long-name-for-a-phone", max_turns=1)
    PairFactory(batch=batch)
    context = playwright_browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        _login(page, live_server.url, "phone-eng")
        page.goto(live_server.url + path.format(batch=batch.pk))
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        for selector in (".topbar", ".topbar form button"):
            box = page.locator(selector).first.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (selector, box)
        page.click(".topbar button:has-text('Log out')")
        page.wait_for_selector("text=Log in", timeout=WAIT_MS)
    finally:
        context.close()

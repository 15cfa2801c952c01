"""Pages, htmx fragments, permissions and escaping, through Django's test client."""

import re

import pytest
from django.urls import reverse

from annotation.models import Assignment, Judgment
from annotation.workspace import services

from ..factories import BatchFactory, PairFactory, ResponseFactory

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def client_ann(client, annotator):
    client.force_login(annotator)
    return client


def _form(html: str) -> dict:
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html).group(1)
    action = re.search(r'hx-post="(/assignments/\d+/submit/)"', html).group(1)
    return {"action": action, "idempotency_key": key}


def test_login_required_and_login_page(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and "/login/" in response["Location"]
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b'name="username"' in page.content


def test_home_lists_open_batches_with_progress(client_ann, batch, pairs):
    BatchFactory(name="hidden-draft", status="draft")
    page = client_ann.get(reverse("home")).content.decode()
    assert batch.name in page and "hidden-draft" not in page
    assert reverse("workspace", args=[batch.pk]) in page


def test_workspace_full_page_then_htmx_submit_swaps_the_next_pair(client_ann, batch, pairs):
    page = client_ann.get(reverse("workspace", args=[batch.pk]))
    html = page.content.decode()
    assert page["Content-Security-Policy"].startswith("default-src 'self'")
    assert "<html" in html and "Prefer the <strong>more helpful</strong> answer." in html
    assert "HX-Request" in page["Vary"]
    for key in ("<kbd>1</kbd>", "<kbd>2</kbd>", "<kbd>q</kbd>", "<kbd>r</kbd>", "<kbd>Enter</kbd>"):
        assert key in html
    form = _form(html)
    data = {"idempotency_key": form["idempotency_key"], "side": "right", "grade": "better"}
    response = client_ann.post(form["action"], data, **HX)
    fragment = response.content.decode()
    assert response.status_code == 200 and "<html" not in fragment
    assert fragment.lstrip().startswith('<section id="stage"') and "Saved." in fragment
    assert _form(fragment)["action"] != form["action"]
    # A retry of the same form (double click, back button, second tab) stores nothing new.
    again = client_ann.post(form["action"], data, **HX)
    assert "Already saved" in again.content.decode() or "Saved" in again.content.decode()
    assert Judgment.objects.count() == 1


def test_plain_post_redirects_back_to_the_workspace(client_ann, batch, pairs):
    form = _form(client_ann.get(reverse("workspace", args=[batch.pk])).content.decode())
    data = {"idempotency_key": form["idempotency_key"], "side": "left", "grade": "slightly_better"}
    response = client_ann.post(form["action"], data)
    assert response.status_code == 302
    assert response["Location"] == reverse("workspace", args=[batch.pk])


def test_incomplete_submit_shows_what_is_missing(client_ann, batch, pairs):
    form = _form(client_ann.get(reverse("workspace", args=[batch.pk])).content.decode())
    response = client_ann.post(
        form["action"], {"idempotency_key": form["idempotency_key"], "side": "left"}, **HX
    )
    assert "Say by how much" in response.content.decode()
    assert not Judgment.objects.exists()


def test_draft_survives_a_reload(client_ann, batch, pairs):
    html = client_ann.get(reverse("workspace", args=[batch.pk])).content.decode()
    draft = re.search(r'data-draft-url="([^"]+)"', html).group(1)
    assert client_ann.post(draft, {"side": "right", "grade": "better"}).status_code == 204
    html = client_ann.get(reverse("workspace", args=[batch.pk])).content.decode()
    assert re.search(r'value="right" data-key="2" checked', html)
    assert re.search(r'value="better" data-key="w" checked', html)


def test_exclusion_warning_then_keep(client_ann, annotator):
    batch = BatchFactory(stage="safety", max_turns=1)
    PairFactory(batch=batch)
    form = _form(client_ann.get(reverse("workspace", args=[batch.pk])).content.decode())
    data = {
        "idempotency_key": form["idempotency_key"],
        "side": "left",
        "grade": "better",
        "left_safe": "unsafe",
        "right_safe": "safe",
    }
    page = client_ann.post(form["action"], data, **HX).content.decode()
    assert "cannot train the reward model" in page and 'name="keep_excluded" value="1"' in page
    assert not Judgment.objects.exists()
    client_ann.post(form["action"], {**data, "keep_excluded": "1"}, **HX)
    assert Judgment.objects.get().safety_bin == "chosen_unsafe"


def test_model_text_is_escaped_inside_an_hx_disable_region(client_ann):
    batch = BatchFactory(max_turns=1)
    evil = ResponseFactory(
        text='<script>alert(1)</script> "><img src=x onerror=alert(2)> '
        '<a hx-get="/admin/" hx-trigger="load">x</a> [j](javascript:alert(3))'
    )
    PairFactory(
        batch=batch,
        response_a=evil,
        response_b=evil.__class__.objects.create(text="```html\n<b>code</b>\n```"),
        context=[{"role": "user", "content": "<img src=x onerror=alert(4)>"}],
    )
    html = client_ann.get(reverse("workspace", args=[batch.pk])).content.decode()
    assert "<script>alert" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<a hx-get" not in html and "&lt;a hx-get" in html  # text, not an element
    assert 'href="javascript:' not in html
    assert '<code class="language-html">&lt;b&gt;code&lt;/b&gt;' in html
    assert html.count("hx-disable") >= 3


def test_annotator_cannot_open_another_annotators_assignment(
    client, batch, pairs, annotator, other_annotator
):
    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    client.force_login(other_annotator)
    key = services.submit_key(assignment=lease)
    data = {"idempotency_key": key, "side": "left", "grade": "better"}
    assert client.post(reverse("submit", args=[lease.pk]), data, **HX).status_code == 404
    assert client.post(reverse("draft", args=[lease.pk]), data).status_code == 404
    lease.refresh_from_db()
    assert lease.status == Assignment.Status.LEASED and lease.draft == {}
    assert not Judgment.objects.exists()


def test_annotator_cannot_open_staff_pages(client_ann, batch):
    assert client_ann.get(reverse("batch-quality", args=[batch.pk])).status_code == 403
    assert client_ann.post(reverse("pair-gold", args=[batch.pk]), {}).status_code == 403


def test_user_without_role_cannot_annotate(client, batch):
    from ..factories import UserFactory

    client.force_login(UserFactory(username="nobody"))
    assert client.get(reverse("workspace", args=[batch.pk])).status_code == 403
    home = client.get(reverse("home")).content.decode()
    assert "no annotator role" in home and batch.name not in home


def test_waiting_state_is_calm_for_annotators_and_explains_to_staff(
    client_ann, annotator, admin_user, client
):
    batch = BatchFactory(max_turns=1)
    PairFactory(
        batch=batch,
        status="failed",
        response_a=None,
        response_b=None,
        last_error="model server: 503 <b>busy</b>",
    )
    html = client_ann.get(reverse("workspace", args=[batch.pk])).content.decode()
    assert "No pair is ready for you yet" in html and 'hx-trigger="every 5s"' in html
    assert "503" not in html
    client.force_login(admin_user)
    html = client.get(reverse("workspace", args=[batch.pk]), **HX).content.decode()
    assert "503 &lt;b&gt;busy&lt;/b&gt;" in html


def test_quality_page_shows_stats_and_admin_marks_gold(client, admin_user, annotator):
    batch = BatchFactory(max_turns=1, overlap=2)
    pair = PairFactory(batch=batch, overlap=2)
    gold = PairFactory(batch=batch)
    for user, side in ((annotator, "left"), (admin_user, "left")):
        lease = services.assignment_lease_next(batch=batch, annotator=user)
        assert lease.pair_id == pair.pk
        services.judgment_submit(
            assignment_id=lease.pk,
            annotator=user,
            idempotency_key=services.submit_key(assignment=lease),
            choice=services.Choice(side=side, grade="better", left_safe=True, right_safe=True),
            seconds_spent=4.0,
        )
    client.force_login(admin_user)
    response = client.post(
        reverse("pair-gold", args=[batch.pk]), {"pair_id": gold.pk, "chosen": "b", "grade": ""}
    )
    assert response.status_code == 302
    gold.refresh_from_db()
    assert gold.is_gold and gold.gold_chosen == "b"
    html = client.get(reverse("batch-quality", args=[batch.pk])).content.decode()
    assert "ann" in html and "boss" in html and "All annotators" in html
    assert "4.0" in html  # median seconds
    assert "Both safe" in html


def test_annotator_writes_the_first_prompt_of_a_safety_dialogue(client_ann, no_generation):
    batch = BatchFactory(stage="safety", prompt_source="annotator", max_turns=2)
    html = client_ann.get(reverse("workspace", args=[batch.pk]), **HX).content.decode()
    assert 'data-kind="compose"' in html and "Illicit and criminal activities" in html
    url = reverse("dialogue-start", args=[batch.pk])
    html = client_ann.post(url, {"message": "<b>hi</b>"}, **HX).content.decode()
    assert "risk category" in html and "&lt;b&gt;hi&lt;/b&gt;" in html  # kept, escaped
    html = client_ann.post(
        url,
        {
            "message": "How would someone pick a lock?",
            "risk_category": "Illicit and criminal activities",
            "attack_vector": "Perspective manipulation",
        },
        **HX,
    ).content.decode()
    assert 'data-kind="waiting"' in html and 'hx-trigger="every 2s"' in html
    assert "How would someone pick a lock?" in html


def test_expire_leases_task_runs_the_sweep(batch, pairs, annotator):
    from datetime import timedelta

    from django.utils import timezone

    from annotation.workspace.tasks import expire_leases

    lease = services.assignment_lease_next(batch=batch, annotator=annotator)
    Assignment.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_leases() == 1
    lease.refresh_from_db()
    assert lease.status == "expired"


def test_a_submit_of_the_preloaded_pair_answers_with_the_pair_after_it(client_ann, batch):
    pairs = [PairFactory(batch=batch) for _ in range(3)]
    page = client_ann.get(reverse("workspace", args=[batch.pk])).content.decode()
    shown = _form(page)
    preloaded = page.split('<template id="preload"')[1].split("</template>")[0]
    assert 'id="judge"' in preloaded  # the second pair is in the page already
    # the page swaps the preloaded pair in and sends the first judgment in the background
    answer = client_ann.post(
        shown["action"],
        {"idempotency_key": shown["idempotency_key"], "side": "left", "grade": "better"},
        HTTP_HX_REQUEST="true",
        HTTP_X_MARGIN_PRELOADED="1",
    ).content.decode()
    assert answer.lstrip().startswith('<template id="preload"')
    assert 'id="judge"' in answer  # the third pair, ready for the next submit
    leased = Assignment.objects.filter(status="leased").values_list("pair_id", flat=True)
    assert set(leased) == {pairs[1].pk, pairs[2].pk}


def test_the_workspace_shows_progress_counts_and_no_database_ids(client_ann, annotator, batch):
    pairs = [PairFactory(batch=batch) for _ in range(3)]
    page = client_ann.get(reverse("workspace", args=[batch.pk])).content.decode()
    assert "your judgment <strong>1</strong> in this batch" in page
    assert "your judgment <strong>2</strong> in this batch" in page  # the preloaded pair
    assert f"batch: 0 of {batch.target_comparisons}" in page
    text = re.sub(r"<[^>]+>", " ", page)
    assert not re.search(r"\bpair \d+", text) and f"pair {pairs[0].pk}" not in text
    form = _form(page)
    client_ann.post(
        form["action"],
        {"idempotency_key": form["idempotency_key"], "side": "left", "grade": "better"},
    )
    page = client_ann.get(reverse("workspace", args=[batch.pk])).content.decode()
    assert "your judgment <strong>2</strong> in this batch" in page and "batch: 1 of" in page


def test_an_admin_marks_gold_by_choosing_a_shown_pair_not_by_typing_its_id(client, admin_user):
    batch = BatchFactory(max_turns=1)
    pair = PairFactory(
        batch=batch,
        context=[{"role": "user", "content": "Which planet is largest?"}],
        response_a=ResponseFactory(text="Jupiter is the largest."),
        response_b=ResponseFactory(text="Mars, <i>surely</i>."),
    )
    client.force_login(admin_user)
    page = client.get(reverse("batch-quality", args=[batch.pk])).content.decode()
    assert 'name="pair_id" inputmode' not in page and 'type="hidden" name="pair_id"' in page
    candidate = page.split('<details class="gold-candidate">')[1].split("</details>")[0]
    assert "Which planet is largest?" in candidate
    a_at, b_at = candidate.index("Response A"), candidate.index("Response B")
    assert a_at < candidate.index("Jupiter is the largest.") < b_at  # A is response_a
    assert b_at < candidate.index("Mars, &lt;i&gt;surely&lt;/i&gt;.")
    assert '<option value="a">Response A</option>' in candidate and "response_a" not in candidate

    response = client.post(
        reverse("pair-gold", args=[batch.pk]),
        {"pair_id": pair.pk, "chosen": "a", "grade": "better"},
    )
    assert response.status_code == 302 and response["Location"].endswith("#gold")
    pair.refresh_from_db()
    assert pair.is_gold and pair.gold_chosen == "a" and pair.gold_grade == "better"
    page = client.get(reverse("batch-quality", args=[batch.pk])).content.decode()
    row = page.split("<td>Which planet is largest?</td>")[1].split("</tr>")[0]
    assert "<td>Response A</td>" in row and "<td>Better</td>" in row
    assert '<details class="gold-candidate">' not in page  # a gold pair is no longer offered


def test_an_engineer_sees_quality_but_cannot_mark_gold(client, batch, pairs):
    from ..factories import UserFactory

    client.force_login(UserFactory(username="eng", role="ml_engineer"))
    page = client.get(reverse("batch-quality", args=[batch.pk])).content.decode()
    assert "gold-candidate" not in page
    response = client.post(
        reverse("pair-gold", args=[batch.pk]), {"pair_id": pairs[0].pk, "chosen": "a"}
    )
    assert response.status_code == 403

"""The workspace in a real browser (Debian's chromium through Playwright), keyboard only."""

import pytest

from annotation import roles
from annotation.models import Dialogue, Judgment, Prompt, PromptSource, ResponsePair

from ...browser import WAIT_MS, login_by_keyboard
from ..factories import BatchFactory, PairFactory, PromptFactory, ResponseFactory, UserFactory
from .factories import pair_make_ready

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(page, base_url: str, username: str) -> None:
    login_by_keyboard(page, f"{base_url}/login/", username)
    page.wait_for_selector("h1:has-text('Your batches')", timeout=WAIT_MS)
    page.wait_for_load_state("load")  # the deferred scripts that bind the keys have run


def _stage(page, kind: str) -> None:
    page.wait_for_selector(f"section#stage[data-kind='{kind}']", timeout=WAIT_MS)
    # After a page load the stage is parsed before the deferred script that binds the keys
    # runs; keys pressed in between are lost.
    page.wait_for_load_state("load")


def _judge(page, side_key: str, grade_key: str) -> None:
    page.wait_for_selector("#judge", timeout=WAIT_MS)
    form = page.locator("#judge")
    action = form.get_attribute("action")
    page.keyboard.press(side_key)
    page.keyboard.press(grade_key)
    page.keyboard.press("Enter")
    # the next stage replaces this form without a page load
    page.wait_for_function(
        "a => !document.querySelector(`#judge[action='${a}']`)", arg=action, timeout=WAIT_MS
    )


def _simulate_worker(dialogue_turn: int) -> ResponsePair:
    pair = ResponsePair.objects.get(dialogue__isnull=False, turn=dialogue_turn)
    assert pair.status == ResponsePair.Status.PENDING
    return pair_make_ready(pair)


def test_keyboard_only_judging_and_a_three_turn_dialogue(
    live_server, playwright_page, no_generation
):
    page = playwright_page
    user = UserFactory(username="kbd", role=roles.ANNOTATOR)
    batch = BatchFactory(max_turns=3, guidelines="Choose the **more helpful** response.")
    for i in range(3):
        prompt = PromptFactory(batch=batch, messages=[{"role": "user", "content": f"Q{i}?"}])
        PairFactory(batch=batch, prompt=prompt, context=prompt.messages)
    _login(page, live_server.url, "kbd")
    page.keyboard.press("1")  # open the first batch
    _stage(page, "pair")
    url_before = page.url

    page.keyboard.press("g")
    assert page.locator("#guidelines").is_visible()
    assert "more helpful" in page.locator("#guidelines").inner_text()
    page.keyboard.press("Escape")
    assert not page.locator("#guidelines").is_visible()

    # Turn 1 of a queue pair, then two more turns of the same dialogue.
    _judge(page, "1", "w")
    _stage(page, "continue")
    page.keyboard.press("m")
    page.keyboard.type("Tell me more, please.")
    page.keyboard.press("Control+Enter")
    _stage(page, "waiting")
    _simulate_worker(2)  # the page polls and fills itself in
    _stage(page, "pair")
    _judge(page, "ArrowRight", "q")
    _stage(page, "continue")
    page.keyboard.press("m")
    page.keyboard.type("And the last detail?")
    page.keyboard.press("Control+Enter")
    _stage(page, "waiting")
    _simulate_worker(3)
    _judge(page, "2", "e")  # turn 3 is the batch's last: the queue's next pair follows

    # Two more queue pairs, each dialogue ended with n.
    _stage(page, "pair")
    _judge(page, "2", "r")
    _stage(page, "continue")
    page.keyboard.press("n")
    _judge(page, "1", "q")
    _stage(page, "continue")
    page.keyboard.press("n")
    _stage(page, "empty")
    assert page.url == url_before  # never a full page load

    judgments = list(
        Judgment.objects.filter(annotator=user)
        .select_related("pair", "assignment")
        .order_by("created_at", "id")
    )
    assert [(j.pair.turn, j.grade) for j in judgments] == [
        (1, "better"),
        (2, "significantly_better"),
        (3, "slightly_better"),
        (1, "negligibly_better"),
        (1, "significantly_better"),
    ]
    screen_sides = ["left", "right", "right", "right", "left"]
    for judgment, side in zip(judgments, screen_sides, strict=True):
        on_left = "b" if judgment.assignment.swapped else "a"
        assert (judgment.chosen == on_left) == (side == "left")
        assert judgment.seconds_spent is not None and judgment.seconds_spent >= 0
    dialogue = Dialogue.objects.get(annotator=user, turns=3)
    assert dialogue.status == Dialogue.Status.ENDED
    users = [m["content"] for m in dialogue.messages if m["role"] == "user"]
    assert users[1:] == ["Tell me more, please.", "And the last detail?"]
    assert ResponsePair.objects.filter(dialogue=dialogue).count() == 2


def test_script_and_img_onerror_in_model_text_render_as_text_and_run_nothing(
    live_server, playwright_page
):
    page = playwright_page
    UserFactory(username="xss", role=roles.ANNOTATOR)
    batch = BatchFactory(max_turns=1)
    PairFactory(
        batch=batch,
        context=[{"role": "user", "content": "<img src=x onerror=\"window.__pwned='ctx'\">"}],
        response_a=ResponseFactory(text="<script>window.__pwned='script'</script> plain"),
        response_b=ResponseFactory(
            text='"><img src=x onerror="window.__pwned=\'img\'"> '
            "<a hx-get='/logout/' hx-trigger='load'>x</a>"
        ),
    )
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    _login(page, live_server.url, "xss")
    page.goto(f"{live_server.url}/batches/{batch.pk}/work/")
    _stage(page, "pair")
    page.wait_for_timeout(500)
    text = page.locator("#stage").inner_text()
    assert "<script>window.__pwned='script'</script>" in text
    assert "<img src=x onerror=" in text
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#stage img, #stage script").count() == 0
    assert dialogs == []
    # still logged in: the hx-get in the model text did nothing
    page.goto(f"{live_server.url}/")
    assert page.locator("h1:has-text('Your batches')").count() == 1


def test_a_submit_whose_answer_is_lost_says_not_saved_retries_and_stores_once(
    live_server, playwright_page
):
    page = playwright_page
    user = UserFactory(username="flaky", role=roles.ANNOTATOR)
    batch = BatchFactory(max_turns=1)
    for _ in range(3):
        PairFactory(batch=batch)
    csp_errors = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    calls = []

    def drop_first_answer(route):
        calls.append(route.request.url)
        if len(calls) == 1:
            first = route.fetch()  # the server stores the judgment ...
            calls.append(first.status)
            route.abort("connectionreset")  # ... but the answer never arrives
        else:
            route.continue_()

    page.route("**/assignments/*/submit/", drop_first_answer)
    _login(page, live_server.url, "flaky")
    page.keyboard.press("1")
    _stage(page, "pair")
    first_form = page.locator("#judge").get_attribute("action")
    page.keyboard.press("2")
    page.keyboard.press("w")
    page.keyboard.press("Enter")
    page.wait_for_selector("#sync:has-text('Not saved')", timeout=WAIT_MS)
    # the preloaded next pair is already on screen while the first one is retried
    assert page.locator("#judge").get_attribute("action") != first_form
    page.wait_for_selector("#sync:has-text('Saved.')", timeout=WAIT_MS)
    assert len(calls) == 3 and calls[1] == 200
    assert Judgment.objects.filter(annotator=user).count() == 1
    assert csp_errors == []


def _fail_first_answer(page, pattern: str) -> list:
    """The first request to `pattern` reaches the server (which commits), but the page gets
    a 502 from the proxy instead of the answer; later requests go through."""
    calls: list = []

    def handle(route):
        calls.append(route.request.url)
        if len(calls) == 1:
            route.fetch()
            route.fulfill(status=502, body="Bad gateway")
        else:
            route.continue_()

    page.route(pattern, handle)
    return calls


def test_compose_and_end_dialogue_forms_retry_a_5xx_and_act_once(
    live_server, playwright_page, no_generation
):
    page = playwright_page
    user = UserFactory(username="writer", role=roles.ANNOTATOR)
    BatchFactory(prompt_source=PromptSource.ANNOTATOR, max_turns=2)
    started = _fail_first_answer(page, "**/dialogues/")
    ended = _fail_first_answer(page, "**/end/")
    _login(page, live_server.url, "writer")
    page.keyboard.press("1")
    _stage(page, "compose")
    page.keyboard.press("m")
    page.keyboard.type("What should I plant in spring?")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".save-state:has-text('Retrying')", timeout=WAIT_MS)
    _stage(page, "waiting")
    assert len(started) == 2
    dialogue = Dialogue.objects.get(annotator=user)
    assert Prompt.objects.filter(created_by=user).count() == 1
    assert dialogue.status == Dialogue.Status.ACTIVE

    page.keyboard.press("n")
    page.wait_for_selector(".save-state:has-text('Retrying')", timeout=WAIT_MS)
    _stage(page, "compose")  # by the retry, or by the waiting stage's own poll
    assert ended
    dialogue.refresh_from_db()
    assert dialogue.status == Dialogue.Status.ENDED
    assert Dialogue.objects.filter(annotator=user).count() == 1


def test_draft_survives_a_reload_and_an_excluded_judgment_needs_a_second_enter(
    live_server, playwright_page
):
    page = playwright_page
    user = UserFactory(username="safe", role=roles.ANNOTATOR)
    batch = BatchFactory(stage="safety", max_turns=1)
    PairFactory(batch=batch)
    _login(page, live_server.url, "safe")
    page.keyboard.press("1")
    _stage(page, "pair")
    with page.expect_response("**/draft/"):
        page.keyboard.press("1")
    with page.expect_response("**/draft/"):
        page.keyboard.press("d")  # left unsafe
    with page.expect_response("**/draft/"):
        page.keyboard.press("k")  # right safe
    page.reload()
    _stage(page, "pair")
    assert page.locator("input[name=side][value=left]").is_checked()
    assert page.locator("input[name=left_safe][value=unsafe]").is_checked()
    assert page.locator("input[name=right_safe][value=safe]").is_checked()

    page.keyboard.press("w")
    page.keyboard.press("Enter")
    page.wait_for_selector(".warning:has-text('cannot train the reward model')", timeout=WAIT_MS)
    assert not Judgment.objects.exists()
    page.keyboard.press("Enter")  # keep it
    _stage(page, "empty")
    judgment = Judgment.objects.get(annotator=user)
    assert judgment.safety_bin == "chosen_unsafe" and judgment.excluded_from_reward_models


def test_a_resized_text_box_swapped_by_htmx_logs_no_csp_error(live_server, playwright_page):
    page = playwright_page
    UserFactory(username="resizer", role=roles.ANNOTATOR)
    batch = BatchFactory(max_turns=2)
    PairFactory(batch=batch)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    _login(page, live_server.url, "resizer")
    page.keyboard.press("1")
    _stage(page, "pair")
    # what dragging the resize handle does: an inline style on the text box
    page.evaluate("document.getElementById('rationale').style.height = '12rem'")
    page.keyboard.press("1")
    page.keyboard.press("Enter")  # no grade: the form comes back with the error, same text box
    page.wait_for_selector("#judge .error", timeout=WAIT_MS)
    page.keyboard.press("w")
    page.keyboard.press("Enter")
    _stage(page, "continue")  # the dialogue's next message, a text box with an id of its own
    page.evaluate("document.getElementById('message').style.height = '9rem'")
    page.keyboard.press("n")
    _stage(page, "empty")
    assert problems == []

"""Issue 13's failing inputs through the site (imports, the API, the workspace, jobs): each is
stored faithfully or refused naming line and field (HTTP 400 in the API), never a traceback, a
500 or a changed text. The database is PostgreSQL under scripts/testenv.sh and SQLite otherwise;
test_the_same_answers_on_sqlite repeats the cases on SQLite when this run is on PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection

from annotation import roles
from annotation.imports import ImportFailed, comparisons_import, prompts_import
from annotation.models import Prompt, PromptBatch, ResponsePair
from annotation.workspace.services import choice_validate
from annotation.workspace.services.dialogues import _message_clean
from annotation.workspace.services.judging import Choice
from tests.inference.conftest import fake_server  # noqa: F401 (a fixture used below)

from .factories import BatchFactory
from .test_api import client_for

pytestmark = pytest.mark.django_db
CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
ROOT = Path(__file__).resolve().parents[2]


def _import(kind: str, name: str, data: bytes | None = None, batch=None):
    batch = batch or BatchFactory()
    run = prompts_import if kind == "prompts" else comparisons_import
    data = (CASES / name).read_bytes() if data is None else data
    return run(batch=batch, stream=io.BytesIO(data), filename=name)


def _refusal(kind: str, name: str, data: bytes | None = None) -> tuple[int, str, str]:
    with pytest.raises(ImportFailed) as failure:
        _import(kind, name, data)
    error = failure.value.errors[0]
    return error.line, error.field, error.message


ESCAPED = [
    ("comparisons", "01-lone-surrogate-comparisons.jsonl", None, 2, "chosen[0].content"),
    ("prompts", "01-lone-surrogate-prompts.jsonl", None, 2, "prompt"),
    ("prompts", "nul.jsonl", b'{"prompt": "a"}\n{"prompt": "b\\u0000c"}\n', 2, "prompt"),
    (
        "prompts",
        "meta.jsonl",
        b'{"prompt": "a", "metadata": {"note": "x\\u0000"}}\n',
        1,
        "metadata.note",
    ),
    ("prompts", "id.jsonl", b'{"prompt": "a", "id": "p\\ud83d"}\n', 1, "id"),
    (
        "comparisons",
        "hh.jsonl",
        b'{"chosen": "\\n\\nHuman: a\\u0000\\n\\nAssistant: b", "rejected": "x"}\n',
        1,
        "chosen",
    ),
]


@pytest.mark.parametrize(("kind", "name", "data", "line", "field"), ESCAPED)
def test_unstorable_text_is_refused_with_line_and_field(kind, name, data, line, field):
    got_line, got_field, message = _refusal(kind, name, data)
    assert (got_line, got_field) == (line, field)
    assert "surrogate" in message or "NUL" in message
    assert Prompt.objects.count() == 0 and ResponsePair.objects.count() == 0


def test_the_import_command_says_line_and_field_without_a_traceback():
    with pytest.raises(CommandError, match=r"line 2, field 'chosen\[0\].content'.*surrogate"):
        call_command(
            "import_comparisons",
            str(CASES / "01-lone-surrogate-comparisons.jsonl"),
            "--batch",
            "c01",
            "--stage",
            "helpfulness",
        )
    assert ResponsePair.objects.count() == 0


def test_the_upload_api_answers_400_naming_the_line():
    batch = BatchFactory()
    client = client_for(roles.ADMIN)
    for kind, name in (
        ("comparisons", "01-lone-surrogate-comparisons.jsonl"),
        ("prompts", "01-lone-surrogate-prompts.jsonl"),
    ):
        with (CASES / name).open("rb") as handle:
            response = client.post(
                f"/api/batches/{batch.pk}/imports/", {"kind": kind, "file": handle}
            )
        assert response.status_code == 400, response.content[:300]
        assert response.json()["errors"][0]["line"] == 2
    assert client.get(f"/api/batches/{batch.pk}/prompts/").json()["count"] == 0


def test_the_bulk_prompt_api_refuses_escaped_surrogates_and_nul():
    batch = BatchFactory()
    client = client_for(roles.ADMIN)
    for bad in ("caf\\udce9 au lait", "tea\\u0000"):
        body = '{"prompts": [{"prompt": "fine"}, {"prompt": "' + bad + '"}]}'
        response = client.post(
            f"/api/batches/{batch.pk}/prompts/", body, content_type="application/json"
        )
        assert response.status_code == 400, response.content[:300]
        assert "1.prompt" in response.json()["detail"]
    listed = client.get(f"/api/batches/{batch.pk}/prompts/")
    assert listed.status_code == 200 and listed.json()["count"] == 0


def test_job_params_that_cannot_be_stored_answer_400(monkeypatch):
    monkeypatch.setattr("training_jobs.tasks.run_job.apply_async", lambda *a, **k: None)
    body = '{"kind": "reward_helpfulness", "params": {"note": "x\\u0000"}}'
    response = client_for(roles.ML_ENGINEER).post(
        "/api/jobs/", body, content_type="application/json"
    )
    assert response.status_code == 400 and "NUL" in json.dumps(response.json())


def test_workspace_text_with_nul_is_refused_not_changed():
    with pytest.raises(ValidationError, match="cannot be stored"):
        _message_clean("Hello\x00 there")
    choice = Choice(side="left", grade="better", rationale="because\x00")
    assert "rationale" in choice_validate(choice=choice, stage="helpfulness")
    assert choice.as_draft()["rationale"] == ""


def test_consecutive_turns_are_merged_at_import():
    _import("comparisons", "06-hh-consecutive-same-role.jsonl")
    contexts = [p.context for p in ResponsePair.objects.order_by("id")]
    assert [m["role"] for m in contexts[1]] == ["user", "assistant", "user"]
    assert contexts[1][1]["content"] == (
        "Try a cooperative game.\n\nFor example one where you stop an outbreak together."
    )
    assert contexts[2] == [
        {
            "role": "user",
            "content": "I want to start running.\n\nI am 52 and have not exercised in years.",
        }
    ]


def test_what_cannot_be_merged_is_refused_at_import():
    line, field, message = _refusal("comparisons", "06b-trl-role-order.jsonl")
    assert (line, field) == (1, "prompt") and "end with a user turn" in message
    second = (CASES / "06b-trl-role-order.jsonl").read_bytes().splitlines()[1] + b"\n"
    line, field, message = _refusal("comparisons", "second.jsonl", second)
    assert (line, field) == (1, "prompt[1].role") and "only allowed first" in message


def test_bom_files_import():
    assert _import("prompts", "12-bom-prompts.jsonl").created == 1
    assert Prompt.objects.get().messages == [
        {"role": "user", "content": "Write a limerick about a lighthouse keeper."}
    ]
    assert _import("comparisons", "12-bom-trl-comparisons.jsonl").created == 2


def test_content_null_and_text_parts_import_as_the_cores_read_them():
    assert _import("comparisons", "13-trl-content-null-and-parts.jsonl").created == 2
    first, second = ResponsePair.objects.select_related("response_a", "response_b").order_by("id")
    assert first.response_b.text == ""
    assert second.context == [{"role": "user", "content": "What is 2 + 2?"}]
    assert (second.response_a.text, second.response_b.text) == ("4.", "5.")


def test_a_tiny_temperature_is_stored_as_greedy_and_a_reversed_range_is_refused():
    client = client_for(roles.ADMIN)
    body = {"name": "tiny", "stage": "helpfulness", "ordinal": 1}
    response = client.post("/api/batches/", {**body, "temperature_min": 1e-39}, format="json")
    assert response.status_code == 201, response.content[:300]
    assert PromptBatch.objects.get(name="tiny").temperature_min == 0.0
    batch = PromptBatch.objects.get(name="tiny")
    response = client.patch(f"/api/batches/{batch.pk}/", {"temperature_min": 1.9}, format="json")
    assert response.status_code == 400 and "temperature_min" in response.json()["detail"]
    for field, value in (("temperature_max", 2.5), ("top_p", 0.0), ("ordinal", 2**40)):
        response = client.patch(f"/api/batches/{batch.pk}/", {field: value}, format="json")
        assert response.status_code == 400 and field in response.json()["detail"], field


SQLITE_SCRIPT = """
import io, json, os, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from annotation.imports import ImportFailed, comparisons_import, prompts_import
from annotation.models import PromptBatch
cases = sys.argv[1]
out = {}
for n, (kind, name) in enumerate(json.loads(sys.argv[2])):
    batch = PromptBatch.objects.create(name=f"b{n}", stage="helpfulness", ordinal=1)
    run = prompts_import if kind == "prompts" else comparisons_import
    try:
        with open(os.path.join(cases, name), "rb") as f:
            out[name] = run(batch=batch, stream=f, filename=name).created
    except ImportFailed as exc:
        e = exc.errors[0]
        out[name] = [e.line, e.field, e.message]
print(json.dumps(out))
"""
FILES = [
    ("comparisons", "01-lone-surrogate-comparisons.jsonl"),
    ("prompts", "01-lone-surrogate-prompts.jsonl"),
    ("comparisons", "06-hh-consecutive-same-role.jsonl"),
    ("comparisons", "06b-trl-role-order.jsonl"),
    ("prompts", "12-bom-prompts.jsonl"),
    ("comparisons", "12-bom-trl-comparisons.jsonl"),
    ("comparisons", "13-trl-content-null-and-parts.jsonl"),
]


def test_the_same_answers_on_sqlite(tmp_path):
    """`make run` uses SQLite: the same files get the same answers there as here."""
    here = {}
    for kind, name in FILES:
        try:
            here[name] = _import(kind, name).created
        except ImportFailed as exc:
            e = exc.errors[0]
            here[name] = [e.line, e.field, e.message]
    if connection.vendor == "sqlite":
        return  # this run is the SQLite run
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'c13.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "MARGIN_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", SQLITE_SCRIPT, str(CASES), json.dumps(FILES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == here


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ('[{"role": "user", "content": "tea\\u0000"}]', "NUL"),
        ('[{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]', "only allowed"),
    ],
)
def test_admin_json_edits_follow_the_same_rules(client, messages, message):
    from annotation.models import Prompt

    from .factories import PromptFactory

    admin = roles_admin_user()
    client.force_login(admin)
    prompt = PromptFactory()
    data = {
        "batch": prompt.batch_id,
        "external_id": "",
        "messages": messages,
        "source": prompt.source,
        "risk_category": "",
        "attack_vector": "",
        "metadata": "{}",
        "created_by": "",
    }
    response = client.post(f"/admin/annotation/prompt/{prompt.pk}/change/", data)
    assert response.status_code == 200 and message in response.content.decode()
    assert Prompt.objects.get(pk=prompt.pk).messages == prompt.messages


def roles_admin_user():
    from .factories import UserFactory

    user = UserFactory(username="site-admin", role=roles.ADMIN)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def test_a_model_answer_that_cannot_be_stored_fails_its_pair_with_the_reason(
    fake_server,  # noqa: F811 (the fixture imported above)
):
    from annotation.generation import pair_request, pairs_generate_pending
    from annotation.models import ModelVariant
    from tests.inference.conftest import FAKE_MODEL

    batch = BatchFactory(max_new_tokens=4)
    variant = ModelVariant.objects.create(
        label="fake", backend="http", server_url=fake_server.base_url, model_name=FAKE_MODEL
    )
    batch.variants.add(variant)
    nul = {"message": {"role": "assistant", "content": "ok\u0000"}, "finish_reason": "stop"}
    answer = {"choices": [{"index": 0, **nul}], "usage": {"completion_tokens": 2}}
    fake_server.script = [("json", 200, answer)]  # one of the pair's two requests
    pair = pair_request(batch=batch, context=[{"role": "user", "content": "Say hi."}])
    assert pairs_generate_pending(batch_id=batch.pk) == 1
    pair.refresh_from_db()
    assert pair.status == ResponsePair.Status.FAILED and pair.response_a_id is None
    assert "NUL" in pair.last_error

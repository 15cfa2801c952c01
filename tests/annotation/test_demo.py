"""The demo of a development site: made once, only in development mode, from the shipped files;
its pairs come from the real CPU model and the demo annotator judges them through the views."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from annotation.demo import DEMO_BATCHES, DEMO_VARIANTS, demo_seed
from annotation.generation import pairs_generate_pending
from annotation.markdown import render_markdown
from annotation.models import Judgment, ModelVariant, Prompt, PromptBatch, ResponsePair
from annotation.workspace.selectors import RISK_CATEGORIES

pytestmark = pytest.mark.django_db


@pytest.fixture
def requested(monkeypatch) -> list[int]:
    """Generation requests are recorded, not sent to a broker (the tests play the worker)."""
    calls: list[int] = []
    monkeypatch.setattr("annotation.generation.service.enqueue_generation", calls.append)
    return calls


@pytest.fixture
def development(settings):
    settings.MARGIN_DEMO = True
    return settings


def _shipped(spec) -> list[dict]:
    lines = spec.prompts_file.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_the_demo_exists_only_in_development_mode(settings, requested):
    settings.MARGIN_DEMO = False
    with pytest.raises(CommandError, match="development mode"):
        call_command("seed_demo")
    assert not PromptBatch.objects.exists() and not ModelVariant.objects.exists()
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="annotator").exists()


def test_seed_demo_opens_both_batches_from_the_shipped_files_once(development, requested, capsys):
    call_command("seed_demo", "--url", "http://127.0.0.1:8150")
    out = capsys.readouterr().out
    batches = {b.name: b for b in PromptBatch.objects.all()}
    assert set(batches) == {spec.name for spec in DEMO_BATCHES}
    for spec in DEMO_BATCHES:
        batch = batches[spec.name]
        assert batch.status == PromptBatch.Status.OPEN and batch.stage == spec.stage
        shipped = _shipped(spec)
        ids = list(Prompt.objects.filter(batch=batch).values_list("external_id", flat=True))
        assert ids == [record["id"] for record in shipped]
        assert batch.target_comparisons == len(shipped)
        assert {v.label for v in batch.variants.all()} == {label for label, _ in DEMO_VARIANTS}
        # its first pairs are requested at once, for the worker to start on
        assert ResponsePair.objects.filter(batch=batch, status="pending").exists()
        assert batch.pk in requested
    helpful = Prompt.objects.filter(batch=batches["demo-helpfulness"])
    assert helpful.filter(metadata__source="MT-Bench").count() == 80
    assert helpful.filter(metadata__source="Vicuna-Bench").count() == 80
    first = helpful.get(external_id="mt-bench-81")
    assert first.metadata["follow_ups"] and first.messages[0]["role"] == "user"
    safety = Prompt.objects.filter(batch=batches["demo-safety"])
    assert set(safety.values_list("risk_category", flat=True)) == set(RISK_CATEGORIES)
    temperatures = dict(ModelVariant.objects.values_list("label", "temperature"))
    assert temperatures == dict(DEMO_VARIANTS) and len(set(temperatures.values())) == 2
    helpful_id = batches["demo-helpfulness"].pk
    assert "annotator / margin-annotator" in out
    assert f"judge pairs: http://127.0.0.1:8150/batches/{helpful_id}/work/" in out

    # A second `make run` on the same database keeps what is there.
    counts = (PromptBatch.objects.count(), Prompt.objects.count(), ResponsePair.objects.count())
    call_command("seed_demo")
    again = (PromptBatch.objects.count(), Prompt.objects.count(), ResponsePair.objects.count())
    assert again == counts and "kept as it is" in capsys.readouterr().out


def test_a_site_with_batches_of_its_own_gets_no_demo(development, requested):
    from .factories import BatchFactory

    BatchFactory(name="week-1")
    result = demo_seed()
    assert not result.created and PromptBatch.objects.count() == 1


def test_demo_pairs_from_the_cpu_model_are_judged_by_the_demo_annotator(
    development, requested, default_model_dir
):
    call_command("seed_demo")
    ModelVariant.objects.update(model_path=str(default_model_dir))
    PromptBatch.objects.update(max_new_tokens=8)  # the real model, short answers
    client = Client()
    assert client.login(username="annotator", password="margin-annotator")
    for spec in DEMO_BATCHES:
        batch = PromptBatch.objects.get(name=spec.name)
        assert pairs_generate_pending(batch_id=batch.pk) == 1  # the first pair comes alone
        pair = ResponsePair.objects.get(batch=batch, status="ready")
        assert pair.response_a.variant_label != pair.response_b.variant_label
        assert pair.context == Prompt.objects.filter(batch=batch).first().messages

        page = client.get(f"/batches/{batch.pk}/work/").content.decode()
        assert 'id="judge"' in page
        for response in (pair.response_a, pair.response_b):
            assert str(render_markdown(response.text)) in page
        action = page.split('id="judge" class="judge" method="post" action="')[1].split('"')[0]
        key = page.split('name="idempotency_key" value="')[1].split('"')[0]
        answer = client.post(
            action,
            {
                "idempotency_key": key,
                "side": "left",
                "grade": "better",
                "left_safe": "safe",
                "right_safe": "safe",
            },
        )
        assert answer.status_code == 302
        judgment = Judgment.objects.get(pair=pair)
        assert judgment.annotator.username == "annotator" and judgment.grade == "better"

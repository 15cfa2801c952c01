"""What `make run` prints once the site is up (scripts/run_dev.py)."""

import importlib.util
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


def _run_dev():
    spec = importlib.util.spec_from_file_location("run_dev", ROOT / "scripts" / "run_dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_the_banner_says_what_each_demo_login_does_first_and_where(settings, monkeypatch, capsys):
    settings.MARGIN_DEMO = True
    monkeypatch.setattr("annotation.generation.service.enqueue_generation", lambda batch_id: None)
    call_command("seed_demo", "--url", "http://127.0.0.1:8000/")
    logins = capsys.readouterr().out.strip("\n")
    banner = _run_dev().banner("http://127.0.0.1:8000/", logins)
    lines = banner.splitlines()
    assert "Margin is running: http://127.0.0.1:8000/" in lines
    annotator = next(line for line in lines if "annotator / margin-annotator" in line)
    assert (
        annotator.startswith("  annotator")
        and "judge pairs: http://127.0.0.1:8000/batches/" in annotator
    )
    admin = next(line for line in lines if "admin / margin-admin" in line)
    assert "batches, generation and quality: http://127.0.0.1:8000/" in admin
    engineer = next(line for line in lines if "engineer / margin-engineer" in line)
    assert "export judgments, start a reward-model job" in engineer
    assert any("manage.py demo_loop" in line for line in lines)
    assert "http://127.0.0.1:8000/api/docs/" in banner

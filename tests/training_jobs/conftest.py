import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from training_jobs.models import ModelVersion

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def artifact_root(settings, tmp_path) -> Path:
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.ARTIFACT_ROOT.mkdir()
    settings.MARGIN_JOBS = {**settings.MARGIN_JOBS, "TRAINING_DEVICE": "cpu"}
    return settings.ARTIFACT_ROOT


@pytest.fixture(scope="session")
def tiny_policy_source(tmp_path_factory, default_model_dir) -> Path:
    """A tiny randomly initialised Llama chat policy with SmolLM2's tokenizer: the loop at
    tiny scale, so reward-model jobs take seconds on CPU."""
    from transformers import AutoTokenizer

    from tests.rewardtrain.helpers import make_tiny_llama

    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-policy"), tokenizer)


@pytest.fixture
def tiny_policy(artifact_root, tiny_policy_source) -> ModelVersion:
    import shutil

    shutil.copytree(tiny_policy_source, artifact_root / "policies" / "tiny")
    return ModelVersion.objects.create(kind="policy", name="tiny", path="policies/tiny")


@pytest.fixture
def sent(monkeypatch) -> list:
    """Jobs are recorded, never sent to a broker (no worker runs in these tests)."""
    calls: list = []
    monkeypatch.setattr(
        "training_jobs.tasks.run_job.apply_async", lambda *a, **k: calls.append((a, k))
    )
    return calls


def _database_url() -> str:
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Worker:
    """A real Celery worker process on the test database and broker."""

    def __init__(self, broker: str, artifact_root: Path, log: Path, **extra_env: str) -> None:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker,
            "ARTIFACT_ROOT": str(artifact_root),
            "MARGIN_TRAINING_DEVICE": "cpu",
            "MARGIN_HEARTBEAT_SECONDS": "1",
            **extra_env,
        }
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu"]
            + ["-c", "1", "--pool", "prefork", "-l", "info", "--without-heartbeat"]
            + ["--without-gossip", "--without-mingle"],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole worker: its parent, its pool child and what they started."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(redis_url, artifact_root, tmp_path):
    if django_settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("real workers need PostgreSQL (run under `make test`)")
    workers: list[Worker] = []

    def start(**extra_env: str) -> Worker:
        log = tmp_path / f"worker-{len(workers)}.log"
        worker = Worker(redis_url, artifact_root, log, **extra_env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    for worker in workers:
        sys.stderr.write(worker.log.read_text(errors="replace")[-3000:])


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

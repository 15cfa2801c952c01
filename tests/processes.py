"""Real processes on the test database and broker: Celery workers, beat, manage.py commands.
The tests that start them use a transactional database (`django_db(transaction=True)`), so
the processes see what the test committed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def process_env(broker: str, artifact_root: Path, **extra_env: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "ARTIFACT_ROOT": str(artifact_root),
        "MARGIN_TRAINING_DEVICE": "cpu",
        "MARGIN_HEARTBEAT_SECONDS": "1",
        "OMP_NUM_THREADS": "1",
        **extra_env,
    }


class Process:
    """A process in a session of its own (killing it takes its children too)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the whole process group: the parent and everything it started."""
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

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class Worker(Process):
    """A real Celery worker (prefork pool) on the test database and broker."""

    def __init__(
        self, broker: str, artifact_root: Path, log: Path, concurrency: int = 1, **extra_env: str
    ) -> None:
        super().__init__(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu"]
            + ["-c", str(concurrency), "--pool", "prefork", "-l", "info"]
            + ["--without-heartbeat", "--without-gossip", "--without-mingle"],
            process_env(broker, artifact_root, **extra_env),
            log,
        )

    def pool_children(self) -> list[int]:
        """The pids of the worker's pool processes (children of its main process)."""
        found = subprocess.run(
            ["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]


class Beat(Process):
    """A real `celery beat` with Margin's scheduler."""

    def __init__(self, broker: str, artifact_root: Path, log: Path, **extra_env: str) -> None:
        super().__init__(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info"]
            + ["-s", str(log.with_suffix(".schedule"))],
            process_env(broker, artifact_root, **extra_env),
            log,
        )


def manage(*args: str, broker: str, artifact_root: Path, timeout: float = 120):
    """Run `manage.py ARGS` as its own process; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=process_env(broker, artifact_root),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")

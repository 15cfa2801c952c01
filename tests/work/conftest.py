"""Fault-injection helpers on the harness's real Redis (scripts/testenv.sh)."""

from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest

from tests.conftest import broker_flush, missing_service


class RedisControl:
    """Stop, start and restart the harness's Redis (`$TESTENV_REDIS_CTL`). It keeps no data on
    disk, so a restart drops every message it held (as a crash, failover or eviction does)."""

    def __init__(self, script: str, url: str) -> None:
        self.script, self.url = script, url
        self.down = False

    def _run(self, action: str) -> None:
        subprocess.run([self.script, action], check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        self._run("stop")
        self.down = True

    def start(self) -> None:
        self._run("start")
        self.down = False

    def restart(self) -> None:
        self._run("restart")
        self.down = False

    def messages(self, queue: str = "default") -> list[dict]:
        """The task messages waiting in `queue`: {"task", "args", "margin_work"} each."""
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            raw = client.lrange(queue, 0, -1)
        finally:
            client.close()
        found = []
        for item in raw:
            envelope = json.loads(item)
            headers = envelope["headers"]
            body = json.loads(base64.b64decode(envelope["body"]))
            mark = headers.get("margin_work")
            found.append({"task": headers["task"], "args": body[0], "margin_work": mark})
        return found


@pytest.fixture
def redis_control(redis_url):
    script = os.environ.get("TESTENV_REDIS_CTL", "")
    if not script:
        missing_service("TESTENV_REDIS_CTL is not set")
    broker_flush(redis_url)
    control = RedisControl(script, redis_url)
    yield control
    if control.down:
        control.start()


@pytest.fixture
def quick_sweeps(settings):
    """Sweeper deadlines of zero: what is due is due now."""
    settings.MARGIN_WORK = {
        **settings.MARGIN_WORK,
        "UNSENT_RETRY_SECONDS": 0,
        "RESEND_AFTER_SECONDS": 0,
    }

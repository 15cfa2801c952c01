"""Fixtures shared by the whole suite: services started by scripts/testenv.sh, Debian's chromium
through Playwright, the default model folder.

Under `make test` the database is a throwaway PostgreSQL (DATABASE_URL, read by the settings) and
REDIS_URL / CELERY_BROKER_URL point at a throwaway Redis. Outside CI a missing service skips the
tests that need it; under CI=true it fails them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_service(reason: str):
    """Skip locally; fail under CI, where every service must be there."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: services are required; run through scripts/testenv.sh)")
    pytest.skip(f"{reason}; run `make test` or `scripts/testenv.sh pytest ...`")


PLAYWRIGHT_FIXTURES = {"playwright_browser", "playwright_page"}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Run the Playwright tests last (stable order otherwise, after pytest-django's ordering).

    Playwright's sync API keeps an asyncio loop marked as running in this thread while the
    session browser is open, so `asyncio.run()` and Django's async-safety guard would misbehave
    in any test that ran after the first browser test.
    """
    uses = [PLAYWRIGHT_FIXTURES.isdisjoint(getattr(i, "fixturenames", ())) for i in items]
    items[:] = [i for i, plain in zip(items, uses, strict=True) if plain] + [
        i for i, plain in zip(items, uses, strict=True) if not plain
    ]


def pytest_report_header(config):
    db = os.environ.get("DATABASE_URL", "sqlite (default)").split("@")[-1]
    redis = os.environ.get("REDIS_URL", "not set")
    return [f"margin services: database {db}, redis {redis}, CI={in_ci()}"]


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        missing_service("REDIS_URL is not set")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if not path:
        missing_service("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def playwright_browser(chromium_path):
    """A headless Debian chromium driven by Playwright's sync API (its own download fails here).

    The sync API leaves an event loop running in this thread, so Django's async-safety guard
    would refuse ORM calls in the same test: DJANGO_ALLOW_ASYNC_UNSAFE lifts it while the browser
    is open (the tests using it run last, see pytest_collection_modifyitems).
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def playwright_page(playwright_browser):
    """A fresh browser context and page per test (no shared cookies)."""
    context = playwright_browser.new_context()
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    from inference.default_model import ensure_default_model

    return ensure_default_model()


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
def tiny_policy(artifact_root, tiny_policy_source):
    """The tiny policy as the model version `tiny` under the artifact folder."""
    from training_jobs.models import ModelVersion

    shutil.copytree(tiny_policy_source, artifact_root / "policies" / "tiny")
    return ModelVersion.objects.create(kind="policy", name="tiny", path="policies/tiny")


def _needs_postgresql() -> None:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("real workers need PostgreSQL (run under `make test`)")


def broker_flush(redis_url: str) -> None:
    """Empty the test broker: messages earlier tests left (a beat's ticks, sends nobody
    consumed) must not reach this test's workers."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def _process_factory(make, redis_url: str):
    """A fixture body: yields `start(**options)` on an empty broker, then stops what it
    started and shows the tail of each process's log."""
    _needs_postgresql()
    broker_flush(redis_url)
    started = []

    def start(**options):
        process = make(len(started), **options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
    for process in started:
        sys.stderr.write(process.output()[-3000:])


@pytest.fixture
def start_worker(redis_url, artifact_root, tmp_path):
    """Start real Celery workers: `start_worker(concurrency=1, **environment)`."""
    from tests.processes import Worker

    def make(n: int, concurrency: int = 1, **env: str) -> Worker:
        log = tmp_path / f"worker-{n}.log"
        return Worker(redis_url, artifact_root, log, concurrency=concurrency, **env)

    yield from _process_factory(make, redis_url)


@pytest.fixture
def start_beat(redis_url, artifact_root, tmp_path):
    """Start real `celery beat` processes with Margin's scheduler: `start_beat(**environment)`."""
    from tests.processes import Beat

    yield from _process_factory(
        lambda n, **env: Beat(redis_url, artifact_root, tmp_path / f"beat-{n}.log", **env),
        redis_url,
    )

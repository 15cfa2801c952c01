"""Schemathesis over the OpenAPI schema (drf-spectacular's): whatever a client sends to any
endpoint, valid or not, the answer is never a server error. A bounded number of examples per
operation keeps it in the default tier (about 40 s); `MARGIN_FUZZ_EXAMPLES=15
MARGIN_FUZZ_COVERAGE=1` adds schemathesis' coverage phase, about 2,600 more requests (3.5 min;
it passed on SQLite, 2026-11-30)."""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.config import SchemathesisConfig

from annotation import roles
from config.wsgi import application
from tests.annotation.factories import JudgmentFactory, PromptFactory, UserFactory
from training_jobs.models import Iteration

EXAMPLES = int(os.environ.get("MARGIN_FUZZ_EXAMPLES", "10"))


@pytest.fixture
def auth(db) -> dict[str, str]:
    admin = UserFactory(username="fuzz-admin", role=roles.ADMIN)
    return {"Authorization": f"Token {Token.objects.create(user=admin).key}"}


@pytest.fixture
def in_test_transaction():
    """Requests go straight to the WSGI app, so keep Django from closing the test's database
    connection at the end of each one (as its own test client does)."""
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    yield
    for signal in signals:
        signal.connect(close_old_connections)


@pytest.fixture
def rows(db, in_test_transaction, settings, tmp_path, monkeypatch) -> None:
    """A few rows for ids to find, an artefact root of its own, and no broker: enqueues run
    on commit, which a test transaction never does."""
    settings.ARTIFACT_ROOT = tmp_path
    monkeypatch.setattr("training_jobs.tasks.run_job.apply_async", lambda *a, **k: None)
    judgment = JudgmentFactory()
    PromptFactory(batch=judgment.pair.batch)
    Iteration.objects.create(name="RLHF-V1", number=1)


def _openapi() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


# The coverage phase (every boundary of every parameter, deterministic) takes minutes here;
# MARGIN_FUZZ_COVERAGE=1 adds it to a longer run.
COVERAGE = os.environ.get("MARGIN_FUZZ_COVERAGE", "") == "1"
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": COVERAGE}}})
schema = schemathesis.openapi.from_dict(_openapi(), config=CONFIG)
schema.app = application


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_endpoint_answers_a_server_error(case, auth, rows):
    import time

    t0 = time.perf_counter()
    response = case.call(headers=auth)
    print("TIMING", case.method, case.path, round(time.perf_counter() - t0, 3))
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300}: "
        f"{response.status_code} {response.text[:300]}"
    )

"""PostgreSQL killed (an immediate stop: a crash) while annotators submit through the real
workspace views: every judgment that was acknowledged is there after the restart. It holds
because the harness, like production, runs with synchronous_commit on (see the deployment
check margin.W001)."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from annotation import roles
from annotation.models import Judgment
from annotation.workspace import services
from tests.conftest import missing_service

from ..factories import BatchFactory, PairFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(600)]
ANNOTATORS = 4
FORM = re.compile(
    r'action="/assignments/(\d+)/submit/".*?name="idempotency_key" value="(\w+)"', re.S
)


@pytest.fixture
def pg_control():
    script = os.environ.get("TESTENV_PG_CTL", "")
    if not script or connection.vendor != "postgresql":
        missing_service("TESTENV_PG_CTL is not set (run under scripts/testenv.sh)")
    return script


def _annotate(user, batch, stop: threading.Event, acked: set, errors: list) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    page = reverse("workspace", args=[batch.pk])
    choice = {"side": "left", "grade": "better", "left_safe": "safe", "right_safe": "safe"}
    while not stop.is_set():
        try:
            shown = client.get(page)
            found = FORM.search(shown.content.decode()) if shown.status_code == 200 else None
            if found is None:
                time.sleep(0.05)
                continue
            assignment, key = found.groups()
            answer = client.post(
                reverse("submit", args=[assignment]), {**choice, "idempotency_key": key}
            )
            if answer.status_code == 302:  # saved: the page moves on
                acked.add(int(assignment))
        except Exception as exc:  # the database is down: the page shows an error, retries
            errors.append(exc)
            time.sleep(0.05)
        finally:
            connections.close_all()


def _submit_directly(user, batch, stop: threading.Event, acked: set, errors: list) -> None:
    """The same services the views call, without rendering pages: many more commits in
    flight when the database dies. A return from judgment_submit is its acknowledgement."""
    choice = services.Choice(side="left", grade="better", left_safe=True, right_safe=True)
    while not stop.is_set():
        try:
            lease = services.assignment_lease_next(batch=batch, annotator=user)
            if lease is None:
                return
            services.judgment_submit(
                assignment_id=lease.pk,
                annotator=user,
                idempotency_key=services.submit_key(assignment=lease),
                choice=choice,
            )
            acked.add(lease.pk)
        except Exception as exc:  # the database is down
            errors.append(exc)
            time.sleep(0.05)
        finally:
            connections.close_all()


def test_every_acknowledged_judgment_survives_a_database_crash(pg_control):
    batch = BatchFactory(max_turns=1)
    PairFactory.create_batch(3000, batch=batch)
    stop, acked, errors = threading.Event(), set(), []
    threads = [
        threading.Thread(
            target=work, args=(UserFactory(role=roles.ANNOTATOR), batch, stop, acked, errors)
        )
        for work in [_annotate] * ANNOTATORS + [_submit_directly] * ANNOTATORS
    ]
    for thread in threads:
        thread.start()
    time.sleep(6)
    before_crash = len(acked)
    subprocess.run([pg_control, "kill"], check=True, capture_output=True, timeout=60)
    time.sleep(1)
    subprocess.run([pg_control, "start"], check=True, capture_output=True, timeout=120)
    time.sleep(4)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    connection.close()

    stored = set(Judgment.objects.values_list("assignment_id", flat=True))
    assert before_crash > 20 and len(acked) > before_crash, (before_crash, len(acked))
    assert errors, "the crash was not noticed"
    assert acked <= stored, f"lost {len(acked - stored)} acknowledged judgments"

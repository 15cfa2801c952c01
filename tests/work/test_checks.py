"""The deployment check on synchronous commit, on the harness's real PostgreSQL."""

import pytest
from django.core.management import call_command
from django.db import connection

from work.checks import W001, synchronous_commit_warnings

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run under scripts/testenv.sh)")


def test_the_harness_commits_synchronously_like_production(postgresql):
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert synchronous_commit_warnings() == []


def test_a_database_without_synchronous_commit_is_warned_about(postgresql):
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        warnings = synchronous_commit_warnings()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
    assert [w.id for w in warnings] == [W001]
    assert "synchronous_commit=off" in warnings[0].msg and "README" in warnings[0].hint


def test_the_check_runs_with_check_deploy(postgresql, capsys):
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")
    try:
        call_command("check", "--deploy", "--tag", "margin")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
    assert W001 in capsys.readouterr().err

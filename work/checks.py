"""Deployment checks (`manage.py check --deploy`): an acknowledged write must survive a
database crash."""

from __future__ import annotations

from django.core import checks
from django.db import connections

W001 = "margin.W001"


def synchronous_commit_warnings(alias: str = "default") -> list[checks.CheckMessage]:
    """PostgreSQL with synchronous_commit=off acknowledges a commit before its WAL reaches
    disk: a crash loses the last moments of acknowledged judgments (and can hand out their
    ids again)."""
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            value = cursor.fetchone()[0]
    except Exception as exc:
        return [
            checks.Info(
                f"Could not ask the database whether it commits synchronously: {exc}",
                id="margin.I001",
            )
        ]
    if value == "off":
        return [
            checks.Warning(
                "PostgreSQL runs with synchronous_commit=off: a database crash loses "
                "judgments that were already acknowledged to annotators.",
                hint="Set synchronous_commit = on (the PostgreSQL default) in postgresql.conf "
                "or for Margin's database role; see README.md, 'Durability'.",
                id=W001,
            )
        ]
    return []


@checks.register("margin", deploy=True)
def check_synchronous_commit(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return synchronous_commit_warnings()

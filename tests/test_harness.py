"""The harness itself: the services `make test` starts are the ones in use, Playwright drives
Debian's chromium."""

import os
import socket
from urllib.parse import urlsplit

import pytest
from django.db import connection


@pytest.mark.django_db
def test_database_is_postgresql_when_configured():
    url = os.environ.get("DATABASE_URL", "")
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        assert url.startswith(("postgres://", "postgresql://")), "CI must run on PostgreSQL"
    if url.startswith(("postgres://", "postgresql://")):
        assert connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute("select current_setting('server_version_num')::int, inet_server_port()")
            version, port = cursor.fetchone()
        assert version >= 150000
        assert port == urlsplit(url).port
    else:
        assert connection.vendor == "sqlite"


def test_redis_answers_ping(redis_url, settings):
    parts = urlsplit(redis_url)
    with socket.create_connection((parts.hostname, parts.port or 6379), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(16).startswith(b"+PONG")
    if os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        assert settings.CELERY_BROKER_URL == os.environ["CELERY_BROKER_URL"]


@pytest.mark.browser
def test_playwright_drives_debian_chromium(playwright_page):
    playwright_page.goto("data:text/html,<title>margin harness</title><p>ok</p>")
    assert playwright_page.title() == "margin harness"
    assert "Chrome/" in playwright_page.evaluate("navigator.userAgent")

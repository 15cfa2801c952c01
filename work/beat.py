"""One beat at a time: the scheduler fires only while it holds a lock that a second beat
cannot take (a PostgreSQL advisory lock on a connection of its own; a file lock on SQLite).
A second beat stands by and takes over when the first one's connection ends. The default
periodic tasks are created once: admins' edits in the Django admin survive restarts."""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, connections
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)
# pg_try_advisory_lock key: "margin.beat" as an integer, unique within the database.
BEAT_LOCK_KEY = int.from_bytes(b"mgnbeat", "big")
STANDBY_SECONDS = 2.0


class PostgresLock:
    """A session-level advisory lock on a dedicated connection: held until this process or
    its connection ends, whatever Django does with its own connections."""

    def __init__(self, alias: str = "default", key: int = BEAT_LOCK_KEY) -> None:
        self.alias, self.key = alias, key
        self.wrapper = None
        self.held = False

    def hold(self) -> bool:
        """True while this process holds the lock (checks the connection is still alive)."""
        try:
            if self.wrapper is None:
                self.wrapper = connections.create_connection(self.alias)
                self.held = False
            with self.wrapper.cursor() as cursor:
                if self.held:
                    cursor.execute("SELECT 1")
                else:
                    cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.key])
                    self.held = bool(cursor.fetchone()[0])
        except Exception as exc:  # the connection broke: the server let the lock go
            if self.held:
                logger.warning("beat lost its lock connection: %s", exc)
            self.release()
            return False
        return self.held

    def release(self) -> None:
        if self.wrapper is not None:
            try:
                self.wrapper.close()
            except Exception:  # noqa: S110 - already broken
                pass
        self.wrapper, self.held = None, False


class FileLock:
    """An exclusive flock on a file under MARGIN's var folder (SQLite, one machine)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO | None = None

    def hold(self) -> bool:
        if self.handle is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.handle = handle
        return True

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


def beat_lock(alias: str = "default") -> PostgresLock | FileLock:
    if connections[alias].vendor == "postgresql":
        return PostgresLock(alias)
    return FileLock(Path(settings.VAR_DIR) / "beat.lock")


class LockedScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler, firing only while it holds the beat lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock = beat_lock()
        self.leading = False
        super().__init__(*args, **kwargs)

    def update_from_dict(self, mapping: dict[str, dict]) -> None:
        """Create the entries of `mapping` that do not exist yet; leave the others as the
        admins set them (the stock scheduler overwrites them at every start)."""
        schedule = {}
        for name, fields in mapping.items():
            try:
                model = PeriodicTask.objects.filter(name=name).first()
                if model is None:
                    try:
                        entry = self.Entry.from_entry(name, app=self.app, **fields)
                    except IntegrityError:  # another beat created it a moment ago
                        entry = self.Entry(PeriodicTask.objects.get(name=name), app=self.app)
                else:
                    entry = self.Entry(model, app=self.app)
            except Exception:
                logger.exception("cannot add the default periodic task %r", name)
                continue
            if entry.model.enabled:
                schedule[name] = entry
        self.schedule.update(schedule)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self.lock.hold():
            if self.leading:
                logger.warning("beat lost the lock; standing by")
                self.leading = False
            return STANDBY_SECONDS
        if not self.leading:
            logger.info("beat holds the lock and fires the periodic tasks")
            self.leading = True
            # Read the schedule again: the beat that held the lock before may have run
            # entries since this one loaded them.
            self._initial_read = True
            self._heap = None
        return min(super().tick(*args, **kwargs), STANDBY_SECONDS)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.lock.release()

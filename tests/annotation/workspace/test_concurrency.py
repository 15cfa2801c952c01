"""Races on PostgreSQL: many annotators asking for pairs at once, leases expiring from
several sweepers, and the same submit arriving twice at the same moment."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.models import F
from django.utils import timezone

from annotation import roles
from annotation.models import Assignment, Judgment, ResponsePair
from annotation.workspace import services

from ..factories import BatchFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
CLIENTS = 50


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip(
            "concurrency tests need PostgreSQL (row locks, SKIP LOCKED); SQLite serialises "
            "every writer. Run: scripts/testenv.sh .venv/bin/pytest tests/annotation/workspace"
        )


def _race(n: int, work) -> list:
    """Run work(i) in n threads released together by a barrier; re-raise any error."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def test_fifty_clients_never_lease_a_pair_beyond_its_overlap_and_expiry_returns_each_once():
    batch = BatchFactory(max_turns=1, overlap=2)
    pairs = [PairFactory(batch=batch, overlap=2) for _ in range(40)]  # 80 slots
    users = [UserFactory(username=f"c{i}", role=roles.ANNOTATOR) for i in range(CLIENTS)]

    def take_two(i):
        got = []
        for _ in range(2):
            lease = services.assignment_lease_next(batch=batch, annotator=users[i])
            if lease is not None:
                got.append(lease.pair_id)
        return got

    leased = [pair_id for got in _race(CLIENTS, take_two) for pair_id in got]
    assert len(leased) == 80  # every slot filled, none beyond
    per_pair = Counter(leased)
    assert set(per_pair.values()) == {2}
    assert not ResponsePair.objects.filter(taken__gt=F("overlap")).exists()
    rows = list(Assignment.objects.values_list("pair_id", "annotator_id"))
    assert len(rows) == len(set(rows)) == 80
    for pair in ResponsePair.objects.all():
        assert pair.taken == Assignment.objects.filter(pair=pair).count() == 2

    # Everyone walks away; four sweepers race; each lease is returned exactly once.
    later = timezone.now() + timedelta(seconds=services.lease_seconds() + 5)
    expired = _race(4, lambda i: services.assignments_expire(now=later))
    assert sum(expired) == 80
    assert set(ResponsePair.objects.values_list("taken", flat=True)) == {0}
    assert Assignment.objects.filter(status="expired").count() == 80

    # The pairs come back: other annotators can take them again.
    others = [UserFactory(username=f"d{i}", role=roles.ANNOTATOR) for i in range(CLIENTS)]
    again = _race(
        CLIENTS, lambda i: services.assignment_lease_next(batch=batch, annotator=others[i])
    )
    assert all(lease is not None for lease in again)
    assert len({lease.pk for lease in again}) == CLIENTS
    assert not ResponsePair.objects.filter(taken__gt=F("overlap")).exists()
    assert len(pairs) == 40


def test_the_same_submit_sent_concurrently_stores_one_judgment():
    batch = BatchFactory(max_turns=1)
    PairFactory(batch=batch)
    user = UserFactory(username="twice", role=roles.ANNOTATOR)
    lease = services.assignment_lease_next(batch=batch, annotator=user)
    key = services.submit_key(assignment=lease)

    def submit(i):
        return services.judgment_submit(
            assignment_id=lease.pk,
            annotator=user,
            idempotency_key=key,
            choice=services.Choice(side="left", grade="better"),
        )

    results = _race(8, submit)
    assert Judgment.objects.count() == 1
    assert {r.judgment.pk for r in results} == {Judgment.objects.get().pk}
    assert sum(r.created for r in results) == 1
    pair = ResponsePair.objects.get()
    assert pair.status == "done" and pair.taken == 1


def test_one_annotator_in_two_tabs_gets_one_lease_per_pair():
    batch = BatchFactory(max_turns=1)
    for _ in range(3):
        PairFactory(batch=batch)
    user = UserFactory(username="tabs", role=roles.ANNOTATOR)
    leases = _race(6, lambda i: services.assignment_lease_next(batch=batch, annotator=user))
    got = [lease.pair_id for lease in leases if lease is not None]
    assert len(got) == len(set(got)) == 3


def test_a_pair_being_taken_by_someone_else_is_waited_for_not_reported_missing():
    """Every queued pair is locked by another annotator's lease in progress (here one pair
    with two slots, held for a moment): the second annotator waits and gets the free slot."""
    batch = BatchFactory(max_turns=1, overlap=2)
    pair = PairFactory(batch=batch, overlap=2)
    first, second = (UserFactory(username=f"w{i}", role=roles.ANNOTATOR) for i in range(2))
    locked, leases = threading.Event(), {}

    def hold_then_take():
        try:
            with transaction.atomic():
                ResponsePair.objects.select_for_update().get(pk=pair.pk)
                locked.set()
                time.sleep(0.5)
                leases["first"] = services.assignment_lease_next(batch=batch, annotator=first)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_then_take)
    holder.start()
    assert locked.wait(timeout=10)
    leases["second"] = services.assignment_lease_next(batch=batch, annotator=second)
    holder.join(timeout=30)
    assert leases["first"] is not None and leases["second"] is not None
    assert ResponsePair.objects.get(pk=pair.pk).taken == 2


def test_more_annotators_than_slots_asking_at_once_neither_deadlock_nor_overfill():
    """Thirty annotators race for twelve single slots, five times over: each slot goes to one of
    them, the rest hear "none ready", and no lease waits on another that waits on it."""
    for round_ in range(5):
        batch = BatchFactory(max_turns=1, overlap=1)
        for _ in range(12):
            PairFactory(batch=batch, overlap=1)
        users = [UserFactory(username=f"r{round_}-{i}", role=roles.ANNOTATOR) for i in range(30)]
        leases = _race(
            30, lambda i: services.assignment_lease_next(batch=batch, annotator=users[i])
        )
        got = [lease.pair_id for lease in leases if lease is not None]
        assert len(got) == len(set(got)) == 12
        assert not ResponsePair.objects.filter(batch=batch, taken__gt=F("overlap")).exists()

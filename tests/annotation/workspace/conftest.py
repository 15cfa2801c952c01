import pytest

from annotation import roles

from ..factories import BatchFactory, PairFactory, UserFactory


@pytest.fixture
def annotator(db):
    return UserFactory(username="ann", role=roles.ANNOTATOR)


@pytest.fixture
def other_annotator(db):
    return UserFactory(username="ann2", role=roles.ANNOTATOR)


@pytest.fixture
def admin_user(db):
    return UserFactory(username="boss", role=roles.ADMIN)


@pytest.fixture
def batch(db):
    return BatchFactory(max_turns=1, guidelines="Prefer the **more helpful** answer.")


@pytest.fixture
def pairs(batch):
    return [PairFactory(batch=batch) for _ in range(3)]


@pytest.fixture
def no_generation(monkeypatch):
    """Pair requests are recorded but nothing is sent to a worker (tests play the worker)."""
    monkeypatch.setattr("annotation.generation.requests.enqueue_generation", lambda batch_id: None)

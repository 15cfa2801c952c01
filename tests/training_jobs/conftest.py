import pytest


@pytest.fixture
def sent(monkeypatch) -> list:
    """Jobs are recorded, never sent to a broker (no worker runs in these tests)."""
    calls: list = []
    monkeypatch.setattr(
        "training_jobs.tasks.run_job.apply_async", lambda *a, **k: calls.append((a, k))
    )
    return calls

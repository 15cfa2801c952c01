import pytest
from django.test import Client

from annotation import roles
from annotation.models import ResponsePair

from ..factories import BatchFactory, PairFactory, UserFactory

pytestmark = pytest.mark.django_db


def _client(role: str) -> Client:
    client = Client()
    client.force_login(UserFactory(role=role))
    return client


def test_admin_sees_stock_throughput_and_escaped_failures():
    batch = BatchFactory(name="week-9")
    PairFactory(batch=batch)
    PairFactory(
        batch=batch,
        status=ResponsePair.Status.FAILED,
        response_a=None,
        response_b=None,
        last_error='ServerUnavailable: <img src=x onerror="alert(1)">',
        attempts=2,
    )
    page = _client(roles.ADMIN).get("/staff/generation/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "week-9" in body and "Retry now" in body
    assert "<img src=x" not in body and "&lt;img src=x" in body
    fragment = _client(roles.ADMIN).get("/staff/generation/", headers={"HX-Request": "true"})
    assert "<html" not in fragment.content.decode() and "week-9" in fragment.content.decode()


def test_retry_now_makes_the_pair_due(django_capture_on_commit_callbacks):
    pair = PairFactory(status=ResponsePair.Status.FAILED, response_a=None, response_b=None)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _client(roles.ADMIN).post(f"/staff/generation/{pair.pk}/retry/")
    assert response.status_code == 302 and len(callbacks) == 1
    pair.refresh_from_db()
    assert pair.next_attempt_at is not None


@pytest.mark.parametrize("role", [roles.ANNOTATOR, roles.ML_ENGINEER])
def test_status_page_is_for_admins(role):
    assert _client(role).get("/staff/generation/").status_code == 403

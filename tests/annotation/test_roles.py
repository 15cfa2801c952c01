"""Margin's roles, and the one decorator pages check them with."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import RequestFactory

from annotation import roles

from .factories import UserFactory

pytestmark = pytest.mark.django_db


def test_role_permissions_for_jobs():
    assert roles.is_ml_engineer(UserFactory(role=roles.ML_ENGINEER))
    assert not roles.is_ml_engineer(UserFactory(role=roles.ANNOTATOR))


def test_role_required_refuses_other_roles_and_sends_visitors_to_log_in():
    @roles.role_required(roles.is_admin)
    def page(request):
        return HttpResponse("ok")

    request = RequestFactory().get("/staff/")
    request.user = UserFactory(role=roles.ADMIN)
    assert page(request).content == b"ok"
    request.user = UserFactory(role=roles.ML_ENGINEER)
    with pytest.raises(PermissionDenied):
        page(request)
    request.user = AnonymousUser()
    assert page(request).status_code == 302

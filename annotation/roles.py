"""Margin's three roles as Django groups. Superusers count as admins.

Pages check a role with `@role_required(test)`, the API with annotation/permissions.py."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

ANNOTATOR = "annotator"
ADMIN = "admin"
ML_ENGINEER = "ml_engineer"
ROLES = (ANNOTATOR, ADMIN, ML_ENGINEER)

_ML_ENGINEER_PERMISSIONS = {
    "annotation": ["view_promptbatch", "view_prompt", "view_responsepair", "view_response"]
    + ["view_judgment", "view_modelvariant", "add_exportjob", "view_exportjob"],
    "training_jobs": ["view_*", "add_*", "change_job"],
}


def has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cache = getattr(user, "_margin_roles", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._margin_roles = cache
    return role in cache


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, ADMIN)


def is_ml_engineer(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, ML_ENGINEER) or is_admin(user)


def is_annotator(user: AbstractBaseUser | AnonymousUser) -> bool:
    return has_role(user, ANNOTATOR)


def role_required(
    test: Callable[[AbstractBaseUser | AnonymousUser], bool],
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """A page for signed-in users who pass `test` (e.g. `is_admin`); anyone else signed in
    gets 403, an anonymous visitor the login page."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not test(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _permissions_for(app_label: str, codenames: list[str]) -> list[Permission]:
    found: list[Permission] = []
    for codename in codenames:
        query = Permission.objects.filter(content_type__app_label=app_label)
        if codename.endswith("*"):
            found.extend(query.filter(codename__startswith=codename[:-1]))
        else:
            found.extend(query.filter(codename=codename))
    return found


def ensure_role_groups(**_: object) -> None:
    """Create the role groups and their model permissions (idempotent; runs after migrate)."""
    for role in ROLES:
        Group.objects.get_or_create(name=role)
    admin = Group.objects.get(name=ADMIN)
    admin.permissions.set(
        Permission.objects.filter(content_type__app_label__in=["annotation", "training_jobs"])
    )
    engineer = Group.objects.get(name=ML_ENGINEER)
    perms: list[Permission] = []
    for app_label, codenames in _ML_ENGINEER_PERMISSIONS.items():
        perms.extend(_permissions_for(app_label, codenames))
    engineer.permissions.set(perms)

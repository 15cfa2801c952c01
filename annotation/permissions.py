from rest_framework.permissions import BasePermission

from . import roles


class IsAdminRole(BasePermission):
    message = "Only admins may do this."

    def has_permission(self, request, view) -> bool:
        return roles.is_admin(request.user)


class IsMLEngineerOrAdmin(BasePermission):
    message = "Only ML engineers and admins may do this."

    def has_permission(self, request, view) -> bool:
        return roles.is_ml_engineer(request.user)


class ReadOnlyForMLEngineersWriteForAdmins(BasePermission):
    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return roles.is_ml_engineer(request.user) or roles.is_annotator(request.user)
        return roles.is_admin(request.user)

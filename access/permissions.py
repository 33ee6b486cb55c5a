"""DRF permission: which roles may call which HTTP method of a view.

A view declares ``required_roles = {"GET": ALL_ROLES, "POST": {Role.RESEARCHER, Role.AGENT}}``.
A method missing from the mapping is refused.
"""
from rest_framework.permissions import BasePermission

from access.selectors import user_has_role


class HasRole(BasePermission):
    message = "Your roles do not allow this action."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        mapping = getattr(view, "required_roles", None) or {}
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        allowed = mapping.get(method)
        if allowed is None:
            return bool(request.user.is_superuser)
        return user_has_role(request.user, *allowed)

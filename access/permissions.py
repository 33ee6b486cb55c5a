"""DRF permission: which roles may call which HTTP method of a view.

A view declares ``required_roles = {"GET": ALL_ROLES, "POST": {Role.RESEARCHER, Role.AGENT}}``.
A method missing from the mapping is refused. A method the view does not implement passes, so
the caller gets 405 with an ``Allow`` header rather than a 403 about roles; ``OPTIONS`` is open to
whoever may call any of the view's methods.
"""
from rest_framework.permissions import BasePermission

from access.selectors import user_has_role


class HasRole(BasePermission):
    message = "Your roles do not allow this action."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method.lower() not in view.http_method_names or not hasattr(view, request.method.lower()):
            return True  # the view answers 405 method_not_allowed
        mapping = getattr(view, "required_roles", None) or {}
        if request.method == "OPTIONS":
            allowed = set().union(*mapping.values()) if mapping else None
        else:
            allowed = mapping.get("GET" if request.method == "HEAD" else request.method)
        if allowed is None:
            return bool(request.user.is_superuser)
        return user_has_role(request.user, *allowed)

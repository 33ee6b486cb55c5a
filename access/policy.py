"""What an agent may never do, whatever other roles or permissions it holds.

Endpoints that approve or reject promotions, lift a halt or change a policy call
:func:`ensure_not_agent` (or use :class:`NotAgentFor`) before anything else.
"""
from __future__ import annotations

from django.db import models
from rest_framework.permissions import BasePermission

from access.roles import Role
from access.selectors import user_roles
from core.errors import PermissionRefused


class GuardedAction(models.TextChoices):
    APPROVE_PROMOTION = "approve_promotion", "Approve a promotion"
    REJECT_PROMOTION = "reject_promotion", "Reject a promotion"
    LIFT_HALT = "lift_halt", "Lift a trading halt (move back to ACTIVE)"
    CHANGE_POLICY = "change_policy", "Change a gate, guardrail or kill-switch policy"


FORBIDDEN_FOR_AGENT = frozenset(GuardedAction.values)


class AgentForbidden(PermissionRefused):
    default_code = "agent_forbidden"
    default_message = "Agents may never do this."


def is_agent(user) -> bool:
    """True for any principal holding the agent role, even alongside other roles."""
    return Role.AGENT in user_roles(user)


def agent_forbidden(user, action: str) -> bool:
    if action not in GuardedAction.values:
        raise ValueError(f"Unknown guarded action {action!r}.")
    return action in FORBIDDEN_FOR_AGENT and is_agent(user)


def ensure_not_agent(user, action: str) -> None:
    if agent_forbidden(user, action):
        label = GuardedAction(action).label.lower()
        raise AgentForbidden(f"Agents may never {label[0].lower() + label[1:]}.", details={"action": action})


class NotAgentFor(BasePermission):
    """DRF permission: ``permission_classes = [HasRole, NotAgentFor]`` with ``guarded_action = ...``
    on the view (or ``guarded_actions = {"POST": ...}`` per method)."""

    message = "Agents may never do this."

    def has_permission(self, request, view) -> bool:
        per_method = getattr(view, "guarded_actions", None) or {}
        action = per_method.get(request.method, getattr(view, "guarded_action", None))
        if action is None:
            return True
        ensure_not_agent(request.user, action)
        return True

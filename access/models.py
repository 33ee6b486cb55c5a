"""Access control state: per-strategy object permissions, token usage, login failures and the
append-only audit trail."""
from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from knox.models import AuthToken

from access.choices import Outcome, Via
from core.chain import HashChained, hash_chain
from core.db import append_only
from strategies.models import Strategy


class StrategyUserObjectPermission(UserObjectPermissionBase):
    """A user's permission on one strategy (django-guardian, direct foreign key)."""

    content_object = models.ForeignKey(Strategy, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        db_table = "access_strategy_user_perms"


class StrategyGroupObjectPermission(GroupObjectPermissionBase):
    """A group's permission on one strategy (django-guardian, direct foreign key)."""

    content_object = models.ForeignKey(Strategy, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        db_table = "access_strategy_group_perms"


class TokenUsage(models.Model):
    """When an API token was last used (stamped at most once a minute). Deleted with the token."""

    token = models.OneToOneField(AuthToken, on_delete=models.CASCADE, primary_key=True,
                                 related_name="usage", db_column="token_digest")
    last_used_at = models.DateTimeField()

    class Meta:
        db_table = "access_token_usage"

    def __str__(self) -> str:
        return f"{self.token_id[:12]}… {self.last_used_at:%Y-%m-%d %H:%M}"


class LoginFailure(models.Model):
    """One failed interactive login; counted per username and address to throttle guessing."""

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "access_login_failures"
        indexes = [models.Index(fields=["username", "ip", "-at"], name="login_failure_recent")]

    def __str__(self) -> str:
        return f"{self.username}@{self.ip} {self.at:%Y-%m-%d %H:%M:%S}"


class AuditEvent(HashChained):
    """Who did what, when, through which door, and how it ended. Never changes afterwards, and is
    hash-chained (``core.chain``): ``manage.py verify_audit`` names a row changed, removed or inserted
    out of order."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.CharField(max_length=150, help_text='A username, "anonymous", or "system:<worker>".')
    actor_roles = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    via = models.CharField(max_length=16, choices=Via.choices)
    method = models.CharField(max_length=10, blank=True, default="")
    path = models.CharField(max_length=500, blank=True, default="")
    action = models.CharField(max_length=200)
    object_ref = models.CharField(max_length=300, blank=True, default="")
    request_id = models.CharField(max_length=64)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        db_table = "audit_events"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["-at"], name="audit_recent"),
            models.Index(fields=["actor", "-at"], name="audit_actor_recent"),
            models.Index(fields=["request_id"], name="audit_request"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(via__in=Via.values), name="audit_via_valid"),
            models.CheckConstraint(condition=Q(outcome__in=Outcome.values), name="audit_outcome_valid"),
            models.CheckConstraint(condition=~Q(actor=""), name="audit_actor_present"),
        ]
        triggers = [append_only(), hash_chain(columns=(
            "at", "actor", "actor_roles", "via", "method", "path", "action", "object_ref", "request_id",
            "outcome", "status_code", "client_ip", "details"))]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.outcome}"

"""Gate policies and signing keys (promotions app).

A gate policy is a versioned, immutable document stored with its sha256; activating one is a
separate, append-only decision (the newest activation is in force). Signing keys are Ed25519:
the private half stays in a file under ``TORGHUT_SIGNING_KEY_DIR``, the public half and its
status live here so every verifier agrees on them.
"""
from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import Q

from core.db import append_only
from promotions.choices import KeyStatus


class GatePolicy(models.Model):
    version = models.CharField(max_length=64, unique=True)
    sha256 = models.CharField(max_length=64)
    document = models.JSONField(help_text="The policy as loaded; its canonical JSON hashes to sha256.")
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "promotion_gate_policies"
        ordering = ["-id"]
        verbose_name_plural = "gate policies"
        constraints = [
            models.CheckConstraint(condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="gate_policy_sha256"),
            models.CheckConstraint(condition=Q(version__regex=r"^[A-Za-z0-9._-]{1,64}$"), name="gate_policy_version"),
        ]
        triggers = [append_only()]

    def __str__(self) -> str:
        return self.version


class PolicyActivation(models.Model):
    """Which policy new evaluations use: the newest row wins. Never changes afterwards."""

    policy = models.ForeignKey(GatePolicy, on_delete=models.PROTECT, related_name="activations")
    previous = models.ForeignKey(GatePolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    actor = models.CharField(max_length=150)
    reason = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "promotion_policy_activations"
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="policy_activation_reason")]
        triggers = [append_only()]

    def __str__(self) -> str:
        return f"{self.policy.version} by {self.actor}"


class SigningKey(models.Model):
    key_id = models.CharField(max_length=40, unique=True)
    algorithm = models.CharField(max_length=16, default="ed25519")
    public_key = models.CharField(max_length=64, help_text="Raw public key, base64.")
    status = models.CharField(max_length=16, choices=KeyStatus.choices)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True, default="")

    class Meta:
        db_table = "promotion_signing_keys"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="one_active_signing_key"),
            models.CheckConstraint(condition=Q(status__in=KeyStatus.values), name="signing_key_status_valid"),
            models.CheckConstraint(
                condition=~Q(status="revoked") | (Q(revoked_at__isnull=False) & ~Q(revoked_reason="")),
                name="signing_key_revocation_explained"),
        ]
        triggers = [
            # a key is never deleted, never changes its identity, and never becomes active again
            pgtrigger.Protect(name="signing_key_no_delete", operation=pgtrigger.Delete),
            pgtrigger.Protect(name="signing_key_identity", operation=pgtrigger.Update,
                              condition=pgtrigger.AnyChange("key_id", "public_key", "algorithm", "created_at")),
            pgtrigger.FSM(name="signing_key_status_fsm", field="status",
                          transitions=[("active", "retired"), ("active", "revoked"), ("retired", "revoked")]),
        ]

    def __str__(self) -> str:
        return f"{self.key_id} ({self.status})"

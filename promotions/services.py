"""Writes of the promotions app: gate policies and signing keys (each with its audit row)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from access.choices import Via
from access.services import audit_record
from core import locks
from core.canonical import content_sha256
from core.errors import ApplicationError, Conflict, InvalidInput, invalid_fields
from promotions import gates, signing
from promotions.choices import KeyStatus
from promotions.models import GatePolicy, PolicyActivation, SigningKey

# --- gate policies ------------------------------------------------------------------------------

def policy_load(*, document: Any, actor: str, via: str = Via.COMMAND) -> tuple[GatePolicy, bool]:
    """Store a new policy version. The same document again is a no-op; another document under a
    stored version is a 409 ``policy_version_conflict`` (a version never changes)."""
    problems = gates.policy_problems(document)
    if problems:
        raise invalid_fields("The gate policy is invalid", problems, code="invalid_policy")
    digest = content_sha256(document)
    with transaction.atomic():
        locks.xact_lock(f"policy:{document['version']}")
        stored = GatePolicy.objects.filter(version=document["version"]).first()
        if stored is not None:
            if stored.sha256 == digest:
                return stored, False
            raise Conflict(f"policy {stored.version} is already stored with other content (sha256 {stored.sha256}); "
                           "load the change as a new version.", code="policy_version_conflict",
                           details={"version": stored.version, "stored_sha256": stored.sha256, "sha256": digest})
        policy = GatePolicy.objects.create(version=document["version"], sha256=digest, document=document,
                                           created_by=actor)
        audit_record(actor=actor, via=via, action="gate_policy_load", object_ref=f"gate_policy:{policy.version}",
                     details={"sha256": digest})
    return policy, True


def policy_activate(*, version: str, actor: str, reason: str, via: str = Via.COMMAND) -> PolicyActivation:
    """Make ``version`` the policy new evaluations use (an audited, append-only decision)."""
    if not reason.strip():
        raise InvalidInput("Say why the policy changes.", details={"fields": {"reason": ["required"]}})
    with transaction.atomic():
        locks.xact_lock("policy:activation")
        policy = GatePolicy.objects.filter(version=version).first()
        if policy is None:
            known = ", ".join(GatePolicy.objects.values_list("version", flat=True)) or "none loaded"
            raise InvalidInput(f"Unknown policy version {version!r} (known: {known}).", code="unknown_policy",
                               details={"fields": {"version": ["unknown"]}})
        current = PolicyActivation.objects.select_related("policy").order_by("-id").first()
        before = current.policy.version if current else None
        activation = PolicyActivation.objects.create(policy=policy, previous=current.policy if current else None,
                                                     actor=actor, reason=reason.strip())
        audit_record(actor=actor, via=via, action="gate_policy_activate", object_ref=f"gate_policy:{version}",
                     details={"before": before, "after": version, "reason": reason.strip()})
    return activation


# --- signing keys -------------------------------------------------------------------------------

def _key_dir() -> Path:
    return Path(settings.SIGNING_KEY_DIR)


def signing_key_rotate(*, actor: str, via: str = Via.COMMAND, key_dir: Path | None = None) -> SigningKey:
    """Create a new key and make it the one that signs; the previous active key is retired (its
    signatures keep verifying). With no key yet, this creates the first one."""
    key_dir = key_dir or _key_dir()
    with transaction.atomic():
        locks.xact_lock("signing_keys")
        previous = SigningKey.objects.filter(status=KeyStatus.ACTIVE).first()
        pair = signing.generate(key_dir)
        if previous is not None:
            previous.status, previous.retired_at = KeyStatus.RETIRED, timezone.now()
            previous.save(update_fields=["status", "retired_at"])
        key = SigningKey.objects.create(key_id=pair.key_id, public_key=pair.public_b64, status=KeyStatus.ACTIVE,
                                        created_by=actor)
        audit_record(actor=actor, via=via, action="signing_key_rotate", object_ref=f"signing_key:{key.key_id}",
                     details={"before": previous.key_id if previous else None, "after": key.key_id})
    return key


def signing_key_revoke(*, key_id: str, reason: str, actor: str, via: str = Via.COMMAND) -> SigningKey:
    """Revoke a key: signatures it made no longer verify. Revoking the active key leaves nothing
    to sign with until ``rotate`` makes a new one."""
    if not reason.strip():
        raise InvalidInput("Say why the key is revoked.", details={"fields": {"reason": ["required"]}})
    with transaction.atomic():
        locks.xact_lock("signing_keys")
        key = SigningKey.objects.select_for_update().filter(key_id=key_id).first()
        if key is None:
            raise InvalidInput(f"Unknown signing key {key_id!r}.", code="unknown_key",
                               details={"fields": {"key_id": ["unknown"]}})
        if key.status == KeyStatus.REVOKED:
            return key
        before = key.status
        key.status, key.revoked_at, key.revoked_reason = KeyStatus.REVOKED, timezone.now(), reason.strip()
        key.save(update_fields=["status", "revoked_at", "revoked_reason"])
        audit_record(actor=actor, via=via, action="signing_key_revoke", object_ref=f"signing_key:{key_id}",
                     details={"before": before, "after": KeyStatus.REVOKED, "reason": key.revoked_reason})
    return key


class NoSigningKey(ApplicationError):
    http_status = 503
    default_code = "no_signing_key"
    default_message = "No active signing key: run `manage.py signing_keys rotate`."


def active_signer(key_dir: Path | None = None) -> signing.KeyPair:
    """The active key pair, read from its file; ``NoSigningKey`` when there is none here."""
    key = SigningKey.objects.filter(status=KeyStatus.ACTIVE).first()
    if key is None:
        raise NoSigningKey()
    try:
        return signing.load(key_dir or _key_dir(), key.key_id)
    except FileNotFoundError:
        raise NoSigningKey(f"The active signing key {key.key_id} has no key file in {key_dir or _key_dir()}.") from None

"""Versioned documents (gate policies, recovery playbooks): stored once per version with their sha256."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from core import locks
from core.canonical import content_sha256
from core.errors import Conflict


def version_store(*, model, document: dict[str, Any], noun: str, code: str, created_by: str) -> tuple[Any, bool]:
    """Store ``document`` under its ``version`` (a row of ``model`` with ``version``, ``sha256``,
    ``document``, ``created_by``), in the caller's transaction, under an advisory lock on the version.
    Returns (row, created): the same content again is a no-op; other content under a stored version is a
    409 ``code`` (a version never changes)."""
    digest = content_sha256(document)
    with transaction.atomic():
        locks.xact_lock(f"{noun}:{document['version']}")
        stored = model.objects.filter(version=document["version"]).first()
        if stored is not None:
            if stored.sha256 == digest:
                return stored, False
            raise Conflict(f"{noun} {stored.version} is already stored with other content (sha256 {stored.sha256}); "
                           "load the change as a new version.", code=code,
                           details={"version": stored.version, "stored_sha256": stored.sha256, "sha256": digest})
        return model.objects.create(version=document["version"], sha256=digest, document=document,
                                    created_by=created_by), True

import logging
import sys

from django.apps import AppConfig
from django.db.models.signals import post_migrate

logger = logging.getLogger("access.db_roles")


def grant_after_migrate(sender, using="default", verbosity=1, **kwargs):
    """Re-apply the runtime roles' grants after every migrate. Never fails the migrate: a user
    without CREATEROLE (or without the roles present) gets a warning instead."""
    from django.db import DatabaseError, connections

    from access import db_roles

    try:
        result = db_roles.apply(connections[using])
    except DatabaseError as exc:
        print(f"db_roles: grants not applied ({exc}); run `manage.py db_roles apply` as the schema owner.",
              file=sys.stderr)
        return
    for warning in result.warnings:
        print(f"db_roles: {warning}", file=sys.stderr)
    if verbosity >= 2:
        print(f"db_roles: grants applied on {result.tables} tables", file=sys.stderr)


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access control"

    def ready(self):
        from access import checks, schema  # noqa: F401 - registers the system checks and the OpenAPI scheme

        post_migrate.connect(grant_after_migrate, sender=self, dispatch_uid="access.grant_after_migrate")

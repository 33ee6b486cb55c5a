"""A base for management commands that change state: each run is appended to the audit trail.

The row says who ran it (the operating-system user), which command with which arguments, and
how it ended (ok, refused by a ``CommandError``, or error). A command may add facts about what
it did by filling ``self.audit_details`` (counts, ids) before it returns.
"""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from access.choices import Outcome, Via
from access.services import audit_record, command_actor

# Options every command has; they say nothing about what the command changed.
_NOISE = {"verbosity", "settings", "pythonpath", "traceback", "no_color", "force_color", "skip_checks",
          "stdout", "stderr"}


class NewlineHelpFormatter(DjangoHelpFormatter):
    """Keeps the line breaks of a command's help, so its examples stay one per line."""

    def _fill_text(self, text, width, indent):
        return "".join(indent + line for line in text.splitlines(keepends=True))


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


class AuditedCommand(BaseCommand):
    audit_action: str | None = None  # defaults to the command's name

    def execute(self, *args, **options):
        self.audit_details: dict[str, Any] = {}
        action = self.audit_action or f"command:{self.__module__.rsplit('.', 1)[-1]}"
        arguments = {k: _plain(v) for k, v in options.items() if k not in _NOISE}
        outcome, error = Outcome.OK, ""
        try:
            return super().execute(*args, **options)
        except CommandError as exc:
            outcome, error = Outcome.REFUSED, str(exc)
            raise
        except BaseException as exc:
            outcome, error = Outcome.ERROR, f"{exc.__class__.__name__}: {exc}"
            raise
        finally:
            details = {"arguments": arguments, **self.audit_details}
            if error:
                details["error"] = error[:1000]
            audit_record(actor=command_actor(), via=Via.COMMAND, action=action, outcome=outcome, details=details)


def read_json_documents(files: list[str], shipped_dir=None) -> list[tuple[Any, Any]]:
    """(path, parsed JSON) of each file named, plus every ``*.json`` in ``shipped_dir`` when given; a
    ``CommandError`` names the file that cannot be read or parsed."""
    import json
    from pathlib import Path

    paths = [Path(f) for f in files] + (sorted(Path(shipped_dir).glob("*.json")) if shipped_dir else [])
    if not paths:
        raise CommandError("name document files, or --shipped")
    documents = []
    for path in paths:
        try:
            documents.append((path, json.loads(path.read_text())))
        except (OSError, ValueError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
    return documents

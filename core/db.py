"""Database building blocks shared by every app."""
from __future__ import annotations

import pgtrigger


def append_only(name: str = "append_only") -> pgtrigger.Protect:
    """A row trigger that refuses UPDATE and DELETE (TRUNCATE stays possible for test teardown;
    production blocks it with privileges)."""
    return pgtrigger.Protect(name=name, operation=pgtrigger.Update | pgtrigger.Delete)

"""Every management command of the project's apps explains itself in ``--help``, with an example.

The commands are enumerated (``get_commands()``, kept to the apps in this repository), so a command
added later is checked without being listed here."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import get_commands, load_command_class

ROOT = Path(settings.BASE_DIR).resolve()
EXAMPLE = re.compile(r"^Examples?:", re.MULTILINE)  # at the start of a line; the examples follow


def project_commands() -> list[tuple[str, str]]:
    """(command, app) of every command an app of this repository defines (not Django's, not a package's)."""
    ours = {config.name for config in apps.get_app_configs()
            if ROOT in Path(config.path).resolve().parents and "site-packages" not in Path(config.path).parts}
    return sorted((name, app) for name, app in get_commands().items() if app in ours)


def test_the_project_commands_are_found():
    names = {name for name, _ in project_commands()}
    assert {"reconcile", "ingest_run", "db_roles", "gate_policy", "playbook", "load_demo"} <= names
    assert not names & {"migrate", "qcluster", "spectacular"}  # Django's and the packages' are not ours


@pytest.mark.parametrize(("name", "app"), project_commands())
def test_help_explains_the_command_with_an_example(name, app):
    command = load_command_class(app, name)
    text = (command.help or "").strip()
    match = EXAMPLE.search(text)
    assert match, f"{name}: help has no line starting with 'Example:' (the examples after it)"
    description = text[:match.start()].strip()
    assert len(description.split()) >= 6, f"{name}: help should say what the command does before its example"
    assert f"manage.py {name}" in text[match.end():], f"{name}: the example should show `manage.py {name} ...`"
    printed = command.create_parser("manage.py", name).format_help()
    lines = printed.splitlines()
    missing = [line for line in text.splitlines() if line.strip() and line.rstrip() not in lines]
    assert not missing, f"{name}: --help reflows the help text (use core.commands.BaseCommand): {missing[:3]}"

"""The shape of the code: imports flow one way, services know nothing of HTTP, and
``torghut_site`` holds only settings and URLs."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("core", "strategies", "access", "ledger", "promotions", "execution", "autonomy", "console")
# app -> apps it must never import (ledger <- promotions <- execution; autonomy never imports execution;
# the base packages import no app above them).
FORBIDDEN = {
    "core": set(APPS) - {"core"},
    "strategies": set(APPS) - {"core", "strategies"},
    "access": {"ledger", "promotions", "execution", "autonomy", "console"},
    "ledger": {"promotions", "execution", "autonomy", "console"},
    "promotions": {"execution", "console"},
    "autonomy": {"execution", "console"},
    "execution": {"console"},  # the console (the first screen) reads every app; no app reads it
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _sources(app: str):
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_imports_flow_one_way(app):
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN[app]) for p in _sources(app)}
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for app in APPS
                                        for p in (ROOT / app).glob("services.py")))
def test_services_raise_transport_neutral_errors(path):
    assert "rest_framework" not in _imports(ROOT / path)


def test_torghut_site_holds_only_settings_and_urls():
    modules = sorted(p.name for p in (ROOT / "torghut_site").glob("*.py"))
    assert modules == ["__init__.py", "asgi.py", "settings.py", "urls.py", "wsgi.py"]

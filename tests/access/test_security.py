"""Security basics: deploy checks under production settings, CSRF on every form, no secrets."""
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def test_check_deploy_is_clean_under_production_settings():
    env = dict(os.environ, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="example.com",
               DATABASE_URL=settings.DATABASE_URL)
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_every_post_form_carries_a_csrf_token():
    templates = [p for p in ROOT.rglob("templates/**/*.html") if ".venv" not in p.parts]
    assert templates
    for path in templates:
        text = path.read_text()
        for form in re.findall(r"<form[^>]*>.*?</form>", text, flags=re.S | re.I):
            if re.search(r'method=["\']?post', form, flags=re.I):
                assert "{% csrf_token %}" in form, f"{path.relative_to(ROOT)}: POST form without csrf_token"
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE


def test_production_cookies_are_secure():
    env = dict(os.environ, DEBUG="0", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="example.com",
               DATABASE_URL=settings.DATABASE_URL)
    code = ("from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.DEBUG)")
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1].split() == ["True", "True", "True", "False"], result.stderr


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_no_secrets_are_tracked():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in files if re.search(r"(^|/)\.env$|\.pem$|\.key$|id_rsa|\.p12$", f)]
    pattern = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|sk_live_[0-9a-zA-Z]{16,}")
    for name in files:
        path = ROOT / name
        if path.suffix in {".py", ".txt", ".md", ".toml", ".cfg", ".ini", ".yml", ".yaml", ".json", ".html", ""} \
                and path.is_file() and path.stat().st_size < 2_000_000:
            assert not pattern.search(path.read_text(errors="ignore")), f"secret-looking text in {name}"

"""`make serve` / `make worker` (``core.serving``): DEBUG off, a kept secret key, migrations as
the owner and the processes as the service login, in both database modes."""
import json
import os
import stat
import subprocess
import sys

import pytest

from core import serving
from torghut_site.settings import BASE_DIR

OWNER_URL = "postgresql://owner:owner-secret@db.internal:5432/torghut"
SERVICE_URL = "postgresql://torghut_web:web-secret@db.internal:5432/torghut"


def plan(tmp_path, **env):
    return serving.prepare({"PATH": "/usr/bin", "TORGHUT_VAR_DIR": str(tmp_path / "var"), **env})


def test_embedded_mode_migrates_as_the_superuser_and_serves_as_the_login(tmp_path):
    p = plan(tmp_path, DEBUG="1", EMBEDDED_DATABASE_USER="postgres", SERVICE_DATABASE_URL="")
    key_file = tmp_path / "var" / "secret_key"
    for env in (p.owner_env, p.service_env):
        assert env["DEBUG"] == "0"  # forced, whatever the caller's environment said
        assert env["SECRET_KEY_FILE"] == str(key_file) and "SECRET_KEY" not in env
        assert env["ALLOWED_HOSTS"] == "localhost,127.0.0.1,[::1]"
        assert "DATABASE_URL" not in env and "SERVICE_DATABASE_URL" not in env
    assert "EMBEDDED_DATABASE_USER" not in p.owner_env
    assert p.service_env["EMBEDDED_DATABASE_USER"] == "torghut_web"
    assert p.embedded and p.service_role == "torghut_web"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and len(key_file.read_text().strip()) >= 50
    assert "generated" in p.secret_source and str(key_file) in p.secret_source
    first = key_file.read_text()
    again = plan(tmp_path)
    assert key_file.read_text() == first and "kept" in again.secret_source


def test_a_secret_key_file_others_can_read_is_refused(tmp_path):
    plan(tmp_path)
    (tmp_path / "var" / "secret_key").chmod(0o644)
    with pytest.raises(serving.ServingError, match="chmod 600"):
        plan(tmp_path)


def test_a_secret_key_from_the_environment_is_used_as_is(tmp_path):
    p = plan(tmp_path, SECRET_KEY="k" * 60, ALLOWED_HOSTS="ops.example.com", SECURE_SSL_REDIRECT="1")
    assert p.service_env["SECRET_KEY"] == "k" * 60 and "SECRET_KEY_FILE" not in p.service_env
    assert not (tmp_path / "var" / "secret_key").exists()
    assert p.secret_source == "SECRET_KEY from the environment"
    assert p.service_env["ALLOWED_HOSTS"] == "ops.example.com" and p.service_env["SECURE_SSL_REDIRECT"] == "1"


def test_external_mode_serves_with_the_service_url_and_never_hands_it_the_owners(tmp_path):
    p = plan(tmp_path, DATABASE_URL=OWNER_URL, SERVICE_DATABASE_URL=SERVICE_URL, EMBEDDED_DATABASE_USER="x")
    assert p.owner_env["DATABASE_URL"] == OWNER_URL and "SERVICE_DATABASE_URL" not in p.owner_env
    assert p.service_env["DATABASE_URL"] == SERVICE_URL
    assert "SERVICE_DATABASE_URL" not in p.service_env and "EMBEDDED_DATABASE_USER" not in p.service_env
    assert OWNER_URL not in p.service_env.values()
    assert not p.embedded and p.owner_role == "owner" and p.service_role == "torghut_web"
    text = " ".join(p.describe())
    assert "owner-secret" not in text and "web-secret" not in text  # passwords never printed
    assert "db.internal:5432/torghut" in text


def test_external_mode_without_service_credentials_refuses_to_serve(tmp_path):
    with pytest.raises(serving.ServingError, match="SERVICE_DATABASE_URL"):
        plan(tmp_path, DATABASE_URL=OWNER_URL)
    with pytest.raises(serving.ServingError, match="migrating user"):
        plan(tmp_path, DATABASE_URL=OWNER_URL, SERVICE_DATABASE_URL=OWNER_URL.replace("owner-secret", "x"))


def test_the_gunicorn_command_is_shared_with_the_benchmark():
    command = serving.gunicorn_command("bench.wsgi_bench:application", bind="127.0.0.1:9", workers=3, threads=4)
    assert command[:3] == [sys.executable, "-m", "gunicorn"]
    assert command[3] == "bench.wsgi_bench:application"
    joined = " ".join(command)
    assert "--worker-class gthread" in joined and "--workers 3" in joined and "--threads 4" in joined
    assert "--bind 127.0.0.1:9" in joined


def test_settings_refuse_an_embedded_user_beside_a_database_url():
    env = {**os.environ, "DATABASE_URL": OWNER_URL, "EMBEDDED_DATABASE_USER": "torghut_web"}
    done = subprocess.run([sys.executable, "-c", "import torghut_site.settings"], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "EMBEDDED_DATABASE_USER applies to the embedded server only" in done.stderr


@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="the embedded server's login only")
def test_settings_connect_to_the_embedded_server_as_the_service_login(serving_login, tmp_path):
    key = tmp_path / "secret_key"
    key.write_text("s" * 64 + "\n")
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(DJANGO_SETTINGS_MODULE="torghut_site.settings", DEBUG="0", SECRET_KEY_FILE=str(key),
               EMBEDDED_DATABASE_USER=serving_login, ALLOWED_HOSTS="127.0.0.1")
    code = ("import json, django; django.setup(); from django.conf import settings; from django.db import connection;"
            "c = connection.cursor(); c.execute('SELECT current_user'); print(json.dumps({'user': c.fetchone()[0],"
            "'debug': settings.DEBUG, 'key': settings.SECRET_KEY, 'static': settings.STORAGES['staticfiles']}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["user"] == serving_login and seen["debug"] is False and seen["key"] == "s" * 64
    assert seen["static"]["BACKEND"].endswith("CompressedManifestStaticFilesStorage")


def test_the_launcher_names_the_same_login_as_db_roles():
    from access import db_roles

    assert serving.SERVICE_LOGIN == db_roles.SERVICE_LOGIN

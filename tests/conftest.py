"""Shared fixtures: API clients authenticated as a principal holding given roles."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from access.services import principal_create


@pytest.fixture(scope="session")
def serving_login(django_db_setup, django_db_blocker) -> str:
    """The login role `make serve` serves as (``db_roles login``), committed: roles belong to the
    cluster, not to a test's transaction, and other connections log in with it."""
    from django.db import connections

    from access import db_roles

    with django_db_blocker.unblock():
        owner = connections.create_connection("default")
        try:
            db_roles.ensure_login(owner, db_roles.SERVICE_LOGIN)
        finally:
            owner.close()
    return db_roles.SERVICE_LOGIN


@pytest.fixture
def make_client(db):
    """``make_client("researcher", "agent", name="bob")`` -> an APIClient using a real token."""
    counter = {"n": 0}

    def _make(*roles: str, name: str | None = None) -> APIClient:
        counter["n"] += 1
        result = principal_create(name=name or f"{'-'.join(roles) or 'nobody'}-{counter['n']}", roles=list(roles))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {result.token}")
        client.principal = result
        return client

    return _make


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def browser(client, db):
    """A browser session logged in as a plain user (no roles): what any operator's pages show."""
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_user("viewer", password="a-long-password-1"))
    return client


@pytest.fixture(scope="session")
def live_server(django_db_setup, django_db_blocker, live_server):
    """pytest-django's live server, torn down before the test database is dropped.

    The server's request threads may still hold a keep-alive connection to the test database
    when the session ends; end those sessions so the database can be dropped cleanly.
    """
    yield live_server
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def db_proxy(transactional_db):
    """This process's database connections go through a relay the test can cut and restore
    (``tests.dbfaults.DatabaseProxy``): the database going away, for real, without stopping a server."""
    from django.db import connection

    from tests.dbfaults import DatabaseProxy, server_address

    settings_dict = connection.settings_dict  # shared by every thread's connection
    saved = settings_dict["HOST"], settings_dict["PORT"], dict(settings_dict.get("OPTIONS") or {})
    proxy = DatabaseProxy(*server_address(settings_dict)).start()
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", str(proxy.port)
    settings_dict["OPTIONS"].pop("host", None)
    settings_dict["OPTIONS"].pop("port", None)
    try:
        yield proxy
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = saved[0], saved[1]
        settings_dict["OPTIONS"].clear()
        settings_dict["OPTIONS"].update(saved[2])
        proxy.close()

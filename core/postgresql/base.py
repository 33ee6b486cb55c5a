"""Django's PostgreSQL backend, made to come back by itself after the database went away.

* Health check without a round trip (``CONN_HEALTH_CHECKS``): Django's check runs ``SELECT 1``
  before the first query of every request, a cost on every order. A connection the server has
  dropped (terminated backend, restart, crash) has something to read on its socket: the
  server's goodbye or end-of-file. So the first query of a request polls the socket (no wait,
  no query) and only when it is readable runs Django's ``SELECT 1`` and drops the connection if
  that fails. An idle persistent connection that died is replaced before the request uses it.
* Statements bound on the server (:meth:`DatabaseWrapper.bound_cursor`): the order path's statements
  send their parameters apart from the SQL, and the server keeps them prepared once a connection
  has run one ``DB_PREPARE_THRESHOLD`` times (no planning, no quoting of every value in Python).
  Every other cursor stays Django's default (client-side binding, never prepared).
* The embedded server (no ``DATABASE_URL``) is started again when a connection to it fails, or
  found where another process restarted it (:func:`core.embedded_db.recover`), and the
  connection is attempted once more.
"""
from __future__ import annotations

import select

import dj_database_url
from django.conf import settings
from django.db.backends.postgresql import base, operations


def _peer_spoke(raw) -> bool:
    """True when the server sent something to an idle connection: nothing is expected between
    queries, so this is a goodbye (``FATAL: terminating connection``) or end-of-file."""
    try:
        poller = select.poll()
        poller.register(raw.fileno(), select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError, base.Database.Error):
        return True


class DatabaseOperations(operations.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        """The statement with its values, also for a server-bound cursor (Django's answer is None there),
        for connection.queries and the SQL log (DEBUG, tests capturing queries)."""
        if isinstance(cursor, base.ServerBindingCursor) and params is not None:
            try:
                return self.compose_sql(sql, params)
            except base.Database.DataError:
                return sql
        return super().last_executed_query(cursor, sql, params)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
    _bind_on_server = False

    def bound_cursor(self):
        """A cursor whose statements are bound on the server: parameters travel apart from the SQL, typed by
        psycopg, and a statement run ``DB_PREPARE_THRESHOLD`` times on this connection is prepared (parsed and
        planned once). For the hot statements written for it: each parameter must have a type PostgreSQL can
        infer (cast it where a bare ``NULL`` would be ambiguous). Otherwise as :meth:`cursor`."""
        self._bind_on_server = True
        try:
            return self.cursor()
        finally:
            self._bind_on_server = False

    def create_cursor(self, name=None):
        if name is None and self._bind_on_server:
            factory = self.connection.cursor_factory
            self.connection.cursor_factory = base.ServerBindingCursor
            try:
                return super().create_cursor(name)
            finally:
                self.connection.cursor_factory = factory
        return super().create_cursor(name)

    def close_if_health_check_failed(self):
        if self.pool:
            return super().close_if_health_check_failed()
        if self.connection is None or not self.health_check_enabled or self.health_check_done:
            return
        if _peer_spoke(self.connection) and not self.is_usable():
            self.close()
        self.health_check_done = True

    def get_new_connection(self, conn_params):
        try:
            raw = super().get_new_connection(conn_params)
        except self.Database.OperationalError:
            if not self._embedded_server_recovered():
                raise
            raw = super().get_new_connection(self.get_connection_params())
        if not self.pool and "prepare_threshold" not in (self.settings_dict.get("OPTIONS") or {}):
            # only the server-bound cursors prepare (Django's client-side cursors never do)
            raw.prepare_threshold = getattr(settings, "DB_PREPARE_THRESHOLD", None)
        return raw

    def _embedded_server_recovered(self) -> bool:
        if not getattr(settings, "DATABASE_IS_EMBEDDED", False) or self.pool:
            return False
        from core import embedded_db

        options = self.settings_dict.get("OPTIONS") or {}
        if not embedded_db.serves(options.get("host") or self.settings_dict.get("HOST")):
            return False  # aimed elsewhere (a test's relay, another server): nothing of ours to start
        url = embedded_db.recover(settings.EMBEDDED_PGDATA)
        if url is None:
            return False
        where = dj_database_url.parse(url)
        # The settings dict is shared by every thread's connection: they all follow. The embedded
        # server's socket directory is the libpq ``host`` option.
        self.settings_dict["HOST"], self.settings_dict["PORT"] = where["HOST"], where["PORT"]
        options = self.settings_dict.setdefault("OPTIONS", {})
        for key in ("host", "port"):
            if key in where["OPTIONS"]:
                options[key] = where["OPTIONS"][key]
            else:
                options.pop(key, None)
        return True

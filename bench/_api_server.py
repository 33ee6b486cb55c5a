"""A throw-away API server process for the throughput benchmark (not a bench module itself).

``python -m bench._api_server DB_NAME LEAN_URL ALPACA_URL`` serves the Django app on a free
loopback port (a thread per keep-alive connection, persistent DB connections per thread) and prints ``PORT <n>``.
"""
import os
import sys


def main() -> None:
    db_name, lean_url, alpaca_url = sys.argv[1:4]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torghut_site.settings")
    os.environ.update(TRADING_LEAN_RUNNER_URL=lean_url, ALPACA_BASE_URL=alpaca_url, ALPACA_API_KEY_ID="bench",
                      ALPACA_API_SECRET_KEY="bench", DEBUG="0", SECURE_SSL_REDIRECT="0", ALLOWED_HOSTS="127.0.0.1",
                      SECRET_KEY="bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz", DB_CONN_MAX_AGE="600",
                      # the throttle still runs on every request, with a budget the load stays under
                      API_TOKEN_RATE="1000000/min")
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = db_name
    import django

    django.setup()
    import socketserver

    from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK stall every keep-alive response by ~40 ms (as production
        # servers do, set it).
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

    class KeepAliveWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
        """A thread per client connection, kept alive across requests (HTTP/1.1 keep-alive), each
        thread holding its database connection (like a threaded production server)."""

        daemon_threads = True

    server = KeepAliveWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=True)
    server.set_app(get_wsgi_application())
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

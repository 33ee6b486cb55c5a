"""A throw-away API server process for the throughput benchmark (not a bench module itself).

``python -m bench._api_server DB_NAME LEAN_URL ALPACA_URL`` serves the Django app on a free
loopback port (threaded WSGI, persistent DB connections per thread) and prints ``PORT <n>``.
"""
import os
import sys


def main() -> None:
    db_name, lean_url, alpaca_url = sys.argv[1:4]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torghut_site.settings")
    os.environ.update(TRADING_LEAN_RUNNER_URL=lean_url, ALPACA_BASE_URL=alpaca_url, ALPACA_API_KEY_ID="bench",
                      ALPACA_API_SECRET_KEY="bench", DEBUG="0", SECURE_SSL_REDIRECT="0", ALLOWED_HOSTS="127.0.0.1",
                      SECRET_KEY="bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz", DB_CONN_MAX_AGE="600")
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = db_name
    import django

    django.setup()
    from concurrent.futures import ThreadPoolExecutor

    from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    class PooledWSGIServer(WSGIServer):
        """A fixed pool of worker threads, so each keeps its database connection (like gunicorn gthread)."""

        pool = ThreadPoolExecutor(max_workers=int(os.environ.get("BENCH_SERVER_THREADS", "8")))

        def process_request(self, request, client_address):
            self.pool.submit(self._work, request, client_address)

        def _work(self, request, client_address):
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    server = PooledWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=True)
    server.set_app(get_wsgi_application())
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

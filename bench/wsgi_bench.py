"""WSGI entry point for the throughput benchmark: the project's application, served by gunicorn
exactly as deployed, on the benchmark's throw-away database (``BENCH_DATABASE_NAME``)."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "torghut_site.settings")

from django.conf import settings  # noqa: E402

settings.DATABASES["default"]["NAME"] = os.environ["BENCH_DATABASE_NAME"]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

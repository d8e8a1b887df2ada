"""Offload settings: one declarative module read from the environment with embedded dev defaults.

With no environment set, everything runs on this machine: a SQLite file and an embedded Redis
server (started by `make run` / the test suite) under `var/`, email printed to the worker's console.
Production sets DATABASE_URL, REDIS_URL (or BROKER_URL for RabbitMQ), CACHE_URL, EMAIL_URL,
SECRET_KEY, ALLOWED_HOSTS and DEBUG=0 (docs/DEPLOY.md). This module starts no process and opens
no connection.
"""

from __future__ import annotations

import math
import sys
import zlib
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import django
import django_stubs_ext
import environ
from pythonjsonlogger.core import RESERVED_ATTRS

# Lets typed code subscript Django's generic classes at runtime (ModelAdmin[Job], ...).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# Runtime state of the embedded default (SQLite file, Redis socket and data, media files).
VAR_DIR = Path(env.str("OFFLOAD_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # so a fresh checkout's SQLite file can be created

DEBUG = env.bool("DEBUG", default=True)

DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105


def secret_key_problem(key: str) -> str | None:
    """Why `key` cannot sign production sessions, or None (Django's own W009 rule, plus the
    placeholders this repository ships)."""
    if not key:
        return "SECRET_KEY is missing or empty"
    if key == DEV_SECRET_KEY or "change-me" in key or key.startswith("django-insecure-"):
        return "SECRET_KEY is a placeholder"
    if len(key) < 50 or len(set(key)) < 5:
        return "SECRET_KEY is too short (50 characters or more, 5 or more distinct)"
    if guessable(key):
        return "SECRET_KEY is guessable (repeated text or too few distinct characters)"
    return None


def guessable(key: str) -> bool:
    """A long key can still be weak ("abcde" * 10, the alphabet twice): a key that repeats
    itself is, and so is one whose character frequencies or compressed size hold under 160 bits."""
    raw = key.encode()
    if any(raw[period:] == raw[:-period] for period in range(1, len(raw) // 2 + 1)):
        return True
    counts = Counter(raw)
    frequency_bits = -sum(n * math.log2(n / len(raw)) for n in counts.values())
    compressed_bits = 8 * (len(zlib.compress(raw, 9)) - ZLIB_OVERHEAD_BYTES)
    return min(frequency_bits, compressed_bits) < 160


#: zlib's header and checksum: bytes a compressed key carries whatever it holds.
ZLIB_OVERHEAD_BYTES = 8


if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if problem := secret_key_problem(SECRET_KEY):
        # One line and a failed start, not a boot that answers 500 to every request.
        sys.exit(
            f"Refusing to start with DEBUG=0: {problem}. Generate one with: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )

# Old keys still accepted after a rotation: signed cookies and sealed job arguments stay valid.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
if not DEBUG and "*" in ALLOWED_HOSTS:
    # Any Host header would be trusted (Django's own host-header poisoning defence off).
    sys.exit("Refusing to start with DEBUG=0: ALLOWED_HOSTS=* accepts any host; name your hosts.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # First: its ready() installs the broker (JOBS_BROKER) before any other app's ready() (the
    # admin's autodiscovery) imports a module that declares actors.
    "jobs",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Only for its `rundramatiq` command; its Task model and admin are not used (config/urls.py).
    "django_dramatiq",
    # Login lockout per account and client IP (config/limits.py has the other limits).
    "axes",
    # Django's Tasks API on Django 5.2 (built in as django.tasks from Django 6):
    # run by jobs.tasks_framework.backend.
    *(["django_tasks"] if django.VERSION < (6,) else []),
    "accounts",
    "reports",
    "images",
    # e.g. debugging tools; the fault tests add an app of test-only actors this way.
    *env.list("EXTRA_INSTALLED_APPS", default=[]),
]

MIDDLEWARE = [
    # First: every later line of the request's log, and the jobs it enqueues, carry its id.
    "config.request_ids.RequestIdMiddleware",
    # Before anything that can answer by itself (static files, 413): every answer has the
    # security headers.
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.cache_headers.PrivateAnswersMiddleware",
    "config.json_api.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A view's database that cannot be reached: 503 + Retry-After (process_exception only).
    "config.unavailable.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it answers a locked-out login before the view runs.
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:
    # Serves collected static files under gunicorn (runserver serves them itself in DEBUG),
    # after the security headers, before the private-cache rule (static files stay public).
    MIDDLEWARE.insert(4, "servestatic.middleware.ServeStaticMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'offload.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Worker threads and the web process write concurrently: WAL lets readers proceed during a
    # write, IMMEDIATE takes the write lock at BEGIN (no deadlock-prone lock upgrades), and the
    # timeout makes a writer wait for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / "test.sqlite3")
    # The job table's covering indexes (INCLUDE) are PostgreSQL's; SQLite indexes the key columns
    # only, which is all it needs (Django 6.1 warns once per index of the model).
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
# Workers keep their connection across jobs (a new connection per job halves throughput);
# health checks replace a connection that broke while idle.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts -------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "reports:list"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First, as django-axes asks: refuses a locked-out account + IP before checking a password.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# How long a set-password link (welcome or reset email) stays valid: a link is a login, so
# hours, not Django's 3 days. An expired link's page offers a new one.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=2 * 3600)

# --- Email ----------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# For EMAIL_URL=filemail:// (one file per sent batch; the tests count emails this way).
# Separate because django-environ turns filemail:///abs/path into a relative path.
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Offload <no-reply@offload.localhost>")
# Absolute links in emails are built from this (workers have no request to read a host from).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Mail to these addresses fails with a transient SMTP error, so the retry/failure path can be
# watched end to end. On by default in development only.
FAILING_EMAIL_ADDRESSES = [
    address.lower()
    for address in env.list(
        "FAILING_EMAIL_ADDRESSES", default=["error@example.com"] if DEBUG else []
    )
]

# --- Broker ---------------------------------------------------------------------------------
REDIS_SOCKET = VAR_DIR / "redis.sock"
REDIS_URL = env.str("REDIS_URL", default=f"unix://{REDIS_SOCKET}?db=0")
# Bound every Redis call so a down or hung Redis cannot hold a web request: the enqueue fails
# fast and the job stays "pending" in the ledger instead (docs/ARCHITECTURE.md).
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=1.0)


def _with_timeouts(url: str, seconds: float) -> str:
    # Not urlunsplit: it turns "unix:///path" into "unix:/path", which redis-py rejects.
    base, _, query_string = url.partition("?")
    query = dict(parse_qsl(query_string))
    query.setdefault("socket_timeout", str(seconds))
    query.setdefault("socket_connect_timeout", str(seconds))
    return f"{base}?{urlencode(query)}"


# The broker and its middleware, built by jobs.apps once Django's models are loaded (so the
# broker's and the middleware's modules may use them), in the same form as django-dramatiq's.
# BROKER_URL=amqp://... runs the queues on RabbitMQ instead of Redis (jobs/brokers/rabbitmq.py).
BROKER_URL = env.str("BROKER_URL", default="")
JOBS_BROKER = {
    "BROKER": "jobs.brokers.redis.RedisBroker",
    "OPTIONS": {
        "url": _with_timeouts(REDIS_URL, REDIS_TIMEOUT_SECONDS),
        "namespace": env.str("DRAMATIQ_NAMESPACE", default="offload"),
        # A worker silent this long is dead and its jobs are redelivered. Dramatiq's 60 s default
        # makes crash recovery slow; much shorter and a busy live worker could look dead.
        "heartbeat_timeout": env.int("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", default=15_000),
        # How often each queue's maintenance (requeueing dead workers' jobs) is forced.
        "maintenance_interval": env.float("DRAMATIQ_MAINTENANCE_INTERVAL_SECONDS", default=5.0),
    },
    # Order matters: after_* hooks run in reverse, so the tracker, first here, sees the final
    # decision of Retries and runs after TimeLimit has disarmed (docs/ARCHITECTURE.md).
    "MIDDLEWARE": [
        "jobs.worker.tracker.JobTracker",
        # Declares a task's actor the first time a message names it (jobs/brokers/on_demand.py).
        "jobs.tasks_framework.backend.ImportTasks",
        "dramatiq.middleware.AgeLimit",
        "dramatiq.middleware.TimeLimit",
        "dramatiq.middleware.ShutdownNotifications",
        "dramatiq.middleware.Callbacks",
        "dramatiq.middleware.Pipelines",
        "dramatiq.middleware.Retries",
        "dramatiq.middleware.CurrentMessage",
        # Secret arguments cross the broker sealed; opened inside the actor's call only.
        "jobs.brokers.sealing.OpenSealedArguments",
        # Exactly-once actors complete inside their own transaction (jobs/worker/exactly_once.py);
        # after OpenSealedArguments, so its wrap of the actor's function is the inner one.
        "jobs.worker.exactly_once.CompleteInTransaction",
        # The event loop thread of `async def` actors (their attempt's context variables go along).
        "dramatiq.middleware.asyncio.AsyncIO",
        # Says when an async actor blocks that loop, naming the jobs that wait (worker log).
        "jobs.worker.loop_watch.EventLoopWatch",
        # No django_dramatiq DbConnectionsMiddleware: JobTracker manages worker connections
        # (it checked them again after each message, a SELECT 1 per job on PostgreSQL).
        "jobs.maintenance.upkeep.LedgerUpkeep",
    ],
}
if BROKER_URL.startswith(("amqp://", "amqps://")):
    JOBS_BROKER = {
        **JOBS_BROKER,
        "BROKER": "jobs.brokers.rabbitmq.RabbitmqBroker",
        "OPTIONS": {
            "url": BROKER_URL,
            # Publisher confirms: a send returns once RabbitMQ holds the message, or raises.
            "confirm_delivery": True,
            # Priority levels of each queue (x-max-priority; 0: none), jobs/brokers/priorities.py.
            # RabbitMQ cannot change it on an existing queue: README "Configuration" says how.
            "max_priority": env.int("RABBITMQ_MAX_PRIORITY", default=10) or None,
        },
    }
# django-dramatiq builds a broker from this while the apps load, before any model is: a stub
# without middleware, replaced by JOBS_BROKER's in jobs.apps.JobsConfig.ready().
DRAMATIQ_BROKER = {"BROKER": "dramatiq.brokers.stub.StubBroker", "OPTIONS": {}, "MIDDLEWARE": []}
# The outbox relay in each worker: how often it runs, and how long a job must have been pending
# (its web process's own on-commit send may still be under way) before the relay sends it.
LEDGER_UPKEEP_INTERVAL_SECONDS = env.float("LEDGER_UPKEEP_INTERVAL_SECONDS", default=5.0)
RELAY_GRACE_SECONDS = env.float("RELAY_GRACE_SECONDS", default=30.0)
# The scheduler in every worker's upkeep thread (jobs/schedules): the schedules' periodic jobs.
# Off only for tests that count every job a worker makes.
JOBS_SCHEDULER_ENABLED = env.bool("JOBS_SCHEDULER_ENABLED", default=True)
# How often the ledger-check duty checks the ledger against the broker (jobs/maintenance/duties.py).
LEDGER_CHECK_INTERVAL_SECONDS = env.float("LEDGER_CHECK_INTERVAL_SECONDS", default=60.0)
# How long `make worker` (run_workers) waits for the database and the broker before it exits 1
# with one line naming what it cannot reach (jobs/worker/health.py).
WORKER_START_TIMEOUT_SECONDS = env.float("WORKER_START_TIMEOUT_SECONDS", default=30.0)
# How often the alert rules are checked (the `alerts` duty), by the workers' upkeep and by each
# web process's watch (jobs/maintenance/watch.py): the rules that watch the workers must fire
# when no worker runs. WEB_WATCH_ENABLED=0 leaves the alerts to the workers alone.
ALERTS_INTERVAL_SECONDS = env.float("ALERTS_INTERVAL_SECONDS", default=60.0)
WEB_WATCH_ENABLED = env.bool("WEB_WATCH_ENABLED", default=True)
# Finished jobs older than this are deleted with their events (0 keeps them forever): by
# `manage.py prune_jobs`, and a few seconds per ledger check by the workers.
LEDGER_RETENTION_DAYS = env.float("LEDGER_RETENTION_DAYS", default=30.0)
# Largest JSON return value an actor may leave as its job's result; a larger or non-JSON one fails
# the job with the reason (jobs/ledger/results.py): store big outputs and return a reference.
JOBS_RESULT_MAX_BYTES = env.int("JOBS_RESULT_MAX_BYTES", default=64 * 1024)
# Result keys whose values people never see (admin, /jobs/<id>), for every actor and task; an
# actor adds its own with `secret_result_keys=(...)`. The code still gets them from result().
JOBS_SECRET_RESULT_KEYS = env.list("JOBS_SECRET_RESULT_KEYS", default=[])
# Django's Tasks framework: every app's @task runs on the workers through the ledger
# (jobs/tasks_framework/backend.py). QUEUES: the queues a task may name (workers consume each
# of them).
TASKS = {
    "default": {
        "BACKEND": "jobs.tasks_framework.backend.OffloadBackend",
        "QUEUES": env.list("TASK_QUEUES", default=["default"]),
        "OPTIONS": {
            "MAX_RETRIES": env.int("TASK_MAX_RETRIES", default=0),
            "TIME_LIMIT_SECONDS": env.float("TASK_TIME_LIMIT_SECONDS", default=600.0),
        },
    }
}
# Argument names redacted besides password, token, secret, ... (jobs/ledger/redaction.py).
JOBS_SECRET_ARGUMENT_NAMES = env.list("JOBS_SECRET_ARGUMENT_NAMES", default=[])
# django-dramatiq would otherwise also load its own `tasks` module (an actor on its unused table).
DRAMATIQ_IGNORED_MODULES = ["django_dramatiq.tasks"]

# --- Static and uploaded files --------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "servestatic.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Internationalization -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["config.formats"]

# --- Security (production) ------------------------------------------------------------------
CSRF_FAILURE_VIEW = "config.views.csrf_failure"
# Django's own names; on by default in production, so `check --deploy` passes as documented.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers and Prometheus probe these over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# Trusted only when the operator says a proxy sets it, e.g. "HTTP_X_FORWARDED_PROTO,https":
# a client could otherwise claim https itself.
SECURE_PROXY_SSL_HEADER = (
    tuple(env.list("SECURE_PROXY_SSL_HEADER")) if env.str("SECURE_PROXY_SSL_HEADER", "") else None
)
# The header (a request.META name such as HTTP_X_FORWARDED_FOR) whose last value the operator's
# proxy sets to the client's address; empty: the peer address (config/limits.py client_ip).
CLIENT_IP_HEADER = env.str("CLIENT_IP_HEADER", default="")
# Whole request bodies (JSON, forms) above this answer 413 before anything reads them.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)
# Image uploads (images/forms.py): largest file (413 over it), most pixels (twice as many is a
# decompression bomb), the formats taken, and the thumbnails' sizes (longest side, pixels).
IMAGE_MAX_BYTES = env.int("IMAGE_MAX_BYTES", default=10 * 1024 * 1024)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)
IMAGE_FORMATS = env.list("IMAGE_FORMATS", default=["JPEG", "PNG", "WEBP", "GIF"])
IMAGE_THUMBNAIL_SIZES = env.list("IMAGE_THUMBNAIL_SIZES", cast=int, default=[128, 512])
# Images decoded at once per worker process (the others wait): a decoded image can take
# IMAGE_MAX_PIXELS x 4 bytes. 0: no limit.
IMAGE_DECODES_PER_PROCESS = env.int("IMAGE_DECODES_PER_PROCESS", default=1)
# What one user's uploaded originals may add up to (bytes); an upload past it is refused (413).
IMAGE_STORAGE_QUOTA_BYTES = env.int("IMAGE_STORAGE_QUOTA_BYTES", default=100 * 1024 * 1024)

# A strict policy (django-csp): scripts and styles from this site only, no inline code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'self'"],
        "form-action": ["'self'"],
    },
}

# --- Limits (config/limits.py) --------------------------------------------------------------
# Shared by every web process: the database by default (no extra service), Redis in production
# (CACHE_URL=rediscache://host:6379/1).
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://offload_cache")}
# "N/s|m|h|d"; an empty value switches a limit off.
SIGNUP_RATE_PER_IP = env.str("SIGNUP_RATE_PER_IP", default="20/m")
PASSWORD_RESET_RATE_PER_IP = env.str("PASSWORD_RESET_RATE_PER_IP", default="20/m")
# Every mail to one mailbox (welcome, reset; any spelling of the address) shares this budget.
MAIL_RATE_PER_MAILBOX = env.str("MAIL_RATE_PER_MAILBOX", default="3/h")
REPORT_RATE_PER_USER = env.str("REPORT_RATE_PER_USER", default="30/h")
IMAGE_RATE_PER_USER = env.str("IMAGE_RATE_PER_USER", default="60/h")
# Login: locked after this many failures for one account from one IP, for LOGIN_LOCKOUT_MINUTES
# after the last failure (a failure during the lockout starts it again: a persistent guesser
# stays out).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_MINUTES", default=15.0) / 60
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "config.limits.client_ip"
AXES_LOCKOUT_CALLABLE = "config.limits.login_locked_out"
AXES_USERNAME_FORM_FIELD = "username"
# Counted per account as authentication spells it (any letter case is one account).
AXES_USERNAME_CALLABLE = "accounts.forms.login_username"
AXES_VERBOSE = False

# --- Metrics and logs -----------------------------------------------------------------------
# GET /metrics answers a request with "Authorization: Bearer <this>" (or a staff session);
# empty: only staff sessions.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A request.META name (e.g. HTTP_X_REQUEST_ID) whose id, set by the operator's proxy, is reused
# as the request id; empty: every request gets a new one.
REQUEST_ID_HEADER = env.str("REQUEST_ID_HEADER", default="")
# json: one JSON object per line (production); plain: for a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "jobs.logs.context.ContextFilter"},
        # Credentials (set-password links, ?token=) never reach a log line: jobs/logs/redaction.py.
        "redact": {"()": "jobs.logs.redaction.RedactingFilter"},
        # Not Dramatiq's "return value discarded": the ledger keeps results (jobs/logs/lines.py).
        "false_warnings": {"()": "jobs.logs.lines.DropFalseWarnings"},
    },
    "formatters": {
        "plain": {"format": "%(levelname)s %(name)s: %(message)s%(context)s"},
        "json": {
            # python-json-logger's, with ISO 8601 times (jobs/logs/lines.py).
            "()": "jobs.logs.lines.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            # `context` is the plain format's suffix; JSON has the fields themselves.
            "reserved_attrs": [*RESERVED_ATTRS, "context"],
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["false_warnings", "redact", "context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own console handler would print each django.* record a second time.
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # pika narrates every connection at INFO (six lines each); its warnings still show.
        "pika": {"level": "WARNING"},
    },
}

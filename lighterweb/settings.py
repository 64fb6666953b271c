"""Django settings, read from the environment (django-environ).

The env file comes first (lighterweb.envfile: ENV_FILE, else the checkout's `.env`). Every value
has a safe local default so `./scripts/start.sh` works on a fresh machine. With `DEBUG=false`
(production) the secrets have no default: a missing one stops the boot with ImproperlyConfigured
naming the variable; in production mode (LIGHTERWEB_MODE=production or a named ENV_FILE) DEBUG
defaults to off and a boot with neither DEBUG nor an env file is refused.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from lighterweb import envfile

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# The file read (None: the real environment alone); existing variables win over it.
ENV_FILE_READ = envfile.env_file_load(BASE_DIR)

DEBUG = env.bool("DEBUG") if "DEBUG" in os.environ else envfile.debug_default(ENV_FILE_READ)

# Only a local, debug run may fall back to a throwaway key; production must name its own.
_DEV_SECRET_KEY = "dev-insecure-key-only-for-local-use"  # noqa: S105 - debug-only fallback
_DEV_FIELD_KEY = "ZGV2LWluc2VjdXJlLWZpZWxkLWtleS0zMmJ5dGVzISE="  # base64 of 32 bytes, debug only


def _required(name: str, dev_default: str) -> str:
    """The variable's value; in production a missing or empty one is a boot error naming it."""
    value: str = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"Set the {name} environment variable (required when DEBUG is off)")


SECRET_KEY = _required("SECRET_KEY", _DEV_SECRET_KEY)
# Comma-separated Fernet keys: the first encrypts, all decrypt (rotation); see lighterweb/crypto.py.
FIELD_ENCRYPTION_KEYS: list[str] = [
    key.strip() for key in _required("FIELD_ENCRYPTION_KEYS", _DEV_FIELD_KEY).split(",") if key
]

BIND = env.str("BIND", default="127.0.0.1")
PORT = env.int("PORT", default=8000)
# The admin shows a banner when the site listens on every interface: it holds exchange keys.
EXPOSED_PUBLICLY = BIND in {"0.0.0.0", "::"}  # noqa: S104 - comparison, not a bind

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "exchange",
    "bots",
    "lighterweb",
]

MIDDLEWARE = [
    # Before host validation and the HTTPS redirect: monitors on loopback (lighterweb.healthz).
    "lighterweb.healthz.healthz_loopback_middleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "lighterweb.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "lighterweb.asgi.application"
LOGIN_URL = "admin:login"

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
                "lighterweb.context_processors.site_flags",
            ]
        },
    }
]


def _database(url: str) -> dict[str, Any]:
    """DATABASE_URL parsed; SQLite gets WAL and IMMEDIATE transactions.

    IMMEDIATE takes the write lock at BEGIN, so two processes writing never deadlock on a lock
    upgrade ("database is locked" mid-transaction); WAL lets readers run beside the writer.
    """
    config: dict[str, Any] = env.db_url_config(url)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config.setdefault("OPTIONS", {}).update(
            {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                ),
            }
        )
        # A file, not Django's shared-cache in-memory DB: shared cache has table locks that
        # ignore busy_timeout, so concurrent tests would fail where production would wait.
        # One file per process, because several test runs may share a checkout.
        test_name = Path(tempfile.gettempdir()) / f"lighterweb-test-{os.getpid()}.sqlite3"
        config.setdefault("TEST", {"NAME": str(test_name)})
        # SQLite creates the file but not its folder (var/ is not in a fresh clone).
        if config["NAME"] not in ("", ":memory:"):
            Path(config["NAME"]).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    else:
        # Several test runs may share one server: each gets its own test database.
        config.setdefault(
            "TEST", {"NAME": f"test_{config.get('NAME') or 'lighterweb'}_{os.getpid()}"}
        )
        config.setdefault("CONN_MAX_AGE", 60)
        config.setdefault("CONN_HEALTH_CHECKS", True)
    return config


DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

# A consumer waits for its next message with BZPOPMIN for up to 5 s (channels_redis'
# brpop_timeout); redis-py 8 gives every connection a 5 s socket timeout by default, which cut
# that wait short and closed every idle dashboard websocket with 1011 after about 5 s. The read
# timeout must outlast the blocking pop; it still notices a dead Redis.
CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS = 15.0
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "lighterweb.channel_layer.PushChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT_SECONDS,
                    "socket_connect_timeout": 5.0,
                }
            ],
            "prefix": "lighterweb:channels",
        },
    }
}

# Celery (namespace CELERY_ in lighterweb/celery.py). Tasks are acked early: design decision 4.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ROUTES = {"bots.tasks.run_bot_task": {"queue": "bots"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_HEARTBEAT_SECONDS = 15.0
# Per checkout, not a fixed /tmp path that every deployment on the host would share.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "beat-heartbeat": {
        "task": "lighterweb.celery.beat_heartbeat_task",
        "schedule": CELERY_BEAT_HEARTBEAT_SECONDS,
    }
}
BEAT_HEARTBEAT_KEY = "lighterweb:beat:last_seen"

# Backtests (bots.backtest). A sweep runs its configs on this many processes (0: one per core;
# 1: in the worker's own process). CSV uploads wait in CANDLE_UPLOAD_DIR for the default worker
# that imports them (the web and that worker run on the same machine: Procfile).
BACKTEST_SWEEP_PROCESSES = env.int("BACKTEST_SWEEP_PROCESSES", default=0)
CANDLE_UPLOAD_DIR = env.path("CANDLE_UPLOAD_DIR", default=VAR_DIR / "candle-uploads")

# Lighter networks: `paper` is the local simulator (lighter_sim).
LIGHTER_PAPER_URL = env.str("LIGHTER_PAPER_URL", default="http://127.0.0.1:8089")
# The simulator config start.sh's `sim` process loads; provision_paper writes its paper account.
# The paper account's tier: "standard" (no fees, 60 requests a minute, Lighter's default) or
# "premium" (Lighter's premium maker/taker fees and request budget).
PAPER_TIER = env.str("PAPER_TIER", default="standard")
if PAPER_TIER not in ("standard", "premium"):
    raise ImproperlyConfigured(f"PAPER_TIER must be standard or premium, not {PAPER_TIER!r}")
PAPER_SIM_CONFIG = env.path("PAPER_SIM_CONFIG", default=VAR_DIR / "sim-config.json")
# Where lighter_sim keeps the paper venue (accounts, orders, positions, ids) across restarts.
PAPER_SIM_STATE = env.path("PAPER_SIM_STATE", default=VAR_DIR / "sim-state.json")

# Bot runners: a lease lives this long without a heartbeat; the supervisor restarts a bot that
# should run once its lease is gone and it has had this long to start.
BOT_LEASE_TTL_SECONDS = env.float("BOT_LEASE_TTL_SECONDS", default=15.0)
# A bot whose every placement the exchange refuses for this long ends in error with the reason.
BOT_REFUSED_GIVE_UP_SECONDS = env.float("BOT_REFUSED_GIVE_UP_SECONDS", default=60.0)
BOT_START_GRACE_SECONDS = env.float("BOT_START_GRACE_SECONDS", default=30.0)

# Alerts and metrics (bots/notify). Telegram's API base is a setting so tests can use a local fake.
TELEGRAM_API_URL = env.str("TELEGRAM_API_URL", default="https://api.telegram.org")
NOTIFY_COALESCE_SECONDS = env.float("NOTIFY_COALESCE_SECONDS", default=30.0)
NOTIFY_RATE_PER_MINUTE = env.int("NOTIFY_RATE_PER_MINUTE", default=20)
# Bearer token for /metrics from other hosts; without one only direct loopback scrapes get in.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Email channels: smtp://user:password@host:587 (smtp+tls://, smtp+ssl://) or consolemail://.
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="lighterweb@localhost")

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# AUTH_PASSWORD_VALIDATORS: in the security block at the end.

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Monitors probe /healthz over plain HTTP on loopback (lighterweb.healthz); no redirect.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading is hard to undo, so it is the operator's explicit choice; until then
    # `check --deploy` (scripts/release.sh) need not warn about it on every release.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    # TLS ends at the reverse proxy, which must set this header (README "Deploy on a VPS").
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
USE_TZ = True
# The admin shows times in this zone (e.g. TIME_ZONE=Europe/Paris), with seconds and the zone's
# name (lighterweb/formats); the dashboard shows the browser's local time.
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["lighterweb.formats"]

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# One line format for every process: daphne and Django use LOGGING, Celery its own two formats.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
CELERY_WORKER_LOG_FORMAT = LOG_FORMAT
CELERY_WORKER_TASK_LOG_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s %(task_name)s[%(task_id)s] %(message)s"
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": LOG_FORMAT}},
    # Celery's INFO lines about the every-few-seconds housekeeping tasks go to DEBUG.
    "filters": {"routine_tasks": {"()": "lighterweb.log_filters.RoutineTasksAtDebug"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        name: {"filters": ["routine_tasks"]}
        for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace")
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}


# -- security (issue 13): request limits, roles, login, sessions, CSP ---------------------------
# Kept together here; lighterweb.limits, lighterweb.roles and docs/security.md explain them.

# A request body over this is answered 413 before Django reads it (lighterweb.limits).
REQUEST_BODY_MAX_BYTES = env.int("REQUEST_BODY_MAX_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
# The admin's candle CSV upload (a year of 1-minute candles is ~40 MB) may be larger; its body is
# streamed to Django, which spools the file to disk, never held in memory whole.
CANDLE_UPLOAD_MAX_BYTES = env.int("CANDLE_UPLOAD_MAX_BYTES", default=128 * 1024 * 1024)
REQUEST_BODY_LARGE_PATHS = {"/admin/bots/candle/upload/": CANDLE_UPLOAD_MAX_BYTES}

# Error reports (the debug page too) star out sensitive locals and POST fields (keys, tokens).
DEFAULT_EXCEPTION_REPORTER_FILTER = "lighterweb.reporting.AlwaysSafeExceptionReporterFilter"

# Open dashboard websockets re-check their user's access this often (bots.dashboard.consumers).
DASHBOARD_ACCESS_RECHECK_SECONDS = env.float("DASHBOARD_ACCESS_RECHECK_SECONDS", default=5.0)

# The SQLite database (and so its WAL/SHM files) is 0600 and var/ 0700 from creation
# (lighterweb.private_files); a database elsewhere gets its own file made private, not its folder.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and DATABASES["default"][
    "NAME"
] not in ("", ":memory:"):
    from lighterweb.private_files import private_sqlite_file

    _db_path = Path(DATABASES["default"]["NAME"]).resolve()
    private_sqlite_file(_db_path, tighten_dir=_db_path.parent == VAR_DIR.resolve())

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT failures a username, and separately
# a client address, is locked out for LOGIN_LOCKOUT_MINUTES (or until an admin unlocks it in the
# admin's "Access attempts"). Behind a reverse proxy, run daphne with --proxy-headers so the
# client address is the caller's, not the proxy's. Two-factor login (django-otp TOTP):
# lighterweb.twofactor; REQUIRE_2FA makes it mandatory for the admin role.
INSTALLED_APPS += ["axes", "django_otp", "django_otp.plugins.otp_totp"]
_AUTH_MIDDLEWARE = MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")
MIDDLEWARE[_AUTH_MIDDLEWARE + 1 : _AUTH_MIDDLEWARE + 1] = [
    "django_otp.middleware.OTPMiddleware",
    "lighterweb.twofactor.Require2FAMiddleware",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one alone locks
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=not DEBUG)
OTP_TOTP_ISSUER = "LighterWeb"

# Passwords of at least 12 characters; sessions end after SESSION_IDLE_TIMEOUT_SECONDS without
# a request (every request pushes the expiry on), and /account/logout-everywhere/ ends them all.
AUTH_PASSWORD_VALIDATORS: list[dict[str, Any]] = [
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_TIMEOUT_SECONDS", default=12 * 3600)
SESSION_SAVE_EVERY_REQUEST = True

# The admin's red banner: any address but loopback exposes the site (0, 0.0.0.0, ::, a LAN or a
# public address; lighterweb.bind).
from lighterweb.bind import bind_exposed  # noqa: E402 - grouped with the security settings

EXPOSED_PUBLICLY = bind_exposed(BIND)

# Content-Security-Policy (django-csp): scripts, styles, fonts and images only from the site
# itself (the API docs' Swagger UI is vendored in static/), no inline script or style, no
# framing; websockets to the site itself.
INSTALLED_APPS += ["ninja", "csp"]  # ninja: its docs render our templates/ninja/swagger.html
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "csp.middleware.CSPMiddleware",
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # The one <style> the vendored lightweight-charts 5.2.1 injects (its attribution logo),
        # allowed by its hash; a new chart version needs its new hash (tests/browser/test_csp.py).
        "style-src": ["'self'", "'sha256-3pRED1tOXas1FXFoPb9TGCjmYe9XQsmO9OV23khV2nY='"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

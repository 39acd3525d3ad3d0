"""Project settings, read from the environment.

DATABASE_URL selects the database: a SQLite file in the project by default,
``postgres://user@host/db`` for PostgreSQL (psycopg 3).
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)  # on only when asked for: `make run` sets DEBUG=1
# No built-in key outside DEBUG. Without one the web server refuses to start (inbox/serving.py);
# commands that sign nothing (migrate, durable_worker, checks) still run.
SECRET_KEY = os.environ.get("SECRET_KEY") or ("django-insecure-dev-only-key" if DEBUG else "")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "axes",
    "durable",
    "inbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "inbox.caching.NoStoreMiddleware",  # after WhiteNoise: static files keep their long cache
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "inbox.badinput.BadInputMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]

ROOT_URLCONF = "inbox.urls"
WSGI_APPLICATION = "inbox.wsgi.application"
ASGI_APPLICATION = "inbox.asgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=600,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE takes the
    # write lock at BEGIN so two writers queue on the busy timeout instead of
    # failing with "database is locked" half-way through a transaction.
    # Connections are kept (CONN_MAX_AGE as above): a worker thread that reopened
    # its connection for every run paid a connect and these pragmas each time.
    # synchronous=FULL flushes every commit: a power loss or an OS crash loses no start,
    # send or step result the caller saw committed (NORMAL, in WAL mode, survives a killed
    # process but not those, and commits about 1.4x faster: SQLITE_SYNCHRONOUS=NORMAL).
    SQLITE_SYNCHRONOUS = os.environ.get("SQLITE_SYNCHRONOUS", "FULL").upper()
    if SQLITE_SYNCHRONOUS not in ("FULL", "EXTRA", "NORMAL"):
        raise ImproperlyConfigured(
            f"SQLITE_SYNCHRONOUS={SQLITE_SYNCHRONOUS!r} is not one the engine runs with: use FULL (the "
            "default: every commit flushed), EXTRA, or NORMAL (faster; a power loss can lose the last commits)."
        )
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous={SQLITE_SYNCHRONOUS};",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SQLITE_TEST_NAME", str(BASE_DIR / "var" / "test.sqlite3"))}

# CockroachDB mode on PostgreSQL (CI's third pass): its isolation level, and no LISTEN/NOTIFY.
# The server default covers statements outside transactions too, which isolation_level does not.
if os.environ.get("DATABASE_ISOLATION") == "serializable" and "postgresql" in DATABASES["default"]["ENGINE"]:
    from psycopg import IsolationLevel

    DATABASES["default"].setdefault("OPTIONS", {}).update(
        isolation_level=IsolationLevel.SERIALIZABLE, options="-c default_transaction_isolation=serializable"
    )
if "DURABLE_USE_NOTIFY" in os.environ:
    DURABLE_USE_NOTIFY = env_bool("DURABLE_USE_NOTIFY", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: it refuses a locked-out sign-in before any password check
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "inbox:list"
LOGOUT_REDIRECT_URL = "login"

# The demo agents' model: a Pydantic AI model string ("openai:gpt-5"); empty for the offline scripts.
INBOX_MODEL = os.environ.get("INBOX_MODEL", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"durable": {"handlers": ["console"], "level": os.environ.get("DURABLE_LOG_LEVEL", "INFO")}},
}


# --- Production hardening -------------------------------------------------------------------------

# HTTPS=1: served over HTTPS behind a proxy that terminates TLS and sets X-Forwarded-Proto
# (and strips any the client sent). Cookies only travel encrypted; plain HTTP is redirected; HSTS
# tells browsers to use HTTPS for this domain and its subdomains for a year (preload-eligible).
if env_bool("HTTPS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", 365 * 24 * 3600))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = True

# Scripts and styles come only from our own static files (htmx is served from django-htmx's):
# no inline script, no inline event handler, no eval, nothing framed or loaded from elsewhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # the favicon is a data: URL
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Sign-in throttling (django-axes): 5 wrong passwords for one username from one address lock that
# pair out for 15 minutes. Keyed on the pair, so a reviewer behind a shared address is not locked
# out by someone else's typos, and nobody can lock an account from another address. A successful
# sign-in clears the count. Unlock early: `manage.py axes_reset_username <name>`.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # the attempts are not audit history; the reset commands above manage them
AXES_DISABLE_ACCESS_LOG = True  # failed attempts are still counted; successful sign-ins are not logged
AXES_COOLOFF_MESSAGE = (
    "Too many wrong passwords for this username from your address: sign-in is locked for 15 minutes. "
    "Try again later, or ask an admin to unlock it (manage.py axes_reset_username <name>)."
)

# --- Inbox for teams: notifications, claims, API ----------------------------------------------------

# E-mail goes through Django's e-mail framework: printed to the console under `make run` (DEBUG),
# sent by SMTP (EMAIL_HOST, ...) otherwise.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "inbox@localhost")
# The outgoing webhook (Slack-compatible JSON, HMAC-SHA256 signed with the secret); off when empty.
INBOX_WEBHOOK_URL = os.environ.get("INBOX_WEBHOOK_URL", "")
INBOX_WEBHOOK_SECRET = os.environ.get("INBOX_WEBHOOK_SECRET", "")
INBOX_BASE_URL = os.environ.get("INBOX_BASE_URL", "http://127.0.0.1:8000")  # links in notifications
INBOX_NOTIFY_ATTEMPTS = int(os.environ.get("INBOX_NOTIFY_ATTEMPTS", "6"))  # per channel; pauses double from:
INBOX_NOTIFY_RETRY_SECONDS = float(os.environ.get("INBOX_NOTIFY_RETRY_SECONDS", "30"))
INBOX_CLAIM_MINUTES = 30  # how long "I'm on it" holds a request

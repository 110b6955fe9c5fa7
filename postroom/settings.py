"""Postroom settings: one module, driven by environment variables, with defaults that run on a laptop.

Every setting an operator may change is read here through the small typed helpers below, which fail
loudly on a value they cannot understand instead of silently falling back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

from postroom.datadir import data_dir, secret_file
from postroom.logs import logging_config
from postroom.queue_file import QueueConnection


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (use true or false)")


def envint(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None


def envlist(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def subscriptable_at_run_time() -> None:
    """Let the Django classes our code subscripts outside annotations (`forms.ModelForm[Mailbox]` as a
    base class, `models.Field[Any, Any]` as an alias) be subscripted at run time as in the type stubs;
    QuerySet and Manager can be natively. django_stubs_ext.monkeypatch() does this for every class, but
    importing it pulls in django.contrib.admin, sitemaps, syndication and the generic views (~20 ms of
    every process's start-up), while both modules here are imported by any model module anyway. Code that
    subscripts another class at run time fails at import with TypeError: add the class here."""
    from django.db.models import Field
    from django.forms import BaseModelForm

    classes: tuple[type, ...] = (BaseModelForm, Field)
    for cls in classes:
        if "__class_getitem__" not in vars(cls):
            cls.__class_getitem__ = classmethod(lambda cls, *args: cls)  # type: ignore[attr-defined]


subscriptable_at_run_time()

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = data_dir()

DEBUG = envbool("POSTROOM_DEBUG", False)
SECRET_KEY = os.environ.get("POSTROOM_SECRET_KEY") or secret_file("django-secret-key", "django")
ALLOWED_HOSTS = envlist("POSTROOM_ALLOWED_HOSTS") or ["127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = envlist("POSTROOM_CSRF_TRUSTED_ORIGINS")

# Secrets at rest (mailbox passwords, later OAuth tokens). A comma-separated list of Fernet keys, newest
# first: the first encrypts, all decrypt, so a key can be rotated without downtime (see `postroom.crypto`).
# Without the variable the ring is the data directory's file `encryption-key` (one key per line, newest
# first), which `postroom keys rotate` and `postroom keys retire` rewrite.
POSTROOM_KEY_RING_FILE = "" if envlist("POSTROOM_ENCRYPTION_KEYS") else str(DATA_DIR / "encryption-key")
POSTROOM_ENCRYPTION_KEYS = (
    envlist("POSTROOM_ENCRYPTION_KEYS") or secret_file("encryption-key", "fernet").split()
)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "postroom.accounts",
    "postroom.organizations",
    "postroom.crm",
    "postroom.mailboxes",
    "postroom.messages",
    "postroom.sync",
    "postroom.processing",
    "postroom.outbox",
    "postroom.autoresponse",
    "postroom.audit",
    "postroom.web",
    "postroom.api",
    "postroom.operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "postroom.audit.actor.RequestActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "postroom.web.security.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "postroom.urls"
WSGI_APPLICATION = "postroom.wsgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "postroom.web.context.navigation",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'postroom.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; the timeout rides out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        # 16 KB pages (for new databases; must come before WAL): stored mail is mostly 50 KB raw messages,
        # and with 4 KB pages writing them took 4x the system calls (measured: -18% CPU per stored message).
        "init_command": "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Test databases on disk too (not the shared-cache in-memory default), so tests see the same locking
    # as production: WAL and the busy timeout instead of "database table is locked" between threads.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the app folders: no collectstatic step for the embedded default.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # forms carry the token; no script needs to read the cookie
# POSTROOM_HTTPS: Postroom is reached over HTTPS (directly or behind a TLS proxy), so cookies are sent over
# HTTPS only. POSTROOM_SECURE_COOKIES is its older name. POSTROOM_PROXY_SSL_HEADER: trust the proxy's
# X-Forwarded-Proto: https (only behind a proxy that sets it, or any client could claim HTTPS).
SESSION_COOKIE_SECURE = envbool("POSTROOM_HTTPS", False) or envbool("POSTROOM_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if envbool("POSTROOM_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# Background work. Huey with SQLite storage in the data directory by default; Redis when REDIS_URL is set,
# so that any number of workers on any number of machines share one queue with the same code.
# huey.contrib.djhuey (which builds the queue from HUEY) is deliberately not in INSTALLED_APPS: it has no
# models, and importing huey imports redis and psycopg whatever the storage (~0.1 s). The worker and the
# tasks modules import it when they need the queue, so commands that never enqueue never pay for it.
REDIS_URL = os.environ.get("REDIS_URL", "")
HUEY: dict[str, Any]
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.PriorityRedisHuey",
        "name": envstr("POSTROOM_QUEUE_NAME", "postroom"),
        "url": REDIS_URL,
        "immediate": False,
        # Nothing reads task return values; kept, they would pile up in Redis forever.
        "results": False,
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": envstr("POSTROOM_QUEUE_NAME", "postroom"),
        "filename": str(DATA_DIR / "queue.sqlite3"),
        "factory": QueueConnection,  # synchronous=NORMAL, as the database (see postroom.queue_file)
        "immediate": envbool("POSTROOM_QUEUE_IMMEDIATE", False),
        "results": False,
    }

# IMAP IDLE: each worker watches the INBOX of mailboxes that support it (one watcher per mailbox across
# all workers), so new mail arrives within seconds instead of at the next poll.
POSTROOM_IDLE = envbool("POSTROOM_IDLE", True)

# How many mailbox syncs one worker process runs at once (IDLE watchers and queued syncs alike); each
# sync of a large backlog holds ~150 MB, so this bounds a worker's memory however many mailboxes it watches.
POSTROOM_SYNC_CONCURRENCY = max(envint("POSTROOM_SYNC_CONCURRENCY", 2), 1)

# /metrics (Prometheus) answers only requests carrying "Authorization: Bearer <this>"; unset, it is off.
POSTROOM_METRICS_TOKEN = envstr("POSTROOM_METRICS_TOKEN", "")

# Where people reach this install (e.g. https://mail.example.com): links in mail Postroom sends (the
# auto-reply variable record.link) are absolute with it, and paths from the site's root without it.
POSTROOM_BASE_URL = envstr("POSTROOM_BASE_URL", "").rstrip("/")
if POSTROOM_BASE_URL and not POSTROOM_BASE_URL.startswith(("https://", "http://")):
    raise ValueError(f"POSTROOM_BASE_URL={POSTROOM_BASE_URL!r} must start with https:// or http://")

# Console log, plain text or one JSON object per line (POSTROOM_LOG_FORMAT=json); every line carries the
# organization and mailbox it is about, and secrets are masked (see postroom/logs.py).
LOGGING = logging_config(envstr("POSTROOM_LOG_FORMAT", "plain"), envstr("POSTROOM_LOG_LEVEL", "INFO"))

# Outbound connections to mail servers (M3, see postroom/sync/allowlist.py). POSTROOM_OUTBOUND_ALLOW: comma-
# separated host names, IPs or CIDR networks, each optionally with :port; empty allows every target.
# POSTROOM_EXTRA_CA_FILE: a PEM file of CA certificates trusted in addition to the system's (a private CA).
POSTROOM_OUTBOUND_ALLOW = envlist("POSTROOM_OUTBOUND_ALLOW")
POSTROOM_EXTRA_CA_FILE = envstr("POSTROOM_EXTRA_CA_FILE", "")

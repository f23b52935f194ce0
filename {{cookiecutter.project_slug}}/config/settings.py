"""Settings for {{ cookiecutter.project_name }}, read from the environment.

Locally the values come from `.env` (written at generation time, ignored by git); in Docker,
compose.yaml passes them in. `.env.example` lists and explains every variable.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Real environment variables win over .env, so compose and CI can override any line of it.
environ.Env.read_env(BASE_DIR / ".env")

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
# The port plain `./manage.py runserver` serves: the one compose publishes Django on, and the one
# the client's dev server forwards to (client/vite.config.ts).
DJANGO_PORT = env.int("DJANGO_PORT", default={{ cookiecutter.django_port }})

# --- HTTPS: on whenever DEBUG is off (`./manage.py check --deploy` passes); each setting can be
# overridden from .env, e.g. while trying a production build on plain http://localhost. ---
PRODUCTION = not DEBUG
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=PRODUCTION)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION
)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=PRODUCTION)
# TLS usually ends at a proxy in front of gunicorn, which says so in X-Forwarded-Proto. Trust that
# header only behind such a proxy: a client could send it too.
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=PRODUCTION):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Origins (scheme://host[:port]) allowed to POST forms across sites, e.g. https://app.example.com.
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Error pages (DEBUG) and error e-mails hide what Django's own filter shows: the passwords in
# DATABASE_URL and other connection strings, and key material in a traceback's variables.
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.error_reports.SecretHidingFilter"

INSTALLED_APPS = [
    # The project's own package, first: its `runserver` (config/management/commands/) serves the
    # port compose publishes, and Django must find it before django.contrib.staticfiles' own.
    "config",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "users",
    "electric",
{%- if cookiecutter.use_changefeed == "yes" %}
    "changefeed",
{%- endif %}
    "items",
]

AUTH_USER_MODEL = "users.User"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files from gunicorn, compressed, with no web server in front.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project-wide templates (the home page); each app keeps its own in <app>/templates/.
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

WSGI_APPLICATION = "config.wsgi.application"

# Two aliases, one physical database.
#   default: a direct connection, for the app's reads and writes.
#   proxy:   Electric's migrations proxy. Migrations go through it
#            (`./manage.py migrate --database=proxy`) so Electric sees every schema change and
#            can run DDLX such as `ALTER TABLE items ENABLE ELECTRIC`.
DEFAULT_DATABASE = env.db("DATABASE_URL")
DATABASES = {
    "default": DEFAULT_DATABASE,
    "proxy": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": env.str("ELECTRIC_PROXY_HOST", default="localhost"),
        "PORT": env.int("ELECTRIC_PROXY_PORT", default={{ cookiecutter.pg_proxy_port }}),
        # The proxy accepts any user name (but "prisma" and "transparent" switch its mode) and
        # checks only the password.
        "USER": "postgres",
        "PASSWORD": env.str("PG_PROXY_PASSWORD"),
        # Ignored by the proxy, which always works on the database in Electric's DATABASE_URL;
        # the same name keeps the alias usable against a plain Postgres.
        "NAME": DEFAULT_DATABASE["NAME"],
        # The proxy answers TLS requests with "no"; sslmode=require would fail.
        "OPTIONS": {"sslmode": "disable"},
        # The test runner must never create or flush a database through the proxy: in tests
        # this alias is the default test database under another name.
        "TEST": {"MIRROR": "default"},
    },
}

# Electric's sync service, as a browser on this machine reaches it (compose publishes it there);
# the home page shows it. The client reads its own copy: client/.env's ELECTRIC_SERVICE.
ELECTRIC_URL = env.str("ELECTRIC_URL", default="http://localhost:{{ cookiecutter.electric_http_port }}")

# ENABLE ELECTRIC is only understood by Electric's proxy. Test databases (and a plain Postgres
# with no Electric in front) have no proxy: there this setting skips the statement, with a log line.
ELECTRIC_SKIP_DDLX = env.bool("ELECTRIC_SKIP_DDLX", default=False)

{%- if cookiecutter.use_changefeed == "yes" %}

# The change feed (`./manage.py consume_changes`): its own slot and publication, never Electric's.
CHANGEFEED_NAME = "{{ cookiecutter.project_slug }}_changefeed"
CHANGEFEED_SLOT = env.str("CHANGEFEED_SLOT", default=CHANGEFEED_NAME)
CHANGEFEED_PUBLICATION = env.str("CHANGEFEED_PUBLICATION", default=CHANGEFEED_NAME)
# The sample app's table: when you remove `items`, name your own (check changefeed.E001 says so).
CHANGEFEED_TABLES = env.list("CHANGEFEED_TABLES", default=["items"])
# Dotted paths of functions called in order with each transaction, inside the store's transaction.
CHANGEFEED_HANDLERS = env.list("CHANGEFEED_HANDLERS", default=[])
# Where consume_changes puts the changes (--sink): store, jsonl or redis.
CHANGEFEED_SINK = env.str("CHANGEFEED_SINK", default="store")
# `consume_changes --sink redis` and `read_changes`: the server, and the streams' names ({table}:
# the qualified table name, e.g. changefeed.public.items).
CHANGEFEED_REDIS_URL = env.str("CHANGEFEED_REDIS_URL", default="")
CHANGEFEED_REDIS_STREAM = env.str("CHANGEFEED_REDIS_STREAM", default="changefeed.{table}")
{%- endif %}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "{{ cookiecutter.time_zone }}"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` gathers static files, which WhiteNoise serves.
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Electric client auth ---
# Django signs each client's token (GET /electric/token/, electric/tokens.py) with the settings
# Electric verifies it with, read from the same variables under Electric's own names, so one .env
# configures both. insecure: Electric checks no signature (local development); secure: production.
ELECTRIC_AUTH_MODE = env.str("ELECTRIC_AUTH_MODE", default="insecure")
# With DEBUG off, insecure mode is refused (check electric.E021, and the WSGI and ASGI entry points
# refuse to start) unless this says that it is meant.
ELECTRIC_ALLOW_INSECURE_AUTH = env.bool("ELECTRIC_ALLOW_INSECURE_AUTH", default=False)
ELECTRIC_AUTH = {
    # Unset or empty: HS256, the default compose.yaml passes to Electric too.
    "ALG": env.str("AUTH_JWT_ALG", default="") or "HS256",
    "KEY": env.str("AUTH_JWT_KEY", default=""),
    # Kept as written: Electric reads anything but "false", "0" or "" as true, django-environ
    # reads "1", "yes", "on"... as true. Only exactly "true" or "false" means the same to both
    # (checked: electric.E013); unset or empty is "false" to both.
    "KEY_IS_BASE64_ENCODED": env.str("AUTH_JWT_KEY_IS_BASE64_ENCODED", default="") or "false",
    # Optional claims: an empty value means unset.
    "NAMESPACE": env.str("AUTH_JWT_NAMESPACE", default="") or None,
    "ISS": env.str("AUTH_JWT_ISS", default="") or None,
    "AUD": env.str("AUTH_JWT_AUD", default="") or None,
    "TOKEN_LIFETIME": timedelta(seconds=env.int("ELECTRIC_TOKEN_LIFETIME_SECONDS", default=900)),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "electric": {"handlers": ["console"], "level": env.str("ELECTRIC_LOG_LEVEL", "INFO")},
{%- if cookiecutter.use_changefeed == "yes" %}
        "changefeed": {"handlers": ["console"], "level": env.str("CHANGEFEED_LOG_LEVEL", "INFO")},
{%- endif %}
    },
}

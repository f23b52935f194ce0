"""Error pages (DEBUG) and error e-mails show no password, connection string or key material.

config/error_reports.py's filter, through Django's own machinery: the test client's technical
500 page, the e-mail sent to ADMINS, and a real 500 with the database down, served by the WSGI
application with the process environment in request.META, as runserver serves it.
"""

import os
import secrets
import socket
import subprocess
import sys

import pytest
from django.core import mail
from django.test import Client
from django.urls import path
from django.views.debug import get_default_exception_reporter_filter

from config.error_reports import SecretHidingFilter, redact_passwords
from tests.compose_file import PROJECT, read_env_file

STARS = SecretHidingFilter.cleansed_substitute
# One distinct secret per place it could leak from.
SECRET = {place: f"{place}-{secrets.token_urlsafe(12)}" for place in (
    "conninfo", "dsn", "url_variable", "key", "signing_key", "token", "conn_params", "attempts",
    "message", "nested", "bytes", "setting_dsn", "setting_url", "setting_dict", "setting_text",
    "meta_url", "meta_header",
)}  # fmt: skip


def boom(request):
    """A view that fails with secrets in its variables, as a database driver's frames hold them."""
    conninfo = f"host=db user=app password={SECRET['conninfo']} dbname=app"
    dsn = f"postgres://app:{SECRET['dsn']}@db:5432/app"
    database_url = f"postgresql://app:{SECRET['url_variable']}@db/app"
    key = SECRET["key"]
    signing_key = SECRET["signing_key"].encode()
    api_token = SECRET["token"]
    conn_params = {"host": "db", "password": SECRET["conn_params"]}
    attempts = [{"host": "db", "password": SECRET["attempts"]}]
    message = f"could not reach amqp://:{SECRET['message']}@mq:5672/"
    nested = {"aliases": [("default", {"PASSWORD": SECRET["nested"]})]}
    raw = f"amqp://guest:{SECRET['bytes']}@mq:5672/".encode()
    shown = "a value that stays visible"
    # Not in the message: the page would show it, whatever the filter. (locals() also tells ruff
    # that the variables are used.)
    raise RuntimeError(f"boom, with {len(locals())} variables")


urlpatterns = [path("boom/", boom)]


@pytest.fixture
def boom_urls(settings):
    # This module itself, not imported again by name (its secrets would differ).
    settings.ROOT_URLCONF = sys.modules[__name__]


@pytest.fixture
def secret_settings(settings):
    settings.SENTRY_DSN = f"https://public:{SECRET['setting_dsn']}@sentry.example.com/1"
    settings.CACHE_URL = f"memcache://app:{SECRET['setting_url']}@cache:11211"
    settings.BROKER = {"url": f"amqp://app:{SECRET['setting_dict']}@mq/"}
    settings.NOTE = f"the replica is postgres://app:{SECRET['setting_text']}@replica/app"
    return settings


def get_boom(client, accept):
    return client.get(
        "/boom/",
        headers={"accept": accept, "x-upstream": f"postgres://u:{SECRET['meta_header']}@up/db"},
        # As runserver copies the environment into request.META.
        DATABASE_URL=f"postgres://app:{SECRET['meta_url']}@db:5432/app",
    )


def leaked(text):
    return sorted(place for place, secret in SECRET.items() if secret in text)


def test_the_project_uses_the_filter():
    assert isinstance(get_default_exception_reporter_filter(), SecretHidingFilter)


@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_the_debug_page_shows_no_secret(boom_urls, secret_settings, accept):
    secret_settings.DEBUG = True
    client = Client(raise_request_exception=False)

    response = get_boom(client, accept)

    assert response.status_code == 500
    text = response.content.decode()
    assert "RuntimeError" in text
    assert leaked(text) == []
    # What is not secret stays, to debug with: URLs with their passwords starred, other settings.
    assert f"postgres://app:{STARS}@replica/app" in text
    assert "STATIC_URL" in text and "DATABASE_URL" in text
    if accept == "text/html":  # the page with the traceback's variables
        assert "a value that stays visible" in text
        assert f"amqp://:{STARS}@mq:5672/" in text


def test_the_error_email_shows_no_secret(boom_urls, secret_settings):
    secret_settings.DEBUG = False
    secret_settings.ADMINS = [("Ops", "ops@example.com")]
    client = Client(raise_request_exception=False)

    response = get_boom(client, "text/html")

    assert response.status_code == 500
    [email] = mail.outbox
    assert "RuntimeError" in email.body and "DATABASE_URL" in email.body
    assert leaked(email.body) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("postgres://u:pw@h:5432/db", f"postgres://u:{STARS}@h:5432/db"),
        ("amqp://:pw@mq:5672/", f"amqp://:{STARS}@mq:5672/"),
        # An unescaped "@" in the password: all of it is hidden, up to the host.
        ("postgres://u:p@ss@h/db?to=a@b", f"postgres://u:{STARS}@h/db?to=a@b"),
        ("host=db password=pw port=5432", f"host=db password={STARS} port=5432"),
        ("host=db password='p w' port=5432", f"host=db password={STARS} port=5432"),
        ("postgres://h/db?user=u&password=pw&x=1", f"postgres://h/db?user=u&password={STARS}&x=1"),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("http://localhost:8000/path@x", "http://localhost:8000/path@x"),
    ],
)
def test_passwords_are_starred_and_nothing_else(text, expected):
    assert redact_passwords(text) == expected


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The WSGI application serving one request with the process environment in request.META, as
# runserver's handler (wsgiref) does, and a session cookie, so that the admin reads the database.
SERVE_ONE_REQUEST = """
import os, sys, wsgiref.util
if sys.argv[1] == "psycopg2":
    sys.modules["psycopg"] = None  # Django then uses psycopg2, as the deployed app does
from config.wsgi import application
environ = dict(os.environ)
wsgiref.util.setup_testing_defaults(environ)
environ.update(PATH_INFO="/admin/", HTTP_COOKIE="sessionid=" + "a" * 32, HTTP_ACCEPT=sys.argv[2])
statuses = []
body = application(environ, lambda status, headers, exc_info=None: statuses.append(status))
print(statuses[0])
print(b"".join(body).decode())
"""


@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_a_500_with_the_database_down_shows_no_secret(driver, accept):
    env_file = read_env_file()
    password = env_file["POSTGRES_PASSWORD"]
    result = subprocess.run(
        [sys.executable, "-c", SERVE_ONE_REQUEST, driver, accept],
        cwd=PROJECT,
        env={
            **os.environ,
            "DJANGO_DEBUG": "true",
            # Nothing listens there: the database is down.
            "DATABASE_URL": f"postgres://postgres:{password}@127.0.0.1:{free_port()}/app",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    status, page = result.stdout.split("\n", 1)
    assert status == "500 Internal Server Error"
    assert "OperationalError" in page
    # The connection's settings are there, for debugging, without their secrets.
    assert "DATABASE_URL" in page
    if accept == "text/html":  # the page with the traceback's variables
        assert "conn_params" in page
    assert password not in page + result.stderr
    for name, value in env_file.items():
        if name.endswith(("PASSWORD", "SECRET_KEY", "JWT_KEY")):
            assert value not in page + result.stderr, name

"""The home page (GET /): what runs where, and where to go next; never a secret."""

import pytest
from django.urls import reverse
from django.utils.html import escape

PROJECT_NAME = {{ cookiecutter.project_name|tojson }}
DESCRIPTION = {{ cookiecutter.description|tojson }}

# DEBUG on (local development) and off (production: HTTPS only, hence secure requests).
MODES = {
    "debug": {"DEBUG": True, "SECURE_SSL_REDIRECT": False},
    "production": {"DEBUG": False, "SECURE_SSL_REDIRECT": True},
}


@pytest.fixture(params=MODES)
def mode(request, settings):
    for name, value in MODES[request.param].items():
        setattr(settings, name, value)
    return request.param


def get(client, path):
    return client.get(path, secure=True)


def test_the_home_page_answers(client, mode):
    response = get(client, "/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert reverse("home") == "/"


def test_it_shows_what_runs_where(client, mode, settings):
    settings.ELECTRIC_URL = "https://electric.example.com"
    proxy = settings.DATABASES["proxy"]

    page = get(client, "/").content.decode()

    assert "<code>https://electric.example.com</code>" in page
    assert f"<code>{proxy['HOST']}:{proxy['PORT']}</code>" in page


@pytest.mark.parametrize(
    "auth_mode, meaning",
    [
        ("insecure", "any client can sync as any user"),
        ("secure", "Electric accepts only tokens signed with AUTH_JWT_KEY"),
        ("Secure", "not a mode Electric knows"),
    ],
)
def test_it_says_what_the_auth_mode_means(client, settings, auth_mode, meaning):
    settings.ELECTRIC_AUTH_MODE = auth_mode
    page = get(client, "/").content.decode()
    assert f"<code>{auth_mode}</code>: " in page
    assert meaning in page


def test_it_shows_the_configured_values_under_the_projects_name(client, settings):
    page = get(client, "/").content.decode()

    assert f"<code>{escape(settings.ELECTRIC_URL)}</code>" in page
    assert f"<code>{escape(settings.ELECTRIC_AUTH_MODE)}</code>" in page
    assert f"<title>{escape(PROJECT_NAME)}</title>" in page
    assert f"<p>{escape(DESCRIPTION)}</p>" in page


def test_it_links_to_the_admin_the_token_endpoint_and_the_client(client, mode):
    page = get(client, "/").content.decode()

    assert '<a href="/admin/">' in page
    assert '<a href="/electric/token/">' in page
    assert '<a href="http://localhost:5173/">' in page
    assert "<code>README.md</code>" in page
    assert "<code>docs/</code>" in page
    # The links lead somewhere: the admin's login, the token endpoint's 401 until signed in.
    assert get(client, "/admin/").status_code == 302
    assert get(client, "/electric/token/").status_code == 401


def test_it_escapes_what_it_shows(client, settings):
    settings.ELECTRIC_URL = "http://localhost/<script>"
    page = get(client, "/").content.decode()
    assert "<script>" not in page
    assert "http://localhost/&lt;script&gt;" in page


@pytest.mark.parametrize("auth_mode", ["insecure", "secure"])
def test_it_shows_no_secret(client, mode, settings, monkeypatch, auth_mode):
    # Secrets of their own: the tests' Postgres may have no password at all.
    settings.ELECTRIC_AUTH_MODE = auth_mode
    settings.SECRET_KEY = "secret-django-key-" + "x" * 40
    settings.ELECTRIC_AUTH = {**settings.ELECTRIC_AUTH, "KEY": "secret-jwt-key-" + "x" * 40}
    # In place, as the view reads them (no connection opens here).
    monkeypatch.setitem(settings.DATABASES["proxy"], "PASSWORD", "secret-proxy-password")
    monkeypatch.setitem(settings.DATABASES["default"], "PASSWORD", "secret-postgres-password")

    page = get(client, "/").content.decode()

    assert "secret-" not in page


def test_unknown_paths_are_still_404(client, mode):
    assert get(client, "/no-such-page/").status_code == 404
    assert get(client, "/index.html").status_code == 404


def test_production_redirects_plain_http_to_https(client, settings):
    for name, value in MODES["production"].items():
        setattr(settings, name, value)
    response = client.get("/")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/"


def test_it_only_reads(client):
    assert client.post("/", secure=True).status_code == 405

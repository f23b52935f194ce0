"""The tests run on a real PostgreSQL with wal_level=logical.

By default pytest-postgresql starts a throwaway server for the session. To use a server you already
have instead (compose's, say: `docker compose run --rm web pytest`), set TEST_DATABASE_URL; its role
needs CREATEDB and REPLICATION, and the server wal_level=logical.

Note: pytest-postgresql depends on psycopg 3, and Django prefers psycopg 3 whenever it is
installed, so in tests Django talks to Postgres through psycopg 3; the app's requirements.txt
installs psycopg2 only{% if cookiecutter.use_changefeed == "yes" %}, and the change feed uses psycopg2 explicitly everywhere{% endif %}.
"""

import os
import uuid

import environ
import pytest
from django.db import connections
from pytest_postgresql import factories

from tests.postgres import server_settings, temporary_database

if hasattr(os, "geteuid") and os.geteuid() == 0 and not os.environ.get("TEST_DATABASE_URL"):
    pytest.exit(
        "PostgreSQL refuses to run as root, so the tests cannot start their server: run pytest "
        "as an unprivileged user, or point TEST_DATABASE_URL at a running server.",
        returncode=2,
    )

postgresql_proc = factories.postgresql_proc(
    postgres_options="-c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20",
)

CONNECTION_KEYS = ("HOST", "PORT", "USER", "PASSWORD")


@pytest.fixture(scope="session")
def postgres_server(request):
    """HOST, PORT, USER, PASSWORD and a NAME of the server the tests use."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        config = environ.Env.db_url_config(url)
        return {key: config[key] for key in (*CONNECTION_KEYS, "NAME")}
    return server_settings(request.getfixturevalue("postgresql_proc"))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_server):
    from django.conf import settings

    settings.DATABASES["default"].update(postgres_server)
    # In tests `proxy` mirrors `default` (see settings), but Django's MIRROR copies only the
    # database NAME: the server must be copied here. No Electric runs here, so no DDLX either.
    settings.DATABASES["proxy"].update({key: postgres_server[key] for key in CONNECTION_KEYS})
    settings.ELECTRIC_SKIP_DDLX = True


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    yield
    # Django tears down only the database it created, closing only `default`'s connection; the
    # mirror's would keep the test database busy and make the teardown fail.
    with django_db_blocker.unblock():
        connections["proxy"].close()


@pytest.fixture
def fresh_database(postgres_server):
    """An empty database of its own, for tests that run manage.py in a subprocess."""
    name = f"fresh_{uuid.uuid4().hex[:12]}"
    with temporary_database(postgres_server, name):
        yield {**postgres_server, "NAME": name}

"""Throwaway Django apps with real migration modules on disk, for the Electric checks' tests.

An app is a package in a temporary directory: models.py plus migration files, written as a user
(or makemigrations) would write them. `installed()` puts it in INSTALLED_APPS in this process;
`manage()` runs manage.py in a subprocess with it installed, against a real Postgres.
"""

import os
import subprocess
import sys
import textwrap
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from django.test import override_settings

PROJECT = Path(__file__).resolve().parent.parent

HEADER = """\
import uuid

from django.db import migrations, models

from electric.operations import EnableElectric
"""

CREATE_THING = """\
migrations.CreateModel(
    name="Thing",
    fields=[
        ("id", models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
        ("title", models.TextField()),
    ],
)"""

THING_MODEL = """\
import uuid

from django.db import models


class Thing(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.TextField()
"""


def new_app_name():
    return f"scratch_{uuid.uuid4().hex[:10]}"


def write_app(root, name, models="", migrations=()):
    """The package `name` under `root`; migrations: (name, [operation source, ...]) in order."""
    package = Path(root) / name
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "__init__.py").write_text("")
    (package / "models.py").write_text(models)
    previous = None
    for migration_name, operations in migrations:
        write_migration(package, migration_name, operations, previous)
        previous = migration_name
    return package


def write_migration(package, name, operations, previous=None):
    dependencies = [(package.name, previous)] if previous else []
    body = ",\n".join(textwrap.indent(operation, " " * 8) for operation in operations)
    source = (
        f"{HEADER}\n\nclass Migration(migrations.Migration):\n"
        f"    dependencies = {dependencies!r}\n\n"
        f"    operations = [\n{body},\n    ]\n"
    )
    path = package / "migrations" / f"{name}.py"
    path.write_text(source.replace("APP", package.name))
    return path


def electrified_thing(*later):
    """Thing created, electrified, then each migration in `later` (a list of operations each)."""
    steps = [
        ("0001_initial", [CREATE_THING]),
        ("0002_electrify_thing", ['EnableElectric("Thing")']),
    ]
    return steps + [(f"{number:04d}_change", ops) for number, ops in enumerate(later, start=3)]


@contextmanager
def installed(root, name):
    """App `name` (a package under `root`) in INSTALLED_APPS, for this process."""
    from django.conf import settings

    sys.path.insert(0, str(root))
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, name]):
            yield
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


def database_url(database):
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}"
    )


def manage(database, *args, skip_ddlx, apps_root=None, app=None, timeout=120):
    """`python manage.py *args` on `database`, with the proxy alias aimed at the same Postgres
    (no Electric runs here) and, when given, app `app` from `apps_root` installed."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "ELECTRIC_PROXY_HOST": database["HOST"],
        "ELECTRIC_PROXY_PORT": str(database["PORT"]),
        "PG_PROXY_PASSWORD": database["PASSWORD"],
        "ELECTRIC_SKIP_DDLX": "true" if skip_ddlx else "false",
    }
    if app:
        settings = Path(apps_root) / f"settings_with_{app}.py"
        settings.write_text(
            "from config.settings import *  # noqa: F403\n\n"
            f"INSTALLED_APPS = [*INSTALLED_APPS, {app!r}]  # noqa: F405\n"
        )
        env["PYTHONPATH"] = os.pathsep.join([str(apps_root), str(PROJECT)])
        env["DJANGO_SETTINGS_MODULE"] = settings.stem
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def query(database, sql, params=()):
    """Rows of `sql` on `database`, or None when it names a table that does not exist."""
    connection = psycopg2.connect(
        host=database["HOST"],
        port=database["PORT"],
        user=database["USER"],
        password=database["PASSWORD"],
        dbname=database["NAME"],
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    except psycopg2.errors.UndefinedTable:
        return None
    finally:
        connection.close()


def applied_migrations(database, app):
    rows = query(database, "SELECT name FROM django_migrations WHERE app = %s ORDER BY name", [app])
    return None if rows is None else [name for (name,) in rows]

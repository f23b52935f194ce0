"""manage.py and settings in a subprocess, and plain SQL, on the tests' real PostgreSQL."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2

PROJECT = Path(__file__).resolve().parent.parent


def database_url(database):
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
        f"{database['PORT']}/{database['NAME']}"
    )


def database_environment(database, skip_ddlx):
    """The variables that point both aliases at `database`: `default` directly, and `proxy` at
    the same Postgres, where Electric's proxy would sit (no Electric runs in the tests)."""
    return {
        "DATABASE_URL": database_url(database),
        "ELECTRIC_PROXY_HOST": database["HOST"],
        "ELECTRIC_PROXY_PORT": str(database["PORT"]),
        "PG_PROXY_PASSWORD": database["PASSWORD"],
        "ELECTRIC_SKIP_DDLX": "true" if skip_ddlx else "false",
    }


def setting(name, environment):
    """settings.<name> as a fresh process sees it with exactly this environment (as JSON)."""
    code = (
        "import django, json; from django.conf import settings; django.setup(); "
        f"print(json.dumps(settings.{name}, default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def manage(database, *args, skip_ddlx, settings=None, timeout=120, answers=None):
    """`python manage.py *args` in a subprocess, on `database`; `settings`: a settings module file
    to use instead of config.settings (its folder goes on the path); `answers`: what to type at
    its prompts."""
    env = {**os.environ, **database_environment(database, skip_ddlx)}
    if settings:
        env["PYTHONPATH"] = os.pathsep.join([str(Path(settings).parent), str(PROJECT)])
        env["DJANGO_SETTINGS_MODULE"] = Path(settings).stem
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=answers,
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

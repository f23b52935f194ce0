"""`manage.py migrate` for real, in a subprocess, on a database of its own.

No Electric runs here, so the `proxy` alias is pointed at Postgres itself: that proves the
alias and the command, not Electric. Where DDLX must be skipped, the test says so.
"""

import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

PROJECT = Path(__file__).resolve().parent.parent


def manage(database, *args, skip_ddlx):
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}"
        ),
        # The proxy alias, aimed at the same Postgres (Electric would sit here).
        "ELECTRIC_PROXY_HOST": database["HOST"],
        "ELECTRIC_PROXY_PORT": str(database["PORT"]),
        "PG_PROXY_PASSWORD": database["PASSWORD"],
        "ELECTRIC_SKIP_DDLX": "true" if skip_ddlx else "false",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def applied_migrations(database, app):
    connection = psycopg2.connect(
        host=database["HOST"],
        port=database["PORT"],
        user=database["USER"],
        password=database["PASSWORD"],
        dbname=database["NAME"],
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM django_migrations WHERE app = %s ORDER BY name", [app])
            return [name for (name,) in cursor.fetchall()]
    finally:
        connection.close()


def test_migrate_on_default_stops_at_electrification_with_one_actionable_line(fresh_database):
    result = manage(fresh_database, "migrate", skip_ddlx=False)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        'ProxyRequired: items: ALTER TABLE "items" ENABLE ELECTRIC must go through Electric\'s '
        "migrations proxy, not database 'default'. Run `./manage.py migrate --database=proxy`."
    ]
    # Not recorded as applied, so `migrate --database=proxy` will still electrify the table.
    assert applied_migrations(fresh_database, "items") == ["0001_initial"]


def test_migrate_through_the_proxy_alias_applies_everything(fresh_database):
    # No Electric here: ENABLE ELECTRIC is skipped, and the log says so.
    result = manage(fresh_database, "migrate", "--database=proxy", skip_ddlx=True)

    assert result.returncode == 0, result.stderr
    assert "ELECTRIC_SKIP_DDLX is set: not running 'ALTER TABLE \"items\" ENABLE ELECTRIC'" in (
        result.stderr
    )
    assert applied_migrations(fresh_database, "items") == ["0001_initial", "0002_electrify_items"]
    # Both aliases share django_migrations: the default alias sees nothing left to do.
    plan = manage(fresh_database, "migrate", "--plan", skip_ddlx=False)
    assert plan.returncode == 0, plan.stderr
    assert "No planned migration operations." in plan.stdout


@pytest.mark.parametrize("command", [["check"], ["makemigrations", "--check", "--dry-run"]])
def test_the_project_is_consistent(fresh_database, command):
    result = manage(fresh_database, *command, skip_ddlx=False)
    assert result.returncode == 0, result.stdout + result.stderr

"""`manage.py migrate` for real, in a subprocess, on a database of its own.

No Electric runs here, so the `proxy` alias is pointed at Postgres itself: that proves the alias,
the command and its refusals, not Electric. Where Electric's own record of electrified tables is
needed, the tests create its table (`electric.electrified`, as Electric 0.12.1 defines it).
"""

import pytest

from tests.django_commands import applied_migrations, query

# Deep: manage.py migrate in subprocesses, a database each.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep

BOTH_MIGRATIONS = ["0001_initial", "0002_electrify_thing"]


def fake_electric(database, *electrified):
    """What Electric 0.12.1 keeps in Postgres about the tables it has electrified."""
    query(
        database,
        "CREATE SCHEMA IF NOT EXISTS electric; CREATE TABLE IF NOT EXISTS electric.electrified "
        "(schema_name text NOT NULL, table_name text NOT NULL)",
    )
    for table in electrified:
        query(database, "INSERT INTO electric.electrified VALUES ('public', %s)", [table])


def one_line(result):
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_plain_migrate_is_refused_before_anything_is_recorded(electrified_app):
    result = electrified_app("migrate", skip_ddlx=False)

    assert result.returncode == 1
    assert one_line(result) == (
        "CommandError: Migrations must go through Electric's migrations proxy: run "
        "`./manage.py migrate --database=proxy`. Database 'default' bypasses it, so Electric "
        "would never see the schema change and its clients would drift from Postgres. (Set "
        "ELECTRIC_SKIP_DDLX=true only where no Electric fronts the database.)"
    )
    # Not even django_migrations was created.
    assert applied_migrations(electrified_app.database, electrified_app.name) is None


def test_plain_migrate_on_a_migrated_database_changes_nothing(electrified_app):
    database = electrified_app.database
    first = electrified_app(
        "migrate", "--database=proxy", electrified_app.name, "0001", skip_ddlx=True
    )
    assert first.returncode == 0, first.stderr
    before = query(database, "SELECT app, name FROM django_migrations ORDER BY id")

    result = electrified_app("migrate", skip_ddlx=False)

    assert result.returncode == 1
    assert "run `./manage.py migrate --database=proxy`" in one_line(result)
    assert query(database, "SELECT app, name FROM django_migrations ORDER BY id") == before


def test_plain_migrate_runs_where_electric_is_skipped(electrified_app):
    result = electrified_app("migrate", skip_ddlx=True)

    assert result.returncode == 0, result.stderr
    assert applied_migrations(electrified_app.database, electrified_app.name) == BOTH_MIGRATIONS


def test_migrate_through_the_proxy_alias_applies_everything(electrified_app):
    # No Electric here: ENABLE ELECTRIC is skipped, and the log says so.
    result = electrified_app("migrate", "--database=proxy", skip_ddlx=True)

    assert result.returncode == 0, result.stderr
    skipped = f'ELECTRIC_SKIP_DDLX is set: not running \'ALTER TABLE "{electrified_app.table}"'
    assert skipped in result.stderr
    assert applied_migrations(electrified_app.database, electrified_app.name) == BOTH_MIGRATIONS
    # Both aliases share django_migrations: the default alias sees nothing left to do (and
    # --plan changes nothing, so it is not refused).
    plan = electrified_app("migrate", "--plan", skip_ddlx=False)
    assert plan.returncode == 0, plan.stderr
    assert "No planned migration operations." in plan.stdout


def test_going_back_past_an_electrification_where_electric_is_skipped(electrified_app):
    electrified_app("migrate", "--database=proxy", skip_ddlx=True)

    app = electrified_app.name
    result = electrified_app("migrate", "--database=proxy", app, "zero", skip_ddlx=True)

    assert result.returncode == 0, result.stderr
    assert f"un-recording the electrification of {app}.Thing" in result.stderr
    assert applied_migrations(electrified_app.database, app) == []


def test_going_back_past_an_electrification_through_electric_is_refused(electrified_app):
    electrified_app("migrate", "--database=proxy", skip_ddlx=True)
    fake_electric(electrified_app.database, *electrified_app.electrified_tables)

    app = electrified_app.name
    result = electrified_app("migrate", "--database=proxy", app, "zero", skip_ddlx=False)

    assert result.returncode == 1
    assert one_line(result) == (
        f"CommandError: Cannot migrate back past {app}.0002_electrify_thing: Electric 0.12 "
        "cannot un-electrify a table (DISABLE ELECTRIC is unsupported). Nothing was changed; "
        "undo the schema change with a new forward migration instead."
    )
    assert applied_migrations(electrified_app.database, app) == BOTH_MIGRATIONS


def test_a_proxy_alias_without_electric_behind_it_is_refused(electrified_app):
    result = electrified_app("migrate", "--database=proxy", skip_ddlx=False)

    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith("CommandError: Database 'proxy' (")
    assert "has no Electric schema, so it is not Electric's migrations proxy" in line
    assert applied_migrations(electrified_app.database, electrified_app.name) is None


def test_electrifications_electric_never_saw_are_refused_then_repaired(electrified_app):
    # Migrated with ELECTRIC_SKIP_DDLX: recorded as electrified, never electrified.
    electrified_app("migrate", "--database=proxy", skip_ddlx=True)
    fake_electric(electrified_app.database)
    tables = ", ".join(f'"{table}"' for table in electrified_app.electrified_tables)

    result = electrified_app("migrate", "--database=proxy", skip_ddlx=False)

    assert result.returncode == 1
    assert one_line(result) == (
        f"CommandError: Applied migrations electrified {tables}, but Electric has not (they "
        "ran with ELECTRIC_SKIP_DDLX, or not through the proxy), so its clients do not sync "
        "them. Electrify them now: `./manage.py migrate --database=proxy --electrify-missing`."
    )

    # The repair sends ENABLE ELECTRIC through the proxy alias; plain Postgres, standing in for
    # Electric here, cannot parse it, and the refusal says so in one line.
    repair = electrified_app("migrate", "--database=proxy", "--electrify-missing", skip_ddlx=False)
    assert repair.returncode == 1
    first = electrified_app.electrified_tables[0]
    assert one_line(repair).startswith(
        f'CommandError: Electric refused `ALTER TABLE "{first}" ENABLE ELECTRIC`: syntax error'
    )

    # Once Electric's record agrees, migrating through the proxy goes on.
    fake_electric(electrified_app.database, *electrified_app.electrified_tables)
    agreed = electrified_app("migrate", "--database=proxy", skip_ddlx=False)
    assert agreed.returncode == 0, agreed.stderr
    assert "No migrations to apply." in agreed.stdout


def test_tables_electric_electrified_outside_the_migrations_are_refused(electrified_app):
    electrified_app("migrate", "--database=proxy", skip_ddlx=True)
    fake_electric(electrified_app.database, *electrified_app.electrified_tables, "notes")

    result = electrified_app("migrate", "--database=proxy", skip_ddlx=False)

    assert result.returncode == 1
    line = one_line(result)
    assert line.startswith('CommandError: Electric has electrified "notes", but no migration here')
    assert "`./manage.py electrify app_label.Model`" in line

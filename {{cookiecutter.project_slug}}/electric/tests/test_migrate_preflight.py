"""`migrate --database=proxy` judges the SQL of its whole plan before anything runs.

A real `manage.py migrate` in a subprocess, on a database of its own. The proxy alias points at
Postgres itself, with Electric's record of electrified tables (`electric.electrified`) standing
in for Electric: the SQL is what is under test, and Postgres runs what the judge lets through.
"""

import socket

import pytest

from electric.schema_history import SchemaHistory
from electric.tests.test_migrate_command import fake_electric
from tests.django_commands import applied_migrations, manage, query
from tests.scratch_apps import (
    CREATE_THING,
    THING_MODEL,
    electrified_thing,
    new_app_name,
    settings_with,
    write_app,
)

# Deep: manage.py migrate in subprocesses, a database each.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep

ADD_ARCHIVED = 'migrations.AddField("thing", "archived", models.BooleanField(default=False))'
ADD_NOTE = 'migrations.AddField("thing", "note", models.TextField(null=True))'


@pytest.fixture
def scratch(tmp_path, fresh_database):
    """`scratch(*later)`: an app whose Thing is electrified by 0002, then the migrations
    `later` (lists of operations), and manage.py with it on a database of its own."""

    def make(*later, model=THING_MODEL, migrations=None):
        name = new_app_name()
        write_app(tmp_path, name, model, migrations or electrified_thing(*later))
        settings = settings_with(tmp_path, name)

        def run(*args, skip_ddlx, database=fresh_database):
            return manage(database, *args, skip_ddlx=skip_ddlx, settings=settings)

        run.name, run.table, run.database = name, f"{name}_thing", fresh_database
        own = {e.table for e in SchemaHistory.from_disk().electrifications}
        run.electrified = sorted({*own, run.table})
        return run

    return make


def through_electric(app, target="0002", electrified=None):
    """Migrate every app, and `app` up to `target` (no Electric here), then let Electric's
    record say that `electrified` (default: every table the migrations electrify) is."""
    for args in [(), (app.name, target)]:
        result = app("migrate", "--database=proxy", "--skip-checks", *args, skip_ddlx=True)
        assert result.returncode == 0, result.stderr
    fake_electric(app.database, *(app.electrified if electrified is None else electrified))


def others(app):
    return [table for table in app.electrified if table != app.table]


def migrate_through_electric(app, *args):
    # --skip-checks: the system checks flag these migrations first; this is the last line.
    return app("migrate", "--database=proxy", "--skip-checks", *args, skip_ddlx=False)


def columns(app):
    rows = query(
        app.database,
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s",
        [app.table],
    )
    return {name for (name,) in rows}


def test_a_plan_with_a_refused_statement_is_refused_whole_before_anything_runs(scratch):
    app = scratch([ADD_NOTE], [ADD_ARCHIVED])
    through_electric(app)

    result = migrate_through_electric(app)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == (
        f"{app.name}.0004_change: EX006 Cannot electrify column with DEFAULT clause in "
        f'`ALTER TABLE "{app.table}" ADD COLUMN "archived" boolean DEFAULT false NOT NULL`. '
        "Add the field with null=True and no default: `./manage.py makemigrations` writes that "
        "migration itself for an electrified model; regenerate this one."
    )
    # Django's DROP DEFAULT right after it is refused too (EX007): every statement is listed.
    assert lines[1].startswith(f'{app.name}.0004_change: EX007 Cannot alter column "archived"')
    assert lines[-1] == (
        "CommandError: Electric's migrations proxy would refuse 2 statement(s) of this plan "
        "(above), each with the way out: nothing was applied."
    )
    # Not even 0003, which the proxy accepts, ran.
    assert applied_migrations(app.database, app.name) == ["0001_initial", "0002_electrify_thing"]
    assert columns(app) == {"id", "title"}


def test_a_plan_the_proxy_accepts_runs(scratch):
    app = scratch([ADD_NOTE])
    through_electric(app)

    result = migrate_through_electric(app)

    assert result.returncode == 0, result.stderr
    assert applied_migrations(app.database, app.name)[-1] == "0003_change"
    assert columns(app) == {"id", "title", "note"}


def test_going_backwards_is_judged_too(scratch):
    # Un-applying an AddField drops the column: EX010 on an electrified table.
    app = scratch([ADD_NOTE])
    through_electric(app, target="0003")

    result = migrate_through_electric(app, app.name, "0002")

    assert result.returncode == 1
    first = result.stderr.strip().splitlines()[0]
    assert first == (
        f'{app.name}.0003_change (backwards): EX010 Cannot drop column "note" of electrified '
        f'table "public"."{app.table}" in `ALTER TABLE "{app.table}" DROP COLUMN "note" '
        "CASCADE`. Electric cannot undo this change of an electrified table: leave the "
        "migration applied, and make the change you want with a new forward migration."
    )
    assert applied_migrations(app.database, app.name)[-1] == "0003_change"
    assert "note" in columns(app)


def test_a_table_electrified_earlier_in_the_same_plan_is_judged_as_electrified(scratch):
    # Nothing is electrified yet: the plan's own ENABLE ELECTRIC makes 0003 a refused change.
    app = scratch(['migrations.RemoveField("thing", "title")'])
    through_electric(app, "0001", electrified=others(app))

    result = migrate_through_electric(app)

    assert result.returncode == 1
    assert f'{app.name}.0003_change: EX010 Cannot drop column "title"' in result.stderr
    assert applied_migrations(app.database, app.name) == ["0001_initial"]


def test_concurrently_is_refused_on_any_table(scratch):
    # The proxy wraps every CREATE INDEX in a transaction, where PostgreSQL refuses CONCURRENTLY;
    # Django needs a non-atomic migration for it, so whatever ran before it would stay applied.
    index = 'AddIndexConcurrently("thing", models.Index(fields=["title"], name="thing_title"))'
    app = scratch(
        migrations=[
            ("0001_initial", [CREATE_THING]),
            ("0002_note", [ADD_NOTE]),
            ("0003_index", [index], {"atomic": False}),
        ]
    )
    through_electric(app, "zero", electrified=others(app))

    result = migrate_through_electric(app)

    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"{app.name}.0003_index: 25001 CREATE INDEX CONCURRENTLY cannot run inside a "
        "transaction block (Electric's proxy wraps every CREATE and DROP INDEX in one) in "
        f'`CREATE INDEX CONCURRENTLY "thing_title" ON "{app.table}" ("title")`. Create or drop '
        "the index without CONCURRENTLY (AddIndex, RemoveIndex)."
    )
    assert not applied_migrations(app.database, app.name)


def test_an_unreachable_proxy_is_one_line(scratch, fresh_database):
    app = scratch()
    # A port nothing listens on, for both aliases.
    nowhere = {**fresh_database, "PORT": free_port()}

    result = app("migrate", "--database=proxy", skip_ddlx=False, database=nowhere)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: Cannot connect to database 'proxy' (")
    assert ": Connection refused Is" not in lines[0]  # the reason's first line only
    assert lines[0].endswith(
        "Is Electric running? `docker compose up -d electric` starts it, and "
        "`./manage.py wait_for_db --database=proxy` waits for its proxy."
    )


@pytest.mark.parametrize("direction", ["forwards", "backwards"])
def test_plan_shows_the_electrification_both_ways(scratch, direction):
    app = scratch()
    if direction == "backwards":
        through_electric(app)
        args = ("migrate", "--database=proxy", "--plan", app.name, "0001")
        expected = "Undo Electrify Thing (ALTER TABLE ... ENABLE ELECTRIC)"
    else:
        args = ("migrate", "--database=proxy", "--plan")
        expected = "Electrify Thing (ALTER TABLE ... ENABLE ELECTRIC)"

    result = app(*args, skip_ddlx=False)

    assert result.returncode == 0, result.stderr
    assert f"{app.name}.0002_electrify_thing\n    {expected}\n" in result.stdout
    # --plan changes nothing, but a proxy that is not there is said in one line there too.
    nowhere = app(*args, skip_ddlx=False, database={**app.database, "PORT": free_port()})
    assert nowhere.stderr.startswith("CommandError: Cannot connect to database 'proxy'")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_database_that_does_not_exist_is_one_line_with_the_fix(scratch, fresh_database):
    # The first migrate without Docker, before the database was created.
    app = scratch()
    missing = {**fresh_database, "NAME": "not_created_yet"}

    result = app("migrate", skip_ddlx=True, database=missing)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: Cannot connect to database 'default' (")
    assert 'database "not_created_yet" does not exist' in lines[0]
    assert lines[0].endswith("Is PostgreSQL running, and does the database in DATABASE_URL exist?")

"""EnableElectric, the migration operation behind every electrification."""

import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.writer import MigrationWriter

from electric.operations import EnableElectric, ProxyRequired
from tests.scratch_apps import electrified_thing, installed, new_app_name, write_app

# The `proxy` alias mirrors `default` in tests; both must be allowed for it to be used.
pytestmark = pytest.mark.django_db(databases=["default", "proxy"])


@pytest.fixture
def app(tmp_path):
    """An installed app whose Thing migration 0002 electrifies."""
    name = new_app_name()
    write_app(tmp_path, name, migrations=electrified_thing())
    with installed(tmp_path, name):
        yield name


def run_enable_electric(app, alias, collect_sql=False):
    connection = connections[alias]
    state = MigrationLoader(connection).project_state((app, "0001_initial"))
    with connection.schema_editor(collect_sql=collect_sql, atomic=False) as editor:
        EnableElectric("Thing").database_forwards(app, editor, state, state)
    return editor.collected_sql if collect_sql else None


def test_enable_electric_emits_the_ddlx_statement_on_the_proxy(app, settings):
    settings.ELECTRIC_SKIP_DDLX = False

    assert run_enable_electric(app, "proxy", collect_sql=True) == [
        f'ALTER TABLE "{app}_thing" ENABLE ELECTRIC;'
    ]


@pytest.mark.parametrize("alias", ["proxy", "default"])
@pytest.mark.parametrize("skip", [False, True])
def test_sqlmigrate_shows_the_statement_on_any_alias(app, settings, capsys, alias, skip):
    # sqlmigrate runs nothing: it shows what the proxy will receive, wherever it is asked.
    settings.ELECTRIC_SKIP_DDLX = skip

    call_command("sqlmigrate", app, "0002", database=alias)

    assert f'ALTER TABLE "{app}_thing" ENABLE ELECTRIC;' in capsys.readouterr().out


def test_sqlmigrate_backwards_shows_what_going_back_would_send(app, settings, capsys):
    settings.ELECTRIC_SKIP_DDLX = False

    call_command("sqlmigrate", app, "0002", database="proxy", backwards=True)

    assert f'ALTER TABLE "{app}_thing" DISABLE ELECTRIC;' in capsys.readouterr().out


def test_enable_electric_refuses_any_other_database(app, settings):
    settings.ELECTRIC_SKIP_DDLX = False

    with pytest.raises(ProxyRequired, match=r"Run `\./manage\.py migrate --database=proxy`"):
        run_enable_electric(app, "default")


def test_the_skip_setting_skips_the_statement_and_says_so(app, settings, caplog):
    settings.ELECTRIC_SKIP_DDLX = True

    with caplog.at_level(logging.WARNING, logger="electric.operations"):
        run_enable_electric(app, "default")  # on plain Postgres, ENABLE would be a syntax error

    assert f'ELECTRIC_SKIP_DDLX is set: not running \'ALTER TABLE "{app}_thing" ENABLE ' in (
        caplog.text
    )


def run_backwards(app, alias):
    connection = connections[alias]
    state = MigrationLoader(connection).project_state((app, "0001_initial"))
    with connection.schema_editor(atomic=False) as editor:
        EnableElectric("Thing").database_backwards(app, editor, state, state)


def test_going_back_is_refused_where_electric_runs(app, settings):
    # Electric 0.12 refuses DISABLE ELECTRIC (EX001).
    settings.ELECTRIC_SKIP_DDLX = False

    with pytest.raises(CommandError, match=r"Cannot un-electrify .*Thing: Electric 0\.12 refuses"):
        run_backwards(app, "proxy")


def test_going_back_where_electric_is_skipped_only_says_so(app, settings, caplog):
    settings.ELECTRIC_SKIP_DDLX = True

    with caplog.at_level(logging.WARNING, logger="electric.operations"):
        run_backwards(app, "proxy")

    assert f"un-recording the electrification of {app}.Thing" in caplog.text


def test_makemigrations_can_write_the_operation_into_a_migration_file():
    migration = migrations.Migration("0003_electrify_again", "electric")
    migration.operations = [EnableElectric("Thing")]

    namespace = {}
    exec(MigrationWriter(migration).as_string(), namespace)  # noqa: S102

    [operation] = namespace["Migration"].operations
    assert isinstance(operation, EnableElectric)
    assert operation.model_name == "Thing"

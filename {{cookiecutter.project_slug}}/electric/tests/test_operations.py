"""EnableElectric, the migration operation behind every electrification."""

import logging

import pytest
from django.core.management import call_command
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
    return editor.collected_sql


def test_enable_electric_emits_the_ddlx_statement_on_the_proxy(app, settings):
    settings.ELECTRIC_SKIP_DDLX = False

    assert run_enable_electric(app, "proxy", collect_sql=True) == [
        f'ALTER TABLE "{app}_thing" ENABLE ELECTRIC;'
    ]


def test_sqlmigrate_through_the_proxy_shows_the_statement(app, settings, capsys):
    settings.ELECTRIC_SKIP_DDLX = False

    call_command("sqlmigrate", app, "0002", database="proxy")

    assert f'ALTER TABLE "{app}_thing" ENABLE ELECTRIC;' in capsys.readouterr().out


def test_enable_electric_refuses_any_other_database(app, settings):
    settings.ELECTRIC_SKIP_DDLX = False

    with pytest.raises(ProxyRequired, match=r"Run `\./manage\.py migrate --database=proxy`"):
        run_enable_electric(app, "default")


def test_the_skip_setting_skips_the_statement_and_says_so(app, settings, caplog):
    settings.ELECTRIC_SKIP_DDLX = True

    with caplog.at_level(logging.WARNING, logger="electric.operations"):
        assert run_enable_electric(app, "default", collect_sql=True) == []

    assert f'ELECTRIC_SKIP_DDLX is set: not running \'ALTER TABLE "{app}_thing" ENABLE ' in (
        caplog.text
    )


def test_electrification_is_reversible_only_where_electric_is_skipped(settings):
    # Electric 0.12 refuses DISABLE ELECTRIC; without Electric, going back only un-records.
    settings.ELECTRIC_SKIP_DDLX = False
    assert EnableElectric("Thing").reversible is False
    settings.ELECTRIC_SKIP_DDLX = True
    assert EnableElectric("Thing").reversible is True


def test_makemigrations_can_write_the_operation_into_a_migration_file():
    migration = migrations.Migration("0003_electrify_again", "electric")
    migration.operations = [EnableElectric("Thing")]

    namespace = {}
    exec(MigrationWriter(migration).as_string(), namespace)  # noqa: S102

    [operation] = namespace["Migration"].operations
    assert isinstance(operation, EnableElectric)
    assert operation.model_name == "Thing"

import logging

import pytest
from django.core.management import call_command
from django.db import connections, migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.writer import MigrationWriter

from electric.operations import EnableElectric, ProxyRequired

# The `proxy` alias mirrors `default` in tests; both must be allowed for it to be used.
pytestmark = pytest.mark.django_db(databases=["default", "proxy"])


def run_enable_electric(alias, collect_sql=False):
    connection = connections[alias]
    state = MigrationLoader(connection).project_state(("items", "0001_initial"))
    with connection.schema_editor(collect_sql=collect_sql, atomic=False) as editor:
        EnableElectric("item").database_forwards("items", editor, state, state)
    return editor.collected_sql


def test_enable_electric_emits_the_ddlx_statement_on_the_proxy(settings):
    settings.ELECTRIC_SKIP_DDLX = False

    assert run_enable_electric("proxy", collect_sql=True) == [
        'ALTER TABLE "items" ENABLE ELECTRIC;'
    ]


def test_sqlmigrate_through_the_proxy_shows_the_statement(settings, capsys):
    settings.ELECTRIC_SKIP_DDLX = False

    call_command("sqlmigrate", "items", "0002", database="proxy")

    assert 'ALTER TABLE "items" ENABLE ELECTRIC;' in capsys.readouterr().out


def test_enable_electric_refuses_any_other_database(settings):
    settings.ELECTRIC_SKIP_DDLX = False

    with pytest.raises(ProxyRequired, match=r"Run `\./manage\.py migrate --database=proxy`"):
        run_enable_electric("default")


def test_the_skip_setting_skips_the_statement_and_says_so(settings, caplog):
    settings.ELECTRIC_SKIP_DDLX = True

    with caplog.at_level(logging.WARNING, logger="electric.operations"):
        assert run_enable_electric("default", collect_sql=True) == []

    assert "ELECTRIC_SKIP_DDLX is set: not running 'ALTER TABLE \"items\" ENABLE ELECTRIC'" in (
        caplog.text
    )


def test_electrification_is_reversible_only_where_electric_is_skipped(settings):
    # Electric 0.12 refuses DISABLE ELECTRIC; without Electric, going back only un-records.
    settings.ELECTRIC_SKIP_DDLX = False
    assert EnableElectric("item").reversible is False
    settings.ELECTRIC_SKIP_DDLX = True
    assert EnableElectric("item").reversible is True


def test_makemigrations_can_write_the_operation_into_a_migration_file():
    migration = migrations.Migration("0003_electrify_again", "items")
    migration.operations = [EnableElectric("item")]

    namespace = {}
    exec(MigrationWriter(migration).as_string(), namespace)  # noqa: S102

    [operation] = namespace["Migration"].operations
    assert isinstance(operation, EnableElectric)
    assert operation.model_name == "item"

"""changefeed.E001: CHANGEFEED_TABLES names only tables a model or a migration provides."""

import importlib

from django.test import override_settings

from changefeed.checks import check_tables
from tests.scratch_apps import CREATE_THING, installed, new_app_name, write_app


def scratch_app(root, **files):
    name = new_app_name()
    write_app(root, name, **files)
    importlib.invalidate_caches()  # the import system caches directory listings
    return name


def error_ids(tables):
    with override_settings(CHANGEFEED_TABLES=tables):
        return [error.id for error in check_tables(None)]


def test_tables_of_installed_models_pass_however_they_are_spelled():
    assert error_ids(["django_content_type", "public.django_session", '"auth_group"']) == []


def test_a_table_nothing_provides_is_an_error_with_a_hint():
    with override_settings(CHANGEFEED_TABLES=["django_content_type", "nope"]):
        [error] = check_tables(None)

    assert error.id == "changefeed.E001"
    assert error.msg == "CHANGEFEED_TABLES names 'nope', which no model or migration provides."
    assert "Set CHANGEFEED_TABLES (in .env or config/settings.py)" in error.hint
    assert "SILENCED_SYSTEM_CHECKS" in error.hint


def test_a_table_in_another_schema_is_not_the_public_one():
    assert error_ids(["audit.django_content_type"]) == ["changefeed.E001"]


def test_a_table_whose_model_is_gone_but_whose_migration_is_not_passes(tmp_path):
    # The model was deleted and makemigrations has not run yet: the table is still there.
    name = scratch_app(tmp_path, models="", migrations=[("0001_initial", [CREATE_THING])])
    with installed(tmp_path, name):
        assert error_ids([f"{name}_thing"]) == []


def test_an_app_without_the_migration_provides_nothing(tmp_path):
    name = scratch_app(tmp_path, models="")
    with installed(tmp_path, name):
        assert error_ids([f"{name}_thing"]) == ["changefeed.E001"]


def test_manage_py_check_fails_on_a_missing_table(source):
    result = source.manage("check", env={"CHANGEFEED_TABLES": "items_that_were_deleted"})

    assert result.returncode == 1
    assert (
        "?: (changefeed.E001) CHANGEFEED_TABLES names 'items_that_were_deleted', which no model "
        "or migration provides." in result.stderr
    )

"""System checks of the change feed's settings, run by `check`, `migrate` and `runserver`.

compose's consumer restarts on failure: a table in CHANGEFEED_TABLES that does not exist would
have it loop on "table does not exist". This check says so before it starts, since the `migrate`
service it waits for runs the checks first.
"""

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, register
from django.db.migrations.loader import MigrationLoader


@register()
def check_tables(app_configs, **kwargs):
    provided = tables_provided()
    return [
        Error(
            f"CHANGEFEED_TABLES names {table!r}, which no model or migration provides.",
            hint="Set CHANGEFEED_TABLES (in .env or config/settings.py) to the tables the change "
            "feed should consume, e.g. a model's Meta.db_table. A table made another way (raw "
            "SQL) can be named all the same: add 'changefeed.E001' to SILENCED_SYSTEM_CHECKS.",
            id="changefeed.E001",
        )
        for table in settings.CHANGEFEED_TABLES
        if unqualified(table) not in provided
    ]


def tables_provided() -> set[str]:
    """The tables of the installed models, and of the models the migrations leave behind."""
    tables = {model._meta.db_table for model in apps.get_models(include_auto_created=True)}
    # Without a connection the loader reads the migration files only.
    state = MigrationLoader(None, ignore_no_migrations=True).project_state()
    tables.update(model._meta.db_table for model in state.apps.get_models())
    return tables


def unqualified(table: str) -> str:
    """'public.items' and '"items"' name the table Django calls 'items'."""
    table = table.replace('"', "")
    schema, _, name = table.rpartition(".")
    return name if schema == "public" else table

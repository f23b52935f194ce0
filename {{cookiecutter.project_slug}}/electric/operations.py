"""Migration operations that speak Electric's DDLX through its migrations proxy."""

import logging

from django.conf import settings
from django.core.management import CommandError
from django.db import router
from django.db.migrations.operations.base import Operation

logger = logging.getLogger(__name__)

PROXY_ALIAS = "proxy"


class ProxyRequired(CommandError):
    """A DDLX statement was about to run on a connection that does not go through the proxy.

    A CommandError, so that `manage.py migrate` prints one line, not a traceback.
    """


class EnableElectric(Operation):
    """Electrify a model's table: `ALTER TABLE <table> ENABLE ELECTRIC`.

    `./manage.py electrify app_label.Model` writes the migration. Keep it a migration of its own,
    after the one that creates the table: Django adds foreign keys at the end of a migration, and
    Electric refuses that ALTER on an already electrified table.
    """

    def __init__(self, model_name):
        self.model_name = model_name

    # Reversible on paper, so that `sqlmigrate --backwards` and `migrate --plan` can say what
    # going back would send; database_backwards refuses it wherever Electric runs.
    reversible = True

    def deconstruct(self):
        return self.__class__.__name__, [], {"model_name": self.model_name}

    @property
    def migration_name_fragment(self):
        return f"electrify_{self.model_name.lower()}"

    def describe(self):
        return f"Electrify {self.model_name} (ALTER TABLE ... ENABLE ELECTRIC)"

    def state_forwards(self, app_label, state):
        pass  # Electrification changes nothing in Django's model state.

    def enable_sql(self, model, schema_editor):
        # Not `sql`: Django's `migrate --plan` shows an operation's `sql` attribute as RunSQL's.
        return f"ALTER TABLE {schema_editor.quote_name(model._meta.db_table)} ENABLE ELECTRIC"

    def disable_sql(self, model, schema_editor):
        return f"ALTER TABLE {schema_editor.quote_name(model._meta.db_table)} DISABLE ELECTRIC"

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        alias = schema_editor.connection.alias
        if not router.allow_migrate_model(alias, model):
            return
        sql = self.enable_sql(model, schema_editor)
        if schema_editor.collect_sql:
            # sqlmigrate, and migrate's check of the plan: what the proxy will receive.
            if settings.ELECTRIC_SKIP_DDLX:
                schema_editor.collected_sql.append(
                    "-- ELECTRIC_SKIP_DDLX is set: migrate skips this statement here"
                )
            schema_editor.execute(sql)
            return
        if settings.ELECTRIC_SKIP_DDLX:
            logger.warning("ELECTRIC_SKIP_DDLX is set: not running %r on database %r", sql, alias)
            return
        if alias != PROXY_ALIAS:
            # Both aliases share one django_migrations table: a migration recorded as applied
            # here would never be electrified later.
            raise ProxyRequired(
                f"{app_label}: {sql} must go through Electric's migrations proxy, not database "
                f"{alias!r}. Run `./manage.py migrate --database={PROXY_ALIAS}`."
            )
        schema_editor.execute(sql)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not router.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.collect_sql:
            # What un-electrifying would take; Electric 0.12 refuses it (EX001).
            schema_editor.collected_sql.append(
                "-- Electric 0.12 refuses DISABLE ELECTRIC (EX001): migrate cannot go back past "
                "an electrification"
            )
            schema_editor.execute(self.disable_sql(model, schema_editor))
            return
        if not settings.ELECTRIC_SKIP_DDLX:
            raise CommandError(
                f"Cannot un-electrify {app_label}.{self.model_name}: Electric 0.12 refuses "
                "DISABLE ELECTRIC. Undo the schema change with a new forward migration instead."
            )
        # Where Electric is skipped nothing was electrified: going back only un-records it.
        logger.warning(
            "ELECTRIC_SKIP_DDLX is set: un-recording the electrification of %s.%s; no Electric "
            "ran it here, so there is nothing to undo",
            app_label,
            self.model_name,
        )

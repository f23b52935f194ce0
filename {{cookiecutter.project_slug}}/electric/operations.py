"""Migration operations that speak Electric's DDLX through its migrations proxy."""

import logging

from django.conf import settings
from django.core.management import CommandError
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.operations.base import Operation

logger = logging.getLogger(__name__)

PROXY_ALIAS = "proxy"


# Both errors are CommandErrors so that `manage.py migrate` prints one line, not a traceback.


class ProxyRequired(CommandError):
    """A DDLX statement was about to run on a connection that does not go through the proxy."""


class ElectrificationIrreversible(IrreversibleError, CommandError):
    """Electric 0.12 refuses DISABLE ELECTRIC."""


class EnableElectric(Operation):
    """Electrify a model's table: `ALTER TABLE <table> ENABLE ELECTRIC;`.

    Put it in its own migration, after the one that creates the table: Django adds foreign keys
    at the end of a migration, and Electric refuses that ALTER on an already electrified table.
    """

    reversible = True  # so that a backwards migration reaches database_backwards and its reason

    def __init__(self, model_name):
        self.model_name = model_name

    def deconstruct(self):
        return self.__class__.__name__, [self.model_name], {}

    @property
    def migration_name_fragment(self):
        return f"electrify_{self.model_name.lower()}"

    def describe(self):
        return f"Electrify {self.model_name} (ALTER TABLE ... ENABLE ELECTRIC)"

    def state_forwards(self, app_label, state):
        pass  # Electrification changes nothing in Django's model state.

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        table = schema_editor.quote_name(model._meta.db_table)
        sql = f"ALTER TABLE {table} ENABLE ELECTRIC"
        alias = schema_editor.connection.alias
        if getattr(settings, "ELECTRIC_SKIP_DDLX", False):
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
        raise ElectrificationIrreversible(
            f"{app_label}: Electric 0.12 cannot un-electrify {self.model_name} "
            "(DISABLE ELECTRIC is unsupported), so this migration cannot be reversed."
        )

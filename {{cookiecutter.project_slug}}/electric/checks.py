"""System checks: can Electric 0.12 electrify the models our migrations electrify?

Electric validates a table only when `ENABLE ELECTRIC` runs inside its proxy, usually at deploy
time. These checks apply the same rules at `./manage.py check` (and so at runserver, migrate and
in tests), one message per offending field, each saying what to use instead.
"""

import re

from django.apps import apps
from django.core import checks
from django.db import connections, models
from django.db.migrations.loader import MigrationLoader

from electric.operations import EnableElectric

# Column types Electric 0.12 can sync, as Django's PostgreSQL backend spells them.
SUPPORTED_DB_TYPES = {
    "boolean": "bool",
    "bytea": "bytea",
    "date": "date",
    "real": "float4",
    "double precision": "float8",
    "smallint": "int2",
    "integer": "int4",
    "bigint": "int8",
    "jsonb": "jsonb",
    "text": "text",
    "time": "time",
    "timestamp": "timestamp",
    "timestamp with time zone": "timestamptz",
    "uuid": "uuid",
    "varchar": "varchar",
}
SUPPORTED_LIST = ", ".join(sorted(set(SUPPORTED_DB_TYPES.values())))
SIZED_VARCHAR = re.compile(r"^varchar\(\d+\)$")
UUID_PRIMARY_KEY = "models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)"


def electrified_models():
    """The models that some migration on disk electrifies with EnableElectric."""
    # Only the files on disk: no database connection, no graph (which a half-written
    # migration could break, and `check` must still report on the models).
    loader = MigrationLoader(None, load=False)
    loader.load_disk()
    found = []
    for (app_label, _name), migration in sorted(loader.disk_migrations.items()):
        for operation in migration.operations:
            if not isinstance(operation, EnableElectric):
                continue
            try:
                model = apps.get_model(app_label, operation.model_name)
            except LookupError:
                continue  # electrified once, deleted since: nothing left to check
            if model not in found:
                found.append(model)
    return found


@checks.register(checks.Tags.models, "electric")
def check_electrified_models(app_configs=None, **kwargs):
    models_to_check = electrified_models()
    if app_configs is not None:
        labels = {app_config.label for app_config in app_configs}
        models_to_check = [model for model in models_to_check if model._meta.app_label in labels]
    return [message for model in models_to_check for message in check_electrifiable(model)]


def check_electrifiable(model):
    """Everything Electric 0.12's ENABLE ELECTRIC would refuse (errors) or advise against."""
    connection = connections["default"]
    messages = list(_check_table(model))
    for field in model._meta.local_fields:
        messages.extend(_check_field(model, field, connection))
    return messages


def _check_table(model):
    opts = model._meta
    if "." in opts.db_table:
        yield checks.Error(
            f"{opts.label} is stored in table {opts.db_table!r}, outside the public schema.",
            hint="Electric 0.12 only electrifies tables in the public schema: drop the schema "
            "prefix from Meta.db_table.",
            obj=model,
            id="electric.E001",
        )
    for constraint in opts.constraints:
        yield checks.Error(
            f"{opts.label} declares the constraint {constraint.name!r} "
            f"({type(constraint).__name__}); Electric allows only primary and foreign keys.",
            hint="Remove it from Meta.constraints and enforce the rule in Python (model clean() "
            "or a form); clients write offline, so the database cannot enforce it anyway.",
            obj=model,
            id="electric.E002",
        )
    if opts.unique_together:
        yield checks.Error(
            f"{opts.label} declares unique_together; Electric allows only primary and foreign "
            "keys.",
            hint="Remove Meta.unique_together and enforce uniqueness in Python.",
            obj=model,
            id="electric.E002",
        )


def _check_field(model, field, connection):
    label = f"{model._meta.label}.{field.name}"
    kind = type(field).__name__
    if field.primary_key:
        yield from _check_primary_key(label, field, kind)
    elif field.unique:
        yield checks.Error(
            f"{label} is unique ({kind}); Electric allows only primary and foreign keys.",
            hint="Drop unique=True (a OneToOneField becomes a ForeignKey) and check uniqueness "
            "in Python.",
            obj=field,
            id="electric.E003",
        )

    db_type = (field.db_type(connection) or "").lower()
    if SIZED_VARCHAR.match(db_type):
        yield checks.Error(
            f"{label} is {db_type} ({kind} with max_length); Electric 0.12 only syncs unsized "
            "varchar.",
            hint="Use models.TextField() and validate the length in forms or clean().",
            obj=field,
            id="electric.E004",
        )
    elif db_type not in SUPPORTED_DB_TYPES:
        yield checks.Error(
            f"{label} is {db_type or 'not a column'} ({kind}), a type Electric 0.12 cannot sync.",
            hint=f"Use a field whose column type is one of: {SUPPORTED_LIST}.",
            obj=field,
            id="electric.E005",
        )

    if field.db_check(connection):
        yield checks.Error(
            f"{label} has a CHECK constraint ({kind}); Electric allows only primary and foreign "
            "keys.",
            hint="Use the plain field (IntegerField for PositiveIntegerField, ...) with a "
            "validator instead.",
            obj=field,
            id="electric.E006",
        )
    if field.db_default is not models.NOT_PROVIDED:
        yield checks.Error(
            f"{label} has a database default (db_default); Electric refuses columns with defaults.",
            hint="Use a Python-side default= instead: it creates no database DEFAULT.",
            obj=field,
            id="electric.E007",
        )


def _check_primary_key(label, field, kind):
    if isinstance(field, models.UUIDField):
        return
    yield checks.Warning(
        f"{label} is a {kind} primary key; clients create rows offline, where sequential ids "
        "collide.",
        hint=f"Use {UUID_PRIMARY_KEY}.",
        obj=field,
        id="electric.W001",
    )

"""What Electric 0.12's `ENABLE ELECTRIC` accepts, as Django system-check messages.

Electric validates a table only when ENABLE ELECTRIC runs inside its proxy, usually at deploy time.
These rules say the same at `./manage.py check`: one message per offending field or table, each
saying what to use instead. electric/checks.py applies them to every model that a migration
electrifies, as it is now and as it was when its migration electrified it.
"""

import re

from django.conf import settings
from django.core import checks
from django.db import connections, models

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


def check_electrifiable(model):
    """Everything Electric 0.12's ENABLE ELECTRIC would refuse (errors) or advise against."""
    connection = connections["default"]
    messages = list(_check_table(model))
    for field in model._meta.local_fields:
        messages.extend(_check_field(model, field, connection))
    return messages


def check_references(model, electrified):
    """Foreign keys to tables that are not electrified: ENABLE accepts them in 0.12.1, but
    `npx electric-sql generate` and shape subscriptions that follow them fail later."""
    for field in model._meta.local_fields:
        if not (field.many_to_one or field.one_to_one) or not field.db_constraint:
            continue
        target = field.related_model
        if target in electrified or target is model:
            continue
        yield checks.Error(
            f"{model._meta.label}.{field.name} references {target._meta.label}, which no "
            "migration electrifies; Electric's client generator and shape sync fail on a "
            "foreign key to a table Electric does not sync.",
            hint=_reference_hint(field, target),
            obj=field,
            id="electric.E008",
        )


def _reference_hint(field, target):
    label = target._meta.label
    unchecked = (
        f"Add db_constraint=False to {field.name}: the column and the relation stay, Postgres "
        "checks no reference, and clients sync the id"
    )
    if target._meta.label == settings.AUTH_USER_MODEL:
        # Electrifying the user table would sync every user's password hash to every client.
        return (
            f"{unchecked}. If clients need user data, keep it in an electrified model of your "
            f"own (a profile with a ForeignKey to {label}, db_constraint=False) and point the "
            f"field at it; never electrify {label}."
        )
    if any(message.is_serious() for message in check_electrifiable(target)):
        return f"{unchecked} ({label} is not a model Electric 0.12 can electrify)."
    return (
        f"{unchecked}; or electrify {label} in a migration that runs before this model's "
        f"(`./manage.py electrify {label}`), if clients should sync it."
    )


def is_unique_index(constraint):
    """Whether Django makes this UniqueConstraint a unique index rather than a constraint:
    with a condition, expressions, include or opclasses (CREATE UNIQUE INDEX, DROP INDEX),
    which the proxy lets through and ENABLE ELECTRIC accepts (it reads only pg_constraint)."""
    return isinstance(constraint, models.UniqueConstraint) and bool(
        constraint.condition or constraint.expressions or constraint.include or constraint.opclasses
    )


def column_type_problem(field, connection):
    """(check id, problem, hint) when Electric 0.12 cannot sync the field's column type."""
    db_type = (field.db_type(connection) or "").lower()
    kind = type(field).__name__
    if SIZED_VARCHAR.match(db_type):
        return (
            "electric.E004",
            f"is {db_type} ({kind} with max_length); Electric 0.12 only syncs unsized varchar",
            "Use models.TextField() and validate the length in forms or clean().",
        )
    if db_type not in SUPPORTED_DB_TYPES:
        return (
            "electric.E005",
            f"is {db_type or 'not a column'} ({kind}), a type Electric 0.12 cannot sync",
            f"Use a field whose column type is one of: {SUPPORTED_LIST}.",
        )
    return None


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
        if is_unique_index(constraint):
            continue
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

    if field.generated:
        # Postgres records a generated column's expression as a default, which ENABLE refuses.
        yield checks.Error(
            f"{label} is a GeneratedField; Electric refuses generated columns.",
            hint="Compute the value in Python (a property, or save()) instead.",
            obj=field,
            id="electric.E009",
        )
        return

    type_problem = column_type_problem(field, connection)
    if type_problem:
        check_id, problem, hint = type_problem
        yield checks.Error(f"{label} {problem}.", hint=hint, obj=field, id=check_id)

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
            hint="Drop db_default. A Python-side default= creates no database DEFAULT when the "
            "table is created (CreateModel), but Django does write one when it adds the field to "
            "an existing table (AddField, see electric.E101).",
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

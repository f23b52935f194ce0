"""What `makemigrations` writes for an electrified model where Django's usual SQL is refused.

Django adds a field that has a default, or is NOT NULL, with `ADD COLUMN ... DEFAULT` and then
`DROP DEFAULT`, and makes a nullable column required with `SET NOT NULL`: Electric's proxy
refuses all three on an electrified table (EX006, EX007). The same model is reached in steps it
accepts, with plain Django operations (SeparateDatabaseAndState):
- the database gets a nullable column with no DEFAULT (a required field stays nullable in
  Postgres: Electric's clients write offline, so the database could not insist anyway);
- existing rows get the field's default, as Django's own AddField gives them (one UPDATE, when
  the default is a constant; `now()` for auto_now, auto_now_add and timezone.now; a fresh
  `gen_random_uuid()` each for uuid.uuid4);
- a field made nullable again, whose column already is, changes Django's state only;
- Django's state keeps the field exactly as the model declares it, so the model behaves as
  declared in Python (new objects get the default, forms require a value), and
  `makemigrations --check` stays clean.
Changes with no safe equivalent (a type, a column name, a constraint, a drop) are left alone:
electric/checks.py refuses them with the one recipe that works.
"""

import datetime
import decimal
import uuid
from dataclasses import dataclass

from django.db import migrations, models
from django.utils import timezone

from electric.operation_rules import database_changes, judge, table_name
from electric.schema_history import model_key

# What Django's AddField does that an electrified table cannot take, and a safe rewrite fixes.
REWRITABLE = {"electric.E101", "electric.W102"}
# Defaults a migration can hold as a constant and psycopg sends as one.
CONSTANTS = (bool, int, float, str, bytes, decimal.Decimal, datetime.date, datetime.time, uuid.UUID)
NOW_DEFAULTS = (timezone.now, datetime.datetime.now)
# Callable defaults and the SQL that gives each existing row a value of its own.
SQL_DEFAULTS = {timezone.now: "now()", uuid.uuid4: "gen_random_uuid()"}


@dataclass(frozen=True)
class Rewrite:
    """One operation written differently from Django's usual one, and why."""

    app_label: str
    migration: object
    label: str  # app_label.Model.field
    what: str

    def comment(self):
        return f"# - {self.label}: {self.what}"


def make_safe(changes, history):
    """Rewrite, in place, the operations of `changes` (makemigrations' app_label -> migrations)
    on electrified models; `history` is the SchemaHistory of the migrations on disk. Returns
    the Rewrites made."""
    electrified = set(history.electrified)
    state, database_state = history.state.clone(), history.database_state.clone()
    rewrites = []
    for app_label, app_migrations in changes.items():
        for migration in app_migrations:
            operations = []
            for operation in migration.operations:
                key = model_key(app_label, operation)
                if key in electrified and key in state.models:
                    models = (state.models[key], database_state.models.get(key))
                    safe = _safe_version(operation, *models)
                    if safe:
                        operation, what = safe
                        field = operation.state_operations[0].name
                        label = f"{app_label}.{models[0].name}.{field}"
                        rewrites.append(Rewrite(app_label, migration, label, what))
                _forwards(operation, app_label, state, database_state)
                operations.append(operation)
            migration.operations = operations
    return rewrites


def _forwards(operation, app_label, state, database_state):
    operation.state_forwards(app_label, state)
    database_operations = (
        operation.database_operations
        if isinstance(operation, migrations.SeparateDatabaseAndState)
        else [operation]
    )
    for database_operation in database_operations:
        database_operation.state_forwards(app_label, database_state)


def comment_block(rewrites):
    lines = [
        "# Electric 0.12's proxy refuses ADD COLUMN ... DEFAULT and SET NOT NULL on an",
        "# electrified table, so this migration differs from Django's usual one (see",
        "# electric/safe_migrations.py): the model keeps what it declares, in Python and in",
        "# Django's state.",
        *(rewrite.comment() for rewrite in rewrites),
    ]
    return "\n".join(lines) + "\n"


def _safe_version(operation, model_state, database_model_state):
    """(the safe operation, what it does differently), or None to keep `operation`."""
    if type(operation) is migrations.AddField:
        return _safe_add_field(operation, model_state)
    if type(operation) is migrations.AlterField:
        return _safe_alter_field(operation, model_state, database_model_state)
    return None


def _safe_add_field(operation, model_state):
    field = operation.field
    refusals = {refusal.check_id for refusal in judge(operation, model_state)}
    if not refusals or not refusals <= REWRITABLE:
        return None
    if field.db_default is not models.NOT_PROVIDED:
        return None  # the user asked Postgres for the default: refused, with its recipe
    fill, filled = _fill(operation.name, field, model_state)
    database = [migrations.AddField(model_state.name_lower, operation.name, _nullable(field))]
    what = "added nullable with no database default"
    if fill:
        database.append(fill)
        what += f"; existing rows set to {filled}"
    elif not field.null:
        what += "; existing rows hold NULL (no constant default to give them)"
    return _separate(database, operation), what


def _safe_alter_field(operation, model_state, database_model_state):
    old, new = model_state.fields.get(operation.name), operation.field
    if old is None or database_changes(old, new) != {"null"}:
        return None
    if old.null and not new.null:
        # Only NOT NULL is new: the column stays nullable; its NULLs get the default.
        fill, filled = _fill(operation.name, new, model_state)
        what = "required in Django, left nullable in Postgres (SET NOT NULL is refused)"
        if fill:
            what += f"; NULLs set to {filled}"
        return _separate([fill] if fill else [], operation), what
    in_database = database_model_state and database_model_state.fields.get(operation.name)
    if new.null and in_database and in_database.null:
        return _separate([], operation), "nullable in Django now; its column already was"
    return None


def _separate(database_operations, operation):
    return migrations.SeparateDatabaseAndState(
        database_operations=database_operations, state_operations=[operation]
    )


def _nullable(field):
    """The field as the database gets it: nullable, no default of any kind."""
    _, _, args, kwargs = field.deconstruct()
    for key in ("default", "db_default", "auto_now", "auto_now_add"):
        kwargs.pop(key, None)
    kwargs["null"] = True
    return type(field)(*args, **kwargs)


def _fill(name, field, model_state):
    """(a RunSQL that gives the rows where the column is NULL the field's default, how it
    reads), or (None, None)."""
    value = _default(field)
    if value is None:
        return None, None
    quote = _quote  # the names as Django's schema editor quotes them
    column = _column(name, field)
    # Quoted identifiers; the value goes as a parameter.
    sql = f"UPDATE {quote(table_name(model_state))} SET {quote(column)} = "  # noqa: S608
    where = f" WHERE {quote(column)} IS NULL"
    if callable(value):
        function = SQL_DEFAULTS[value]
        return migrations.RunSQL(sql + function + where, migrations.RunSQL.noop), function
    statement = (sql + "%s" + where, [value])
    return migrations.RunSQL([statement], migrations.RunSQL.noop), repr(value)


def _column(name, field):
    field = field.clone()
    field.set_attributes_from_name(name)  # a ForeignKey's column is name_id
    return field.column


def _default(field):
    """The constant Django's AddField would give existing rows, a callable of SQL_DEFAULTS, or
    None."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now
    if field.has_default():
        default = field.default
        if callable(default):
            if default in NOW_DEFAULTS:
                return timezone.now
            return default if default in SQL_DEFAULTS else None
        return default if isinstance(default, CONSTANTS) else None
    if not field.null and field.blank and field.empty_strings_allowed:
        return ""  # what Django fills a required blank text column with
    return None


def _quote(name):
    return '"' + name.replace('"', '""') + '"'

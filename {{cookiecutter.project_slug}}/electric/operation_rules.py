"""What Electric 0.12.1's migrations proxy does with each Django migration operation.

Once a table is electrified, the proxy accepts only additive changes: ADD COLUMN that is nullable
with no DEFAULT and no constraint, CREATE INDEX and DROP INDEX. Everything else on that table is
refused with one of Electric's EX codes (read from the proxy's query analyser in 0.12.1's source),
and a few statements make the proxy drop the connection whatever the table.

`judge(operation, model_state)` reads an operation the way Django's PostgreSQL schema editor will
turn it into SQL, and returns a `Refusal` for each statement the proxy would refuse. It needs no
database: electric/schema_history.py calls it while replaying the migrations on disk. SQL a
migration states itself (RunSQL) is judged by electric/sql_judge.py, as the proxy will judge it.
electric/tests/test_judges_agree.py holds both to the same verdicts on Django's real SQL.
"""

from dataclasses import dataclass

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import connections, models
from django.db.migrations import operations

from electric.rules import column_type_problem, is_unique_index
from electric.sql_judge import CRASH, SqlJudge

NULLABLE_RECIPE = (
    "Delete this migration and run `./manage.py makemigrations` again: for an electrified model "
    "it adds the column nullable with no database default, gives existing rows the default, and "
    "keeps the field as declared in Django's state (a SeparateDatabaseAndState; see "
    "electric/safe_migrations.py). By hand, write the same."
)
NEW_FIELD = (
    "Electric 0.12 cannot alter an electrified table's columns. Add a new field instead "
    "(null=True, no default), copy the data over in a data migration (RunPython), and move the "
    "code to it; keep the old field in the model (its column cannot be dropped either)."
)
PYTHON_ONLY = (
    "Electric 0.12 cannot alter an electrified table's columns or constraints: keep the "
    "field's database arguments as they were and enforce the rule in Python (validators, "
    "clean(), forms). A default= is Python only: no SQL."
)


@dataclass(frozen=True)
class Refusal:
    """One statement the proxy would refuse (or choke on), and the safe way to the same result."""

    check_id: str
    problem: str  # completes "<migration>: <operation> ..."
    fix: str
    electric_code: str = ""  # Electric's own error code, when it answers with one
    field: str | None = None
    consequence: str = "Electric's proxy refuses it"
    warning: bool = False
    crash: bool = False  # the proxy drops the connection rather than answer with a code


def judge(operation, model_state):
    """The Refusals for `operation` on the electrified model whose state (before it) is given."""
    for kind in type(operation).__mro__:
        rule = RULES.get(kind)
        if rule:
            return list(rule(operation, model_state))
    return []


def judge_any_table(operation, electrified_tables):
    """Refusals that do not depend on the operation's own model: the SQL of a RunSQL, judged
    with the tables electrified at that point, and index operations that use CONCURRENTLY."""
    if isinstance(operation, operations.RunSQL):
        return list(_run_sql(operation, electrified_tables))
    if isinstance(operation, (AddIndexConcurrently, RemoveIndexConcurrently)):
        return [
            Refusal(
                "electric.E121",
                "uses CONCURRENTLY, which PostgreSQL refuses inside a transaction block, and "
                "Electric's proxy wraps every CREATE and DROP INDEX in one",
                "Use AddIndex or RemoveIndex (in an atomic migration): the index is built with "
                "a lock on the table, which is short for tables a client syncs.",
                "25001",
                consequence="the migration fails there, after its earlier operations ran (it "
                "cannot be atomic)",
            )
        ]
    return []


def _add_field(operation, model_state):
    field, name = operation.field, operation.name
    if field.many_to_many:
        return  # a join table of its own; the electrified table is untouched
    if field.generated:
        yield Refusal(
            "electric.E107",
            f"adds the generated column {name!r}",
            "Compute the value in Python (a property, or save()) instead.",
            "EX011",
            name,
        )
        return
    if _writes_database_default(field):
        yield Refusal(
            "electric.E101",
            f"adds {name!r} with a database DEFAULT (Django writes one for every default=, even "
            "with null=True, for auto_now/auto_now_add, and for the one-off default "
            "makemigrations asks for)",
            NULLABLE_RECIPE,
            "EX006",
            name,
        )
    elif not field.null:
        yield Refusal(
            "electric.W102",
            f"adds {name!r} as NOT NULL without a default",
            "Add it with null=True; enforce the value in Python (forms, clean()).",
            field=name,
            consequence="Postgres refuses that on a table with rows, and clients still on the "
            "old schema cannot fill the column",
            warning=True,
        )
    if field.remote_field and field.db_constraint:
        yield Refusal(
            "electric.E103",
            f"adds the foreign key {name!r} (an inline REFERENCES constraint)",
            "Add it with db_constraint=False and null=True: the column is kept, Postgres checks "
            "no reference (Electric 0.12 cannot add a FOREIGN KEY to an electrified table).",
            "EX011",
            name,
        )
    if field.primary_key or field.unique:
        yield Refusal(
            "electric.E104",
            f"adds {name!r} with a {'PRIMARY KEY' if field.primary_key else 'UNIQUE'} "
            "constraint (unique=True, or a OneToOneField)",
            "Drop unique=True (a OneToOneField becomes a ForeignKey with db_constraint=False) "
            "and check uniqueness in Python.",
            "EX011",
            name,
        )
    connection = connections["default"]
    if _has_check(field, connection):
        yield Refusal(
            "electric.E105",
            f"adds {name!r} with a CHECK constraint ({type(field).__name__})",
            "Use the plain field (IntegerField for PositiveIntegerField, ...) with a validator.",
            "EX011",
            name,
        )
    type_problem = None if field.remote_field else column_type_problem(field, connection)
    if type_problem:
        _, problem, hint = type_problem
        yield Refusal("electric.E106", f"adds {name!r}, which {problem}", hint, "EX005", name)


def _writes_database_default(field):
    """Whether Django's AddField puts DEFAULT in ADD COLUMN (schema editor's effective default)."""
    if field.db_default is not models.NOT_PROVIDED:
        return True
    if field.has_default():
        return field.default is not None
    if not field.null and field.blank and field.empty_strings_allowed:
        return True  # Django fills existing rows of a NOT NULL, blank=True text column with ''
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


# What an AlterField changes in the database, by the field argument it changes. Arguments that
# only Python sees (Field.non_db_attrs, default, auto_now...) emit no SQL, and index changes only
# CREATE or DROP INDEX, which the proxy lets through. Django sends a new db_comment with an
# ALTER COLUMN ... TYPE of the same type: refused like a type change.
TYPE_CHANGES = {"type", "max_length", "max_digits", "decimal_places", "db_collation", "db_comment"}
PYTHON_ONLY_ARGUMENTS = {"default", "auto_now", "auto_now_add", "db_index"}


def _alter_field(operation, model_state):
    old, new = model_state.fields.get(operation.name), operation.field
    if old is None or old.many_to_many or new.many_to_many:
        return
    name = operation.name
    if (old.db_column or name) != (new.db_column or name):
        yield Refusal(
            "electric.E113",
            f"renames the column of {name!r} (db_column)",
            "Keep the column name: leave db_column as it was.",
            "EX008",
            name,
        )
    changed = database_changes(old, new)
    if changed & TYPE_CHANGES:
        yield Refusal(
            "electric.E110", f"changes the column type of {name!r}", NEW_FIELD, "EX009", name
        )
    elif changed:
        yield Refusal(
            "electric.E111",
            f"alters {name!r} ({', '.join(sorted(changed))}): SET/DROP NOT NULL, DEFAULT or "
            "a constraint",
            PYTHON_ONLY,
            "EX007",
            name,
        )


def database_changes(old, new):
    """The field arguments (and derived properties) whose change Django turns into SQL."""
    old_kwargs, new_kwargs = _database_arguments(old), _database_arguments(new)
    changed = {
        key
        for key in old_kwargs.keys() | new_kwargs.keys()
        if old_kwargs.get(key) != new_kwargs.get(key)
    }
    connection = connections["default"]
    relational = old.remote_field or new.remote_field
    if not relational and old.db_type(connection) != new.db_type(connection):
        changed.add("type")
    if _has_check(old, connection) != _has_check(new, connection):
        changed.add("check")
    if old.unique != new.unique:
        changed.add("unique")  # a OneToOneField is unique without saying so
    return changed


def _database_arguments(field):
    _, _, _, kwargs = field.deconstruct()
    # db_column counts only when the column's name changes (E113, above): Django adds it, with
    # the old name, before a RenameField that keeps the column.
    ignored = set(field.non_db_attrs) | PYTHON_ONLY_ARGUMENTS | {"db_column"}
    return {key: value for key, value in kwargs.items() if key not in ignored}


def _has_check(field, connection):
    # Not field.db_check(): it formats the column name, which an unbound field lacks.
    return field.get_internal_type() in connection.data_type_check_constraints


def _remove_field(operation, model_state):
    field = model_state.fields.get(operation.name)
    if field is not None and field.many_to_many:
        return
    # Django drops a foreign key's constraint first (ALTER TABLE ... DROP CONSTRAINT: EX007),
    # then the column (EX010).
    foreign_key = field is not None and field.remote_field and field.db_constraint
    yield Refusal(
        "electric.E112",
        f"drops the column {operation.name!r}"
        + (" (first its FOREIGN KEY constraint)" if foreign_key else ""),
        "Keep the field in the model and stop using it in code; give it a default= (Python "
        "only, no SQL) if new rows must still get a value. Electric 0.12 cannot drop a column "
        "of an electrified table.",
        "EX007" if foreign_key else "EX010",
        operation.name,
    )


def _rename_field(operation, model_state):
    field = model_state.fields.get(operation.old_name)
    if field is not None and (field.many_to_many or field.db_column):
        return  # the column keeps its name
    yield Refusal(
        "electric.E113",
        f"renames the column {operation.old_name!r} to {operation.new_name!r}",
        f"Rename the field in Python only: keep the column with "
        f"db_column={operation.old_name!r} on the renamed field.",
        "EX008",
        operation.old_name,
    )


def _rename_model(operation, model_state):
    if model_state.options.get("db_table"):
        return  # an explicit db_table keeps the table's name
    yield Refusal(
        "electric.E114",
        f"renames the table of {operation.old_name} (its name follows the model's)",
        f"Keep the table: set Meta.db_table to {default_table(model_state)!r} on the renamed "
        "model before renaming it.",
        "EX002",
    )


def _alter_model_table(operation, model_state):
    new_table = operation.table or f"{model_state.app_label}_{model_state.name_lower}"
    if new_table == table_name(model_state):
        return
    yield Refusal(
        "electric.E114",
        f"renames the table {table_name(model_state)!r} to {new_table!r}",
        "Keep Meta.db_table as it was; Electric 0.12 cannot rename an electrified table.",
        "EX002",
    )


def _delete_model(operation, model_state):
    yield Refusal(
        "electric.E115",
        f"drops the electrified table {table_name(model_state)!r}",
        "Keep the model (stop using it in code); Electric 0.12 cannot drop an electrified table.",
        "EX004",
    )


def _constraint(operation, model_state):
    if isinstance(operation, operations.AddConstraint):
        constraint = operation.constraint
        problem = f"adds the constraint {constraint.name!r}"
    else:
        constraint = _named_constraint(model_state, operation.name)
        problem = f"drops the constraint {operation.name!r}"
    if is_unique_index(constraint):
        return  # CREATE / DROP UNIQUE INDEX: the proxy lets indexes through
    yield Refusal(
        "electric.E116",
        problem,
        "Enforce the rule in Python (clean(), forms): clients write offline, so the database "
        "cannot enforce it anyway. Electric allows only primary and foreign keys.",
        "EX007",
    )


def _named_constraint(model_state, name):
    for constraint in model_state.options.get("constraints", ()):
        if constraint.name == name:
            return constraint
    return None


def _unique_together(operation, model_state):
    before = {tuple(names) for names in model_state.options.get("unique_together") or ()}
    after = {tuple(names) for names in operation.option_value or ()}
    if before == after:
        return
    yield Refusal(
        "electric.E116",
        "changes unique_together (ADD or DROP CONSTRAINT)",
        "Enforce uniqueness in Python; Electric allows only primary and foreign keys.",
        "EX007",
    )


def _order_with_respect_to(operation, model_state):
    before = model_state.options.get("order_with_respect_to")
    after = operation.order_with_respect_to
    if bool(before) == bool(after):
        return
    if after:
        problem, code = "adds the column '_order' with a database DEFAULT", "EX006"
    else:
        problem, code = "drops the column '_order'", "EX010"
    yield Refusal(
        "electric.E118",
        f"{problem} (order_with_respect_to)",
        "Order by a field of your own (a nullable IntegerField) instead.",
        code,
        "_order",
    )


def _run_sql(operation, electrified_tables):
    judge = SqlJudge(electrified_tables)
    for sql in _statements(operation.sql):
        for verdict in judge.refusals(sql):
            crash = verdict.outcome == CRASH
            yield Refusal(
                "electric.E120",
                f"runs `{verdict.sql}`: {verdict.message}",
                "Write plain statements that Electric accepts (one RunSQL each), or use "
                "RunPython (which must not catch database errors: Django would send ROLLBACK "
                "TO SAVEPOINT).",
                verdict.code,
                consequence="Electric's proxy drops the connection"
                if crash
                else "Electric's proxy refuses it",
                crash=crash,
            )


def _statements(sql):
    """RunSQL's statements as the proxy receives them, with NULL for each parameter."""
    if sql == operations.RunSQL.noop:
        return []
    items = sql if isinstance(sql, (list, tuple)) else [sql]
    statements = []
    for item in items:
        if isinstance(item, (list, tuple)):
            text, params = item[0], item[1] if len(item) > 1 else None
            # The shape of the statement is what is judged: a parameter is a value.
            text = text % tuple("NULL" for _ in params) if params else text
        else:
            text = item
        statements.append(str(text))
    return statements


def table_name(model_state):
    return model_state.options.get("db_table") or default_table(model_state)


def default_table(model_state):
    return f"{model_state.app_label}_{model_state.name_lower}"


RULES = {
    operations.AddField: _add_field,
    operations.AlterField: _alter_field,
    operations.RemoveField: _remove_field,
    operations.RenameField: _rename_field,
    operations.RenameModel: _rename_model,
    operations.AlterModelTable: _alter_model_table,
    operations.DeleteModel: _delete_model,
    operations.AddConstraint: _constraint,
    operations.RemoveConstraint: _constraint,
    operations.AlterUniqueTogether: _unique_together,
    operations.AlterOrderWithRespectTo: _order_with_respect_to,
}

"""The fast static checks and the SQL judge give the same verdict on every common operation.

`check` and `makemigrations` judge migration operations without a database
(electric/operation_rules.py); `migrate --database=proxy` judges the SQL Django really sends
(electric/sql_judge.py, Electric's own rules). For a catalog of Django's migration operations in
their common variants, on an electrified table and on a plain one, Django's PostgreSQL schema
editor writes the real SQL (on a real table), and the first refusal of each judge must carry the
same code: Electric's EX code, PostgreSQL's SQLSTATE, or "crash" for what drops the connection.
"""

import copy
import re

import pytest
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import connection, migrations, models, transaction
from django.db.migrations.state import ProjectState
from django.db.models import Q
from django.db.models.functions import Lower

from electric.operations import EnableElectric
from electric.schema_history import SchemaHistory
from electric.sql_judge import CRASH, SqlJudge
from tests.django_commands import PROJECT

APP = "judged"
TABLE = "judged_thing"

BASE = migrations.CreateModel(
    "Thing",
    [
        ("id", models.UUIDField(primary_key=True)),
        ("title", models.TextField()),
        ("note", models.TextField(null=True)),
        ("memo", models.TextField(null=True, db_column="memo_column")),
        ("parent", models.ForeignKey("judged.thing", models.CASCADE, null=True)),
    ],
    options={
        "indexes": [models.Index(fields=["title"], name="thing_title_idx")],
        "constraints": [
            models.CheckConstraint(condition=Q(title__gt=""), name="thing_title_check"),
            models.UniqueConstraint(fields=["title"], name="thing_title_unique"),
            models.UniqueConstraint(
                fields=["note"], condition=Q(note__isnull=False), name="thing_note_partial"
            ),
        ],
    },
)


def add(name, field):
    return migrations.AddField("thing", name, field)


def alter(name, field):
    return migrations.AlterField("thing", name, field)


def unique(name, **options):
    return migrations.AddConstraint("thing", models.UniqueConstraint(name=name, **options))


CATALOG = {
    # AddField
    "add nullable": add("extra", models.TextField(null=True)),
    "add with default": add("extra", models.BooleanField(default=False)),
    "add nullable with default": add("extra", models.TextField(null=True, default="x")),
    "add with db_default": add("extra", models.IntegerField(null=True, db_default=1)),
    "add NOT NULL": add("extra", models.IntegerField()),
    "add auto_now_add": add("extra", models.DateTimeField(auto_now_add=True, null=True)),
    "add foreign key": add("extra", models.ForeignKey("judged.thing", models.CASCADE, null=True)),
    "add foreign key without constraint": add(
        "extra", models.ForeignKey("judged.thing", models.CASCADE, null=True, db_constraint=False)
    ),
    "add one-to-one": add("extra", models.OneToOneField("judged.thing", models.CASCADE, null=True)),
    "add unique": add("extra", models.TextField(null=True, unique=True)),
    "add db_index": add("extra", models.TextField(null=True, db_index=True)),
    "add check": add("extra", models.PositiveIntegerField(null=True)),
    "add sized varchar": add("extra", models.CharField(max_length=20, null=True)),
    "add decimal": add("extra", models.DecimalField(max_digits=5, decimal_places=2, null=True)),
    "add generated": add(
        "extra",
        models.GeneratedField(
            expression=Lower("title"), output_field=models.TextField(), db_persist=True
        ),
    ),
    "add many-to-many": add("extra", models.ManyToManyField("judged.thing")),
    # AlterField
    "alter type": alter("note", models.IntegerField(null=True)),
    "alter null to NOT NULL": alter("note", models.TextField()),
    "alter NOT NULL to null": alter("title", models.TextField(null=True)),
    "alter default only": alter("note", models.TextField(null=True, default="x")),
    "alter db_comment": alter("note", models.TextField(null=True, db_comment="A note")),
    "alter unique": alter("note", models.TextField(null=True, unique=True)),
    "alter db_index": alter("note", models.TextField(null=True, db_index=True)),
    "alter help_text": alter("note", models.TextField(null=True, help_text="Say it")),
    "alter db_column": alter("note", models.TextField(null=True, db_column="remark")),
    # RemoveField, RenameField
    "remove field": migrations.RemoveField("thing", "note"),
    "remove foreign key": migrations.RemoveField("thing", "parent"),
    "rename field": migrations.RenameField("thing", "note", "remark"),
    "rename field with db_column": migrations.RenameField("thing", "memo", "memorandum"),
    # Models
    "rename model": migrations.RenameModel("Thing", "Gadget"),
    "alter model table": migrations.AlterModelTable("thing", "gadgets"),
    "delete model": migrations.DeleteModel("Thing"),
    # Indexes
    "add index": migrations.AddIndex("thing", models.Index(fields=["note"], name="thing_note")),
    "remove index": migrations.RemoveIndex("thing", "thing_title_idx"),
    "rename index": migrations.RenameIndex(
        "thing", new_name="thing_title_new", old_name="thing_title_idx"
    ),
    "add index concurrently": AddIndexConcurrently(
        "thing", models.Index(fields=["note"], name="thing_note")
    ),
    "remove index concurrently": RemoveIndexConcurrently("thing", "thing_title_idx"),
    # Constraints
    "add check constraint": migrations.AddConstraint(
        "thing", models.CheckConstraint(condition=Q(note__gt=""), name="thing_note_check")
    ),
    "add unique constraint": unique("thing_note_unique", fields=["note"]),
    "add partial unique": unique("thing_note_p", fields=["note"], condition=Q(title="x")),
    "add expression unique": migrations.AddConstraint(
        "thing", models.UniqueConstraint(Lower("title"), name="thing_lower_title")
    ),
    "add unique with include": unique("thing_note_inc", fields=["note"], include=["title"]),
    "add unique with opclasses": unique(
        "thing_note_ops", fields=["note"], opclasses=["text_pattern_ops"]
    ),
    "remove check constraint": migrations.RemoveConstraint("thing", "thing_title_check"),
    "remove unique constraint": migrations.RemoveConstraint("thing", "thing_title_unique"),
    "remove partial unique": migrations.RemoveConstraint("thing", "thing_note_partial"),
    "alter unique_together": migrations.AlterUniqueTogether("thing", {("title", "note")}),
    "alter order_with_respect_to": migrations.AlterOrderWithRespectTo("thing", "parent"),
    # RunSQL
    "RunSQL update": migrations.RunSQL(f"UPDATE {TABLE} SET note = 'x'"),
    "RunSQL with parameters": migrations.RunSQL([(f"UPDATE {TABLE} SET note = %s", ["x"])]),
    "RunSQL drop column": migrations.RunSQL(f"ALTER TABLE {TABLE} DROP COLUMN note"),
    "RunSQL add column with default": migrations.RunSQL(
        f"ALTER TABLE {TABLE} ADD COLUMN n integer DEFAULT 0"
    ),
    "RunSQL two statements": migrations.RunSQL(
        f"CREATE INDEX thing_n ON {TABLE} (note); ALTER TABLE {TABLE} RENAME COLUMN note TO n"
    ),
    "RunSQL DO block": migrations.RunSQL("DO $$ BEGIN PERFORM 1; END $$"),
    "RunSQL rollback to savepoint": migrations.RunSQL("SAVEPOINT a; ROLLBACK TO SAVEPOINT a"),
    "RunSQL start transaction": migrations.RunSQL("START TRANSACTION"),
    "RunSQL prepare transaction": migrations.RunSQL("PREPARE TRANSACTION 'x'"),
    "RunSQL concurrently": migrations.RunSQL(f"CREATE INDEX CONCURRENTLY i ON {TABLE} (note)"),
    "RunSQL disable electric": migrations.RunSQL(f"ALTER TABLE {TABLE} DISABLE ELECTRIC"),
    "RunSQL newer than PostgreSQL 15": migrations.RunSQL("SELECT JSON_OBJECT('a': 1)"),
    # SeparateDatabaseAndState
    "database side refused": migrations.SeparateDatabaseAndState(
        database_operations=[add("extra", models.BooleanField(default=False))]
    ),
    "state side only": migrations.SeparateDatabaseAndState(
        state_operations=[migrations.RemoveField("thing", "note")]
    ),
}


def django_sql(operation):
    """The statements Django's PostgreSQL schema editor sends for `operation` on the table."""
    state = ProjectState()
    BASE.state_forwards(APP, state)
    after = state.clone()
    operation.state_forwards(APP, after)
    if isinstance(operation, (AddIndexConcurrently, RemoveIndexConcurrently)):
        # They refuse to run inside a transaction (their migrations are atomic = False); the
        # test's own transaction holds this one, and collecting SQL runs nothing.
        operation = copy.copy(operation)
        operation._ensure_not_in_transaction = lambda schema_editor: None
    with transaction.atomic():  # the table is made for this operation only
        with connection.schema_editor() as editor:
            editor.create_model(state.apps.get_model(APP, "thing"))
        with connection.schema_editor(collect_sql=True) as editor:
            operation.database_forwards(APP, editor, state, after)
        transaction.set_rollback(True)
    return editor.collected_sql


def sql_verdict(statements, electrified):
    judge = SqlJudge({TABLE} if electrified else ())
    for sql in statements:
        for verdict in judge.refusals(sql):
            return CRASH if verdict.outcome == CRASH else verdict.code
    return None


def static_refusals(operation, electrified):
    """What the system checks report about `operation`, as SchemaHistory replays it after the
    table's creation (and electrification)."""
    steps = [[BASE], [EnableElectric("Thing")] if electrified else [], [operation]]
    history = SchemaHistory([_migration(number, ops) for number, ops in enumerate(steps)])
    return [f.refusal for f in history.findings if f.migration.name == "m2"]


def static_verdict(operation, electrified):
    """The code of the first error the system checks report about `operation`."""
    errors = [r for r in static_refusals(operation, electrified) if not r.warning]
    if not errors:
        return None
    return CRASH if errors[0].crash else errors[0].electric_code


def _migration(number, operations):
    migration = migrations.Migration(f"m{number}", APP)
    migration.operations = operations
    return migration


@pytest.mark.django_db
@pytest.mark.parametrize("electrified", [True, False], ids=["electrified", "plain"])
@pytest.mark.parametrize("case", CATALOG)
def test_the_static_verdict_is_the_sql_judges(case, electrified):
    operation = CATALOG[case]
    statements = django_sql(operation)

    expected = sql_verdict(statements, electrified)

    assert static_verdict(operation, electrified) == expected, statements


def verdict_table():
    """The catalog's verdicts, one line each: `python -c` prints it for a review."""
    return [
        f"{case}: {static_verdict(operation, True)} / {static_verdict(operation, False)}"
        for case, operation in CATALOG.items()
    ]


def test_the_catalog_covers_both_answers():
    # A catalog where every operation passed, or none did, would prove little.
    verdicts = {case: static_verdict(operation, True) for case, operation in CATALOG.items()}
    assert sum(verdict is None for verdict in verdicts.values()) >= 15
    assert len({verdict for verdict in verdicts.values()} - {None}) >= 10


# docs/electric.md's table "Changing an electrified model": each row, and the catalog's cases it
# speaks for. A row added to the docs without its cases here fails below.
DOCS_ROWS = {
    "a new field with `null=True` and no default": ["add nullable"],
    "a new field with `default=` (even `null=True`), `auto_now(_add)`, or a required `blank=True` "
    "text": ["add with default", "add nullable with default", "add auto_now_add"],
    "a new required field with no default (makemigrations asks for a one-off)": ["add NOT NULL"],
    "a new field with `db_default=`": ["add with db_default"],
    "a new `ForeignKey` / `OneToOneField`": ["add foreign key", "add one-to-one"],
    "a new field with `unique=True`, a CHECK (`PositiveIntegerField`), `GeneratedField`": [
        "add unique",
        "add check",
        "add generated",
    ],
    "a new `CharField(max_length=...)`, `DecimalField`...": ["add sized varchar", "add decimal"],
    "making a nullable field required": ["alter null to NOT NULL"],
    "making a required field nullable (unless `makemigrations` made its column nullable), "
    "`unique`, `db_default`, the target of a foreign key": [
        "alter NOT NULL to null",
        "alter unique",
    ],
    "a field's type, `max_length` or `db_comment`": ["alter type", "alter db_comment"],
    "removing a field": ["remove field"],
    "renaming a field": ["rename field"],
    "renaming the model or `Meta.db_table`": ["rename model", "alter model table"],
    "deleting the model": ["delete model"],
    "`Meta.constraints` (check, plain unique), `unique_together`": [
        "add check constraint",
        "add unique constraint",
        "remove check constraint",
        "remove unique constraint",
        "alter unique_together",
    ],
    "a `UniqueConstraint` with a `condition`, expressions, `include` or `opclasses`": [
        "add partial unique",
        "add expression unique",
        "add unique with include",
        "add unique with opclasses",
        "remove partial unique",
    ],
    "`order_with_respect_to`": ["alter order_with_respect_to"],
    "`AddIndexConcurrently`, `RemoveIndexConcurrently` (any table)": [
        "add index concurrently",
        "remove index concurrently",
    ],
    "a `RunSQL` that alters an electrified table, uses DDLX other than ENABLE, or syntax newer "
    "than PostgreSQL 15": [
        "RunSQL drop column",
        "RunSQL disable electric",
        "RunSQL newer than PostgreSQL 15",
    ],
    "a `RunSQL` with a `DO` block, `START TRANSACTION`, `ROLLBACK TO SAVEPOINT`, `PREPARE "
    "TRANSACTION` (any table)": [
        "RunSQL DO block",
        "RunSQL rollback to savepoint",
        "RunSQL start transaction",
        "RunSQL prepare transaction",
    ],
    "indexes (`Meta.indexes`, `db_index=True`), renaming an index, `help_text`, `choices`, "
    "`verbose_name`, `blank`, ordering": [
        "add index",
        "remove index",
        "rename index",
        "add db_index",
        "alter db_index",
        "alter help_text",
    ],
}


def readme_table():
    """{first cell: (the proxy's cell, the check's cell)} of docs/electric.md's table."""
    text = (PROJECT / "docs" / "electric.md").read_text()
    section = text.split("## Changing an electrified model", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    cells = [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]
    return {row[0]: (row[2], row[3]) for row in cells}


def codes_in(proxy_cell):
    if "drops the connection" in proxy_cell:
        return {CRASH}
    codes = set(re.findall(r"\b(EX\d{3}|\d{5})\b", proxy_cell))
    return codes or {None}


def test_the_docs_table_has_a_row_for_every_refusal_and_no_row_untested():
    table = readme_table()
    assert set(table) == set(DOCS_ROWS)
    source = (PROJECT / "electric" / "operation_rules.py").read_text()
    ids = set(re.findall(r'"electric\.([EW]1\d\d)"', source))
    said = {check_id for _, check in table.values() for check_id in re.findall(r"[EW]1\d\d", check)}
    assert ids <= said, f"docs/electric.md says nothing of {sorted(ids - said)}"


@pytest.mark.django_db
@pytest.mark.parametrize("row", DOCS_ROWS)
def test_the_docs_table_says_what_the_judges_say(row):
    proxy_cell, check_cell = readme_table()[row]
    check_ids = set(re.findall(r"[EW]1\d\d", check_cell))
    for case in DOCS_ROWS[row]:
        operation = CATALOG[case]
        assert sql_verdict(django_sql(operation), True) in codes_in(proxy_cell), case
        found = {r.check_id.removeprefix("electric.") for r in static_refusals(operation, True)}
        assert found <= check_ids and bool(found) == bool(check_ids), (case, found)

"""The SQL a migration plan will send through Electric's proxy, judged before any of it runs.

Each migration's statements are collected as `sqlmigrate` collects them (Django's schema editor
in collect_sql mode: forwards or backwards, RunSQL with its parameters, the database side of
SeparateDatabaseAndState, deferred constraints at the end of each migration, non-atomic
migrations alike), then judged in order by electric/sql_judge.py, which starts from the tables
Electric has electrified and learns those that the plan's ENABLE ELECTRIC adds.
"""

from dataclasses import dataclass

from django.db.migrations.loader import MigrationLoader

from electric.sql_judge import SqlJudge, Verdict

# The way out of each refusal, by Electric's code (or PostgreSQL's SQLSTATE). `./manage.py
# check` names the recipe for the exact operation; these say it in a line.
RECIPES = {
    "EX001": "Electric 0.12 runs no DDLX but ENABLE; an electrified table stays electrified.",
    "EX002": "Keep the table's name: set Meta.db_table to the old name.",
    "EX003": "Keep the name as it is.",
    "EX005": "Use a type Electric syncs (TextField, not CharField(max_length=...)).",
    "EX006": "Add the field with null=True and no default: `./manage.py makemigrations` "
    "writes that migration itself for an electrified model; regenerate this one.",
    "EX007": "Electric 0.12 cannot alter an electrified table's columns or constraints: "
    "change the model in Python only (validation), or add a new nullable field.",
    "EX008": "Rename the field in Python only: keep db_column set to the old column name.",
    "EX009": "Add a new nullable field of the new type and copy the data over.",
    "EX010": "Keep the field in the model, unused, with a default= for new rows (no SQL).",
    "EX011": "Add the field nullable, without the constraint (db_constraint=False for a "
    "foreign key); check it in Python.",
    "EX012": "Keep the constraint's name.",
    "EX004": "Keep the model; stop using it in code.",
    "00000": "Electric's DDLX form is `ALTER TABLE <table> ENABLE ELECTRIC`.",
    "25001": "Create or drop the index without CONCURRENTLY (AddIndex, RemoveIndex).",
    "42601": "Write it in PostgreSQL 15's syntax, which Electric's proxy parses.",
    "": "Write plain statements (one RunSQL each), or use RunPython; never catch database "
    "errors inside a migration (Django would send ROLLBACK TO SAVEPOINT).",
}
BACKWARDS = (
    "Electric cannot undo this change of an electrified table: leave the migration applied, and "
    "make the change you want with a new forward migration."
)


@dataclass(frozen=True)
class PlannedRefusal:
    migration: object  # django.db.migrations.Migration
    backwards: bool
    verdict: Verdict

    def __str__(self):
        migration = f"{self.migration.app_label}.{self.migration.name}"
        direction = " (backwards)" if self.backwards else ""
        recipe = BACKWARDS if self.backwards else RECIPES.get(self.verdict.code, RECIPES[""])
        return f"{migration}{direction}: {self.verdict} in `{self.verdict.sql}`. {recipe}"


def plan_statements(connection, plan):
    """(migration, backwards, sql) for each statement the plan sends, in order."""
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    forwards_state = None
    for migration, backwards in plan:
        key = (migration.app_label, migration.name)
        migration = loader.graph.nodes.get(key, migration)
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            if backwards:
                # A migration is unapplied from the state before it (Migration.unapply).
                state = loader.project_state(key, at_end=False)
                migration.unapply(state, editor, collect_sql=True)
            else:
                if forwards_state is None:
                    # Everything the plan's migrations depend on, none of them: where it starts.
                    keys = [(m.app_label, m.name) for m, _ in plan]
                    forwards_state = loader.project_state(keys, at_end=False)
                forwards_state = migration.apply(forwards_state, editor, collect_sql=True)
        for sql in editor.collected_sql:
            if not sql.lstrip().startswith("--"):  # Django's comments around each operation
                yield migration, backwards, sql


def plan_refusals(connection, plan, electrified):
    """What the proxy would refuse (or choke on) in `plan`, given the tables Electric has
    electrified before it runs."""
    judge = SqlJudge(electrified)
    for migration, backwards, sql in plan_statements(connection, plan):
        for verdict in judge.refusals(sql):
            yield PlannedRefusal(migration, backwards, verdict)

"""The migrations on disk as Electric's proxy will see them: which models are electrified, when.

`SchemaHistory` replays every migration in graph order on Django's in-memory project state (no
database connection), tracking the electrified models through renames and deletions, so that each
operation is judged against the table as it is at that point (electric/operation_rules.py) and
each model is judged as it was when `EnableElectric` ran (electric/rules.py).
"""

from dataclasses import dataclass

from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import DeleteModel, RenameModel, SeparateDatabaseAndState
from django.db.migrations.state import ProjectState

from electric.operation_rules import Refusal, judge, judge_any_table, table_name
from electric.operations import EnableElectric


@dataclass(frozen=True)
class Finding:
    """A Refusal, placed: in which migration, by which operation, on which model."""

    migration: object  # django.db.migrations.Migration
    operation: object
    model_label: str | None  # "app_label.ModelName" as it was at that point
    refusal: Refusal

    @property
    def migration_label(self):
        return f"{self.migration.app_label}.{self.migration.name}"


@dataclass(frozen=True)
class Electrification:
    """One EnableElectric: where it is, and the model as the proxy's ENABLE will see it."""

    migration: object
    model_key: tuple[str, str]  # (app_label, model_name_lower)
    table: str
    model: type | None  # rendered from the project state at that point, when it renders


class SchemaHistory:
    def __init__(self, migrations, unmigrated_apps=()):
        self.findings: list[Finding] = []
        self.electrifications: list[Electrification] = []
        # Electrified models that still exist at the end: model key -> its Electrification.
        self.electrified: dict[tuple[str, str], Electrification] = {}
        self.state = ProjectState(real_apps=set(unmigrated_apps))
        # The models as the database has them, where SeparateDatabaseAndState made it differ
        # from Django's state (a field required in Django, its column nullable, say).
        self.database_state = ProjectState(real_apps=set(unmigrated_apps))
        for migration in migrations:
            for operation in migration.operations:
                self._replay(migration, operation)

    @classmethod
    def from_disk(cls, extra_migrations=(), applied_only_for=None):
        """Every migration on disk, in an order that respects their dependencies.

        extra_migrations: migrations not written yet (makemigrations --dry-run), replayed last.
        applied_only_for: a connection; replay only the migrations recorded as applied there.
        """
        loader = MigrationLoader(applied_only_for, ignore_no_migrations=True)
        graph = loader.graph
        order, seen = [], set()
        for leaf in sorted(graph.leaf_nodes()):
            for key in graph.forwards_plan(leaf):
                if key not in seen:
                    seen.add(key)
                    order.append(key)
        if applied_only_for is not None:
            order = [key for key in order if key in loader.applied_migrations]
        migrations = [graph.nodes[key] for key in order]
        migrations += [m for m in extra_migrations if (m.app_label, m.name) not in seen]
        return cls(migrations, loader.unmigrated_apps)

    def electrified_tables(self):
        """The tables of the electrified models, as they are at the end of the replay."""
        return {
            key: table_name(self.state.models[key])
            for key in self.electrified
            if key in self.state.models
        }

    def _replay(self, migration, operation):
        app_label = migration.app_label
        if isinstance(operation, SeparateDatabaseAndState):
            # The database sees database_operations, which Django turns into SQL starting from
            # its own state; Django's state follows state_operations.
            state = self.state.clone()
            for database_operation in operation.database_operations:
                self._judge(migration, database_operation, state)
                database_operation.state_forwards(app_label, state)
                database_operation.state_forwards(app_label, self.database_state)
            operation.state_forwards(app_label, self.state)
            return
        self._judge(migration, operation, self.state)
        self._track(migration, operation)
        operation.state_forwards(app_label, self.state)
        operation.state_forwards(app_label, self.database_state)

    def _judge(self, migration, operation, state):
        key = model_key(migration.app_label, operation)
        electrified_tables = {
            table_name(state.models[electrified])
            for electrified in self.electrified
            if electrified in state.models
        }
        refusals = judge_any_table(operation, electrified_tables)
        if key in self.electrified and key in state.models:
            refusals += judge(operation, state.models[key])
        label = _label(state, key)
        self.findings += [Finding(migration, operation, label, r) for r in refusals]

    def _track(self, migration, operation):
        """Keep `electrified` in step with the model it names (before state_forwards)."""
        app_label = migration.app_label
        if isinstance(operation, EnableElectric):
            key = (app_label, operation.model_name.lower())
            if key in self.state.models and key not in self.electrified:
                table = table_name(self.state.models[key])
                electrification = Electrification(migration, key, table, self._render(key))
                self.electrifications.append(electrification)
                self.electrified[key] = electrification
        elif isinstance(operation, RenameModel):
            old_key = (app_label, operation.old_name_lower)
            if old_key in self.electrified:
                self.electrified[(app_label, operation.new_name_lower)] = self.electrified.pop(
                    old_key
                )
        elif isinstance(operation, DeleteModel):
            self.electrified.pop((app_label, operation.name_lower), None)

    def _render(self, key):
        """The model as the state has it now, or None if the state cannot be rendered yet (a
        reference to an app with no migration: Django reports that itself)."""
        try:
            # Render a copy: rendering the state itself would make every later state_forwards
            # re-render the models it touches.
            return self.state.clone().apps.get_model(*key)
        except ValueError:
            return None


def model_key(app_label, operation):
    for attribute in ("model_name_lower", "old_name_lower", "name_lower"):
        name = getattr(operation, attribute, None)
        if isinstance(name, str):
            return (app_label, name)
    if isinstance(operation, EnableElectric):
        return (app_label, operation.model_name.lower())
    return None


def _label(state, key):
    if key is None or key not in state.models:
        return None
    model_state = state.models[key]
    return f"{model_state.app_label}.{model_state.name}"

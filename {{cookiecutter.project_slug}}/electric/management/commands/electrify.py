import json

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands.makemigrations import Command as MakeMigrations
from django.db import migrations
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import MigrationWriter

from electric.checks import electrified_models
from electric.operations import EnableElectric
from electric.proxy_guard import MIGRATE_THROUGH_PROXY
from electric.rules import check_electrifiable, check_references
from electric.schema_history import SchemaHistory, model_key


class Command(BaseCommand):
    help = (
        "Write the migration that electrifies a model (ALTER TABLE ... ENABLE ELECTRIC), after "
        "checking that Electric 0.12 would accept the model."
    )

    def add_arguments(self, parser):
        parser.add_argument("model", metavar="app_label.ModelName", help="The model to electrify.")
        parser.add_argument(
            "--name", help="The migration's name after its number (default: electrify_<model>)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print the migration instead of writing it."
        )

    def handle(self, *args, model, name, dry_run, **options):
        if name is not None and not name.isidentifier():
            raise CommandError(f"--name {name!r} must be a valid Python identifier.")
        model = _find_model(model)
        label, app_label = model._meta.label, model._meta.app_label
        history = SchemaHistory.from_disk()
        electrified = history.electrified.get((app_label, model._meta.model_name))
        if electrified:
            migration = electrified.migration
            raise CommandError(
                f"{label} is already electrified by {migration.app_label}.{migration.name}."
            )
        loader = MigrationLoader(None, ignore_no_migrations=True)
        leaf = _latest_migration_creating(model, loader)

        others = electrified_models(history)
        problems = [*check_electrifiable(model), *check_references(model, others)]
        refusals = [problem for problem in problems if problem.is_serious()]
        if refusals:
            reasons = " ".join(f"({m.id}) {m.msg} {m.hint}" for m in refusals)
            raise CommandError(f"Electric 0.12 would refuse to electrify {label}: {reasons}")
        for warning in problems:
            self.stderr.write(self.style.WARNING(str(warning)))

        migration = _electrify_migration(model, leaf, name)
        source = _source(migration, model)
        if dry_run:
            self.stdout.write(source)
            return
        # MigrationWriter only for where the file goes: its text is written below, lint-clean.
        writer = MigrationWriter(migration)
        with open(writer.path, "w", encoding="utf-8") as file:
            file.write(source)
        path = MakeMigrations.get_relative_path(writer.path)  # as makemigrations shows it
        self.stdout.write(self.style.SUCCESS(f"Wrote {path}"))
        self.stdout.write(f"Next, apply it through Electric's proxy: {MIGRATE_THROUGH_PROXY}")


def _find_model(label):
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise CommandError(
            f"Unknown model {label!r}: name it as app_label.ModelName, e.g. items.Item."
        ) from None


def _latest_migration_creating(model, loader):
    """The app's latest migration, provided the migrations create the model as it is now."""
    app_label = model._meta.app_label
    make_it = f"run `./manage.py makemigrations {app_label}` first"
    leaves = [key for key in loader.graph.leaf_nodes() if key[0] == app_label]
    if len(leaves) > 1:
        raise CommandError(
            f"{app_label} has conflicting migrations ({', '.join(n for _, n in leaves)}): run "
            f"`./manage.py makemigrations --merge {app_label}` first."
        )
    key = (app_label, model._meta.model_name)
    state = loader.project_state()
    if not leaves or key not in state.models:
        raise CommandError(f"No migration creates {model._meta.label} yet: {make_it}.")
    # ENABLE ELECTRIC must meet the table as the model defines it, not an older version.
    pending = MigrationAutodetector(state, ProjectState.from_apps(apps)).changes(
        graph=loader.graph, trim_to_apps={app_label}
    )
    if any(
        model_key(app_label, operation) == key
        for migration in pending.get(app_label, [])
        for operation in migration.operations
    ):
        raise CommandError(
            f"{model._meta.label} has changes that no migration makes yet: {make_it}."
        )
    return leaves[0]


MIGRATION = '''from django.db import migrations

from electric.operations import EnableElectric


class Migration(migrations.Migration):
    """Electrify `{table}` in a migration of its own.

    Written by `./manage.py electrify {label}`; run it through Electric's proxy:
    `./manage.py migrate --database=proxy`. Electric cannot un-electrify a table, so going back
    past it is refused, except where ELECTRIC_SKIP_DDLX says no Electric ran it.
    """

    dependencies = [
        ({app}, {leaf}),
    ]

    operations = [
        EnableElectric({model}),
    ]
'''


def _source(migration, model):
    """The migration as ruff would format it (double quotes, sorted imports, a docstring)."""
    [(app_label, leaf)] = migration.dependencies
    [operation] = migration.operations
    return MIGRATION.format(
        table=model._meta.db_table,
        label=model._meta.label,
        app=json.dumps(app_label),
        leaf=json.dumps(leaf),
        model=json.dumps(operation.model_name),
    )


def _electrify_migration(model, leaf, name):
    operation = EnableElectric(model_name=model._meta.object_name)
    number = (MigrationAutodetector.parse_number(leaf[1]) or 0) + 1
    migration = migrations.Migration(
        f"{number:04d}_{name or operation.migration_name_fragment}", model._meta.app_label
    )
    migration.dependencies = [leaf]
    migration.operations = [operation]
    return migration

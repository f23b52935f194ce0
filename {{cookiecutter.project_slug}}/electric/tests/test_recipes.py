"""Every recipe the checks and docs/electric.md give, followed as a user would, end to end.

For each one: an app whose Thing is electrified and holds a row; the user's model edit;
`makemigrations` (answering its prompts); then `migrate --database=proxy` judged as Electric's
proxy will judge it (its record of electrified tables is there, and migrate's own checks run),
applied on a real Postgres; then `makemigrations --check` has nothing left to write, and the
model behaves as written.
"""

import re
import uuid

import pytest

from electric.tests.test_migrate_command import fake_electric
from tests.django_commands import manage, query
from tests.postgres import temporary_database
from tests.scratch_apps import THING_MODEL, new_app_name, settings_with, write_app

# Deep: every recipe end to end, manage.py many times over.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep

FIELDS_END = "    title = models.TextField()\n"
SOMEONE = "00000000-0000-4000-8000-000000000001"


def add_fields(*lines):
    return lambda source: source.replace(FIELDS_END, FIELDS_END + "".join(lines))


def replace(old, new):
    def edit(source):
        assert old in source, source
        return source.replace(old, new)

    return edit


def meta(*lines):
    return add_fields("\n    class Meta:\n", *(f"        {line}\n" for line in lines))


IMPORT_SETTINGS = replace(
    "from django.db import models\n",
    "from django.conf import settings\nfrom django.db import models\n",
)

# recipe (and the check it answers): ([(edit of models.py, answers to its prompts)], a Python
# expression on the model and what it prints, a query on its table (with the old row) and rows).
RECIPES = {
    "a field with a default (E101)": (
        [(add_fields("    archived = models.BooleanField(default=False)\n"), None)],
        ("python", "Thing().archived", "False"),
        ("sql", "SELECT archived FROM {table}", [(False,)]),
    ),
    "a required text field (E101, blank)": (
        [(add_fields("    label = models.TextField(blank=True)\n"), None)],
        ("python", "Thing._meta.get_field('label').null", "False"),
        ("sql", "SELECT label FROM {table}", [("",)]),
    ),
    "a field with auto_now_add (E101)": (
        # makemigrations asks for a one-off default: 1) provide one, Enter for timezone.now.
        [(add_fields("    created = models.DateTimeField(auto_now_add=True)\n"), "1\n\n")],
        ("python", "Thing._meta.get_field('created').auto_now_add", "True"),
        ("sql", "SELECT created IS NOT NULL FROM {table}", [(True,)]),
    ),
    "a nullable field made required (E111)": (
        [
            (add_fields("    note = models.TextField(null=True)\n"), None),
            (replace("TextField(null=True)", 'TextField(default="none")'), None),
        ],
        ("python", "Thing().note", "none"),
        ("sql", "SELECT note FROM {table}", [("none",)]),
    ),
    "a foreign key (E103)": (
        [
            (
                add_fields(
                    '    parent = models.ForeignKey("self", models.SET_NULL, null=True, '
                    "db_constraint=False)\n"
                ),
                None,
            )
        ],
        ("python", "Thing._meta.get_field('parent').related_model.__name__", "Thing"),
        ("sql", "SELECT parent_id FROM {table}", [(None,)]),
    ),
    "a reference to the user model (E008)": (
        [
            (
                replace(
                    "from django.db import models\n",
                    "from django.conf import settings\nfrom django.db import models\n",
                ),
                None,
            ),
            (
                add_fields(
                    "    owner = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, "
                    "null=True, db_constraint=False)\n"
                ),
                None,
            ),
        ],
        ("python", "Thing._meta.get_field('owner').related_model._meta.label", "users.User"),
        (
            "sql",
            "SELECT count(*) FROM pg_constraint WHERE conrelid = '{table}'::regclass "
            "AND contype = 'f'",
            [(0,)],
        ),
    ),
    "a required reference to the user model (E008, W102)": (
        # makemigrations asks for a one-off default for the old rows: a user's id.
        [
            (IMPORT_SETTINGS, None),
            (
                add_fields(
                    "    owner = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, "
                    "db_constraint=False)\n"
                ),
                f"1\n'{SOMEONE}'\n",
            ),
        ],
        ("python", "Thing._meta.get_field('owner').null", "False"),
        ("sql", "SELECT owner_id::text FROM {table}", [(SOMEONE,)]),
    ),
    "a field with a uuid4 default (E101)": (
        [(add_fields("    token = models.UUIDField(default=uuid.uuid4)\n"), None)],
        ("python", "type(Thing().token).__name__", "UUID"),
        ("sql", "SELECT token IS NOT NULL FROM {table}", [(True,)]),
    ),
    "a required field made nullable again (E111)": (
        # Its column is nullable already (the first migration made it so): state only.
        [
            (add_fields("    archived = models.BooleanField(default=False)\n"), None),
            (
                replace("BooleanField(default=False)", "BooleanField(default=False, null=True)"),
                None,
            ),
        ],
        ("python", "Thing._meta.get_field('archived').null", "True"),
        ("sql", "SELECT archived FROM {table}", [(False,)]),
    ),
    "a field renamed (E113)": (
        # Rename in Python, keep the column: makemigrations asks whether it was a rename.
        [(replace(FIELDS_END, '    name = models.TextField(db_column="title")\n'), "y\n")],
        ("python", "Thing(name='x').name", "x"),
        ("sql", "SELECT title FROM {table}", [("old",)]),
    ),
    "a field whose type changes (E110)": (
        # A new field of the new type, the data copied over by a data migration.
        [
            (add_fields("    title_length = models.IntegerField(null=True)\n"), None),
            (None, "copy"),
        ],
        ("python", "Thing._meta.get_field('title').get_internal_type()", "TextField"),
        ("sql", "SELECT title_length FROM {table}", [(3,)]),
    ),
    "a field removed (E112)": (
        # Kept in the model, unused, with a Python default for new rows: no SQL at all.
        [(replace(FIELDS_END, '    title = models.TextField(default="")\n'), None)],
        ("python", "repr(Thing().title)", "''"),
        ("sql", "SELECT title FROM {table}", [("old",)]),
    ),
    "a model renamed (E114)": (
        [
            (meta('db_table = "{table}"'), None),
            (replace("class Thing(", "class Gadget("), "y\n"),
        ],
        ("python", "Gadget._meta.db_table", "{table}"),
        ("sql", "SELECT title FROM {table}", [("old",)]),
    ),
    "a unique rule (E116)": (
        # A unique index with a condition, not a constraint: the proxy lets indexes through.
        [
            (
                meta(
                    "constraints = [models.UniqueConstraint(fields=['title'], "
                    "condition=models.Q(title__gt=''), name='{table}_one_title')]"
                ),
                None,
            )
        ],
        ("python", "len(Thing._meta.constraints)", "1"),
        ("sql", "SELECT count(*) FROM pg_indexes WHERE indexname = '{table}_one_title'", [(1,)]),
    ),
    "an index built concurrently (E121)": (
        [(meta("indexes = [models.Index(fields=['title'], name='{table}_title')]"), None)],
        ("python", "Thing._meta.indexes[0].name", "{table}_title"),
        ("sql", "SELECT count(*) FROM pg_indexes WHERE indexname = '{table}_title'", [(1,)]),
    ),
}

COPY_TITLE_LENGTHS = """

def copy_title_lengths(apps, schema_editor):
    Thing = apps.get_model("{app}", "Thing")
    for thing in Thing.objects.all():
        thing.title_length = len(thing.title)
        thing.save(update_fields=["title_length"])
"""


@pytest.fixture(scope="module")
def migrated(postgres_server, tmp_path_factory):
    """A database where the project's own migrations ran (no Electric): each test copies it."""
    name = f"recipes_{uuid.uuid4().hex[:12]}"
    with temporary_database(postgres_server, name):
        database = {**postgres_server, "NAME": name}
        result = manage(database, "migrate", "--database=proxy", skip_ddlx=True)
        assert result.returncode == 0, result.stderr
        yield database


@pytest.fixture
def electrified_thing(tmp_path, postgres_server, migrated):
    """An app whose Thing (one row, title 'old') is electrified, on a copy of `migrated`."""
    name = new_app_name()
    package = write_app(tmp_path, name, THING_MODEL)
    settings = settings_with(tmp_path, name)
    copy = f"recipe_{uuid.uuid4().hex[:12]}"
    with temporary_database(postgres_server, copy, template=migrated["NAME"]):
        database = {**postgres_server, "NAME": copy}

        def run(*args, skip_ddlx=False, answers=None):
            return manage(database, *args, skip_ddlx=skip_ddlx, settings=settings, answers=answers)

        run.name, run.package, run.database, run.table = name, package, database, f"{name}_thing"
        for step in [("makemigrations", name), ("electrify", f"{name}.Thing")]:
            result = run(*step)
            assert result.returncode == 0, result.stderr
        result = run("migrate", "--database=proxy", skip_ddlx=True)
        assert result.returncode == 0, result.stderr
        query(database, f"INSERT INTO {run.table} (id, title) VALUES (gen_random_uuid(), 'old')")
        # Electric's record, as after a deploy: the project's electrified tables and Thing's.
        electrified = [
            table
            for (table,) in query(
                database,
                "SELECT table_name FROM information_schema.tables WHERE table_name = ANY(%s)",
                [["items", run.table]],
            )
        ]
        fake_electric(database, *electrified)
        yield run


@pytest.mark.parametrize("recipe", RECIPES)
def test_the_recipe_ends_in_a_migration_electric_accepts(electrified_thing, recipe):
    app = electrified_thing
    steps, (_, expression, printed), (_, sql, rows) = RECIPES[recipe]
    models_py = app.package / "models.py"

    for edit, answers in steps:
        if edit is None:
            write_data_migration(app)
            continue
        source = models_py.read_text()
        models_py.write_text(edit(source).replace("{table}", app.table))
        made = app("makemigrations", app.name, answers=answers)
        assert made.returncode == 0, made.stdout + made.stderr

    migrated = app("migrate", "--database=proxy")  # with migrate's system checks
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert app("makemigrations", "--check", "--dry-run").returncode == 0
    model = "Gadget" if "Gadget" in models_py.read_text() else "Thing"
    shell = app(
        "shell", "--no-imports", "-c", f"from {app.name}.models import {model}; print({expression})"
    )
    assert shell.stdout.strip() == printed.replace("{table}", app.table), shell.stderr
    assert query(app.database, sql.replace("{table}", app.table)) == rows


def write_data_migration(app):
    """`makemigrations --empty`, then the RunPython a user writes into it."""
    made = app("makemigrations", app.name, "--empty", "--name", "copy_title_lengths")
    assert made.returncode == 0, made.stderr
    [path] = (app.package / "migrations").glob("*_copy_title_lengths.py")
    source = path.read_text()
    source = source.replace(
        "\n\nclass Migration", COPY_TITLE_LENGTHS.format(app=app.name) + "\n\nclass Migration"
    )
    # Django writes an empty list over two lines; ruff, where installed, on one.
    source, found = re.subn(
        r"operations = \[\s*\]", "operations = [migrations.RunPython(copy_title_lengths)]", source
    )
    assert found == 1, source
    path.write_text(source)

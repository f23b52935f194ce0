"""The migration checks, on real migration modules written into a temporary app.

Each operation kind is judged twice: by electric/checks.py, and by Django itself, which turns the
operation into SQL on a real Postgres (sqlmigrate): the statement the check names as refused is in
that SQL, and an operation the check lets through emits only what Electric's proxy accepts.
"""

import importlib
import re
from contextlib import ExitStack
from io import StringIO

import pytest
from django.core.management import call_command

from electric.checks import check_electric_schema, electrified_models
from electric.schema_history import SchemaHistory
from tests.scratch_apps import (
    CREATE_THING,
    THING_MODEL,
    electrified_thing,
    installed,
    new_app_name,
    write_app,
    write_migration,
)

# (operations of migration 0003 on the electrified Thing, the findings, a regex the SQL matches)
REFUSED = {
    "default": (
        'migrations.AddField("thing", "priority", models.IntegerField(default=0))',
        {("electric.E101", "priority")},
        r"ADD COLUMN \"priority\" integer DEFAULT 0",
    ),
    "nullable with a default": (
        'migrations.AddField("thing", "note", models.TextField(null=True, default="x"))',
        {("electric.E101", "note")},
        r"DEFAULT 'x'",
    ),
    "auto_now_add": (
        'migrations.AddField("thing", "at", models.DateTimeField(auto_now_add=True, null=True))',
        {("electric.E101", "at")},
        r"ADD COLUMN \"at\" timestamp with time zone DEFAULT",
    ),
    "NOT NULL without default": (
        'migrations.AddField("thing", "count", models.IntegerField())',
        {("electric.W102", "count")},
        r"ADD COLUMN \"count\" integer NOT NULL;",
    ),
    "foreign key": (
        'migrations.AddField("thing", "parent", '
        'models.ForeignKey("APP.thing", null=True, on_delete=models.CASCADE))',
        {("electric.E103", "parent")},
        r"REFERENCES",
    ),
    "one-to-one": (
        'migrations.AddField("thing", "twin", '
        'models.OneToOneField("APP.thing", null=True, on_delete=models.CASCADE))',
        {("electric.E103", "twin"), ("electric.E104", "twin")},
        r"UNIQUE.*REFERENCES",
    ),
    "unique": (
        'migrations.AddField("thing", "code", models.TextField(null=True, unique=True))',
        {("electric.E104", "code")},
        r"ADD COLUMN \"code\" text NULL UNIQUE",
    ),
    "check": (
        'migrations.AddField("thing", "stock", models.PositiveIntegerField(null=True))',
        {("electric.E105", "stock")},
        r"CHECK \(\"stock\" >= 0\)",
    ),
    "sized varchar": (
        'migrations.AddField("thing", "tag", models.CharField(max_length=20, null=True))',
        {("electric.E106", "tag")},
        r"varchar\(20\)",
    ),
    "generated": (
        'migrations.AddField("thing", "shout", models.GeneratedField('
        'expression=models.functions.Upper("title"), output_field=models.TextField(), '
        "db_persist=True))",
        {("electric.E107", "shout")},
        r"GENERATED ALWAYS AS",
    ),
    "type change": (
        'migrations.AlterField("thing", "title", models.CharField(max_length=10))',
        {("electric.E110", "title")},
        r"ALTER COLUMN \"title\" TYPE varchar\(10\)",
    ),
    "column comment": (
        'migrations.AlterField("thing", "title", models.TextField(db_comment="Its name"))',
        {("electric.E110", "title")},
        r"ALTER COLUMN \"title\" TYPE text",
    ),
    "nullability": (
        'migrations.AlterField("thing", "title", models.TextField(null=True))',
        {("electric.E111", "title")},
        r"ALTER COLUMN \"title\" DROP NOT NULL",
    ),
    "unique alteration": (
        'migrations.AlterField("thing", "title", models.TextField(unique=True))',
        {("electric.E111", "title")},
        r"ADD CONSTRAINT .* UNIQUE",
    ),
    "drop column": (
        'migrations.RemoveField("thing", "title")',
        {("electric.E112", "title")},
        r"DROP COLUMN \"title\"",
    ),
    "rename column": (
        'migrations.RenameField("thing", "title", "name")',
        {("electric.E113", "title")},
        r"RENAME COLUMN \"title\" TO \"name\"",
    ),
    "rename model": (
        'migrations.RenameModel("Thing", "Gadget")',
        {("electric.E114", None)},
        r"RENAME TO \"APP_gadget\"",
    ),
    "table": (
        'migrations.AlterModelTable("thing", "things")',
        {("electric.E114", None)},
        r"RENAME TO \"things\"",
    ),
    "delete model": (
        'migrations.DeleteModel("Thing")',
        {("electric.E115", None)},
        r"DROP TABLE \"APP_thing\"",
    ),
    "constraint": (
        'migrations.AddConstraint("thing", models.UniqueConstraint('
        'fields=["title"], name="one_title"))',
        {("electric.E116", None)},
        r"ADD CONSTRAINT \"one_title\" UNIQUE",
    ),
    "unique_together": (
        'migrations.AlterUniqueTogether("thing", {("id", "title")})',
        {("electric.E116", None)},
        r"ADD CONSTRAINT .* UNIQUE",
    ),
    "order_with_respect_to": (
        'migrations.AddField("thing", "parent", models.ForeignKey("APP.thing", null=True, '
        "on_delete=models.CASCADE, db_constraint=False)),\n"
        'migrations.AlterOrderWithRespectTo("thing", "parent")',
        {("electric.E118", "_order")},
        r"ADD COLUMN \"_order\" integer DEFAULT 0",
    ),
    "DO block": (
        'migrations.RunSQL("DO $$ BEGIN PERFORM 1; END $$;", migrations.RunSQL.noop)',
        {("electric.E120", None)},
        r"DO \$\$",
    ),
}

ACCEPTED = {
    "nullable, no default": 'migrations.AddField("thing", "note", models.TextField(null=True))',
    "then a Python default": (
        'migrations.AddField("thing", "priority", models.IntegerField(null=True)),\n'
        'migrations.AlterField("thing", "priority", models.IntegerField(null=True, default=0))'
    ),
    "unconstrained reference": (
        'migrations.AddField("thing", "parent", models.ForeignKey("APP.thing", null=True, '
        "on_delete=models.SET_NULL, db_constraint=False))"
    ),
    "index": 'migrations.AddIndex("thing", models.Index(fields=["title"], name="title_idx"))',
    "index removed": (
        'migrations.AddIndex("thing", models.Index(fields=["title"], name="title_idx")),\n'
        'migrations.RemoveIndex("thing", "title_idx")'
    ),
    "options": 'migrations.AlterModelOptions("thing", {"ordering": ["title"]})',
    "help text": (
        'migrations.AlterField("thing", "title", models.TextField(help_text="What it is", '
        'verbose_name="name", blank=True))'
    ),
    "table comment": 'migrations.AlterModelTableComment("thing", "What there is")',
    "many-to-many": (
        'migrations.AddField("thing", "related", models.ManyToManyField("APP.thing"))'
    ),
    "plain SQL": 'migrations.RunSQL("SELECT 1;", migrations.RunSQL.noop)',
    # ALTER INDEX ... RENAME names the index, which Electric never records as electrified.
    "rename index": (
        'migrations.AddIndex("thing", models.Index(fields=["title"], name="title_idx")),\n'
        'migrations.RenameIndex("thing", new_name="by_title", old_name="title_idx")'
    ),
    # A unique index, not a constraint: CREATE UNIQUE INDEX, which the proxy lets through.
    "partial unique": (
        'migrations.AddConstraint("thing", models.UniqueConstraint(fields=["title"], '
        'condition=models.Q(title__gt=""), name="one_title"))'
    ),
}


def findings(app):
    """(check id, field) of each finding about `app`'s migrations; each message names its field."""
    history = SchemaHistory.from_disk()
    found = [f for f in history.findings if f.migration.app_label == app]
    messages = [m for m in check_electric_schema() if m.msg.startswith(f"{app}.")]
    assert sorted(m.id for m in messages) == sorted(f.refusal.check_id for f in found)
    for finding in found:
        if finding.refusal.field:
            named = [m for m in messages if f"'{finding.refusal.field}'" in m.msg]
            assert finding.refusal.check_id in [m.id for m in named], messages
    return {(f.refusal.check_id, f.refusal.field) for f in found}


def sql_of(app, migration):
    """The SQL Django runs for `migration`, on a real Postgres where the ones before it ran."""
    call_command("migrate", app, "0002", verbosity=0)
    out = StringIO()
    call_command("sqlmigrate", app, migration, stdout=out)
    return [
        line
        for line in out.getvalue().splitlines()
        if line and not line.startswith("--") and line not in ("BEGIN;", "COMMIT;")
    ]


@pytest.fixture
def thing_app(tmp_path):
    """Installs an app whose Thing is electrified by 0002, then given operations in 0003."""
    with ExitStack() as stack:

        def install(operations, models=""):
            name = new_app_name()
            write_app(tmp_path, name, models, electrified_thing([operations]))
            stack.enter_context(installed(tmp_path, name))
            return name

        yield install


@pytest.mark.django_db
@pytest.mark.parametrize("kind", REFUSED)
def test_each_refused_operation_is_flagged_with_its_id_and_field(thing_app, kind):
    operations, expected, sql = REFUSED[kind]
    app = thing_app(operations)

    assert findings(app) == expected
    # Django really emits the statement the check says the proxy refuses.
    assert re.search(sql.replace("APP", app), "\n".join(sql_of(app, "0003")))


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ACCEPTED)
def test_operations_the_proxy_accepts_stay_silent(thing_app, kind):
    app = thing_app(ACCEPTED[kind])

    assert findings(app) == set()
    # What Django runs on the electrified table is what the proxy accepts there: nullable
    # ADD COLUMN without DEFAULT or constraint (indexes, comments and other tables are fine).
    table = f'"{app}_thing"'
    touching = [s for s in sql_of(app, "0003") if re.match(rf"(ALTER|DROP) TABLE {table} ", s)]
    add_nullable_column = rf'ALTER TABLE {table} ADD COLUMN "\w+" [\w ]+ NULL;'
    assert [s for s in touching if not re.fullmatch(add_nullable_column, s)] == []


def test_the_message_says_where_what_and_how_to_do_it_safely(thing_app):
    app = thing_app(REFUSED["default"][0])

    [message] = [m for m in check_electric_schema() if m.msg.startswith(f"{app}.")]
    assert message.msg == (
        f'{app}.0003_change: on electrified {app}.Thing, "Add field priority to thing" adds '
        "'priority' with a database DEFAULT (Django writes one for every default=, even with "
        "null=True, for auto_now/auto_now_add, and for the one-off default makemigrations asks "
        "for); Electric's proxy refuses it (EX006)."
    )
    assert message.hint.startswith("Delete this migration and run `./manage.py makemigrations`")
    assert "adds the column nullable with no database default" in message.hint


def test_a_do_block_is_flagged_on_any_table(tmp_path):
    app = new_app_name()
    write_app(
        tmp_path,
        app,
        migrations=[
            ("0001_initial", [CREATE_THING]),
            ("0002_fill", ['migrations.RunSQL("do $body$ begin null; end $body$")']),
        ],
    )
    with installed(tmp_path, app):
        assert findings(app) == {("electric.E120", None)}


def test_operations_before_electrification_are_not_judged(tmp_path):
    app = new_app_name()
    write_app(
        tmp_path,
        app,
        THING_MODEL,
        [
            ("0001_initial", [CREATE_THING]),
            (
                "0002_priority",
                [REFUSED["default"][0], 'migrations.RemoveField("thing", "priority")'],
            ),
            ("0003_electrify_thing", ['EnableElectric("Thing")']),
        ],
    )
    with installed(tmp_path, app):
        assert findings(app) == set()


def test_a_model_electrified_then_deleted_is_reported_once(tmp_path):
    app = new_app_name()
    write_app(tmp_path, app, "", electrified_thing([REFUSED["delete model"][0]]))

    with installed(tmp_path, app):
        assert findings(app) == {("electric.E115", None)}
        history = SchemaHistory.from_disk()
        assert (app, "thing") not in history.electrified
        assert [e.model_key for e in history.electrifications if e.model_key[0] == app] == [
            (app, "thing")
        ]


def test_a_model_is_checked_as_it_was_when_it_was_electrified(tmp_path):
    # Electrified while title was varchar(200), "fixed" in a later migration: migration 0002 is
    # still refused on a fresh database, and the fix itself is refused too.
    app = new_app_name()
    write_app(
        tmp_path,
        app,
        THING_MODEL,
        [
            (
                "0001_initial",
                [CREATE_THING.replace("models.TextField()", "models.CharField(max_length=200)")],
            ),
            ("0002_electrify_thing", ['EnableElectric("Thing")']),
            ("0003_text", ['migrations.AlterField("thing", "title", models.TextField())']),
        ],
    )
    with installed(tmp_path, app):
        messages = {m.id: m for m in check_electric_schema() if m.msg.startswith(f"{app}.")}

    assert set(messages) == {"electric.E004", "electric.E110"}
    then = messages["electric.E004"]
    assert then.msg.startswith(f"{app}.0002_electrify_thing: ENABLE ELECTRIC runs while ")
    assert "varchar(200)" in then.msg
    assert "before 0002_electrify_thing" in then.hint


def test_a_foreign_key_to_a_model_electric_does_not_sync_is_flagged(tmp_path):
    app = new_app_name()
    models_source = THING_MODEL + (
        "\n\nclass Note(models.Model):\n"
        "    id = models.UUIDField(primary_key=True, default=uuid.uuid4)\n"
        "    thing = models.ForeignKey(Thing, on_delete=models.CASCADE)\n"
        "    owner = models.ForeignKey('auth.User', on_delete=models.CASCADE, "
        "db_constraint=False)\n"
    )
    create_note = (
        'migrations.CreateModel(name="Note", fields=[\n'
        '    ("id", models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),\n'
        '    ("thing", models.ForeignKey(on_delete=models.CASCADE, to="APP.thing")),\n'
        '    ("owner", models.ForeignKey(on_delete=models.CASCADE, db_constraint=False, '
        'to="auth.user")),\n'
        "])"
    )
    write_app(
        tmp_path,
        app,
        models_source,
        [
            ("0001_initial", [CREATE_THING, create_note]),
            ("0002_electrify_note", ['EnableElectric("Note")']),
        ],
    )
    with installed(tmp_path, app):
        messages = [m for m in check_electric_schema() if m.id == "electric.E008"]
        # `owner` has no constraint in Postgres (db_constraint=False): nothing to break.
        assert [(m.obj.name, m.obj.model._meta.app_label) for m in messages] == [("thing", app)]
        assert f"./manage.py electrify {app}.Thing" in messages[0].hint
        assert "db_constraint=False" in messages[0].hint

        # Electrify Thing as well and the reference is fine.
        importlib.invalidate_caches()
        write_migration(
            tmp_path / app,
            "0003_electrify_thing",
            ['EnableElectric("Thing")'],
            "0002_electrify_note",
        )
        assert [m for m in check_electric_schema() if m.id == "electric.E008"] == []
        assert {m._meta.object_name for m in electrified_models()} >= {"Note", "Thing"}


def test_a_foreign_key_to_the_user_model_never_suggests_electrifying_it(tmp_path):
    app = new_app_name()
    models_source = THING_MODEL + (
        "    owner = models.ForeignKey('users.User', on_delete=models.CASCADE, null=True)\n"
    )
    create = CREATE_THING.replace(
        '("title", models.TextField()),',
        '("title", models.TextField()),\n        ("owner", models.ForeignKey('
        'on_delete=models.CASCADE, null=True, to="users.user")),',
    )
    write_app(
        tmp_path,
        app,
        models_source,
        [("0001_initial", [create]), ("0002_electrify_thing", ['EnableElectric("Thing")'])],
    )
    with installed(tmp_path, app):
        [message] = [m for m in check_electric_schema() if m.id == "electric.E008"]
    # The user table holds password hashes: electrifying it would sync them to every client.
    assert "electrify users.User`" not in message.hint
    assert message.hint.startswith("Add db_constraint=False to owner")
    assert "never electrify users.User" in message.hint


def test_a_generated_column_on_an_electrified_model_is_flagged(tmp_path):
    app = new_app_name()
    models_source = THING_MODEL + (
        "    shout = models.GeneratedField(expression=models.functions.Upper('title'), "
        "output_field=models.TextField(), db_persist=True)\n"
    )
    write_app(tmp_path, app, models_source, electrified_thing())
    with installed(tmp_path, app):
        messages = [m for m in check_electric_schema() if m.id == "electric.E009"]
    assert [m.obj.name for m in messages] == ["shout"]


def test_a_check_can_be_silenced_by_its_id(thing_app, settings, capsys):
    thing_app(REFUSED["default"][0])
    settings.SILENCED_SYSTEM_CHECKS = ["electric.E101"]

    call_command("check", "--fail-level", "WARNING")
    assert "1 silenced" in capsys.readouterr().out


def test_a_migration_that_cannot_be_read_leaves_one_warning(tmp_path):
    app = new_app_name()
    package = write_app(tmp_path, app, "", electrified_thing())
    (package / "migrations" / "0003_half_written.py").write_text("class Migration(\n")

    with installed(tmp_path, app):
        [message] = check_electric_schema()

    assert message.id == "electric.W100"
    assert message.msg.startswith("Electric's checks could not read the migrations: ")

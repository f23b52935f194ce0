"""`manage.py electrify` and `makemigrations`, for real, on an app of their own.

The app `twin` holds a twin of the sample Item; makemigrations writes its first migration, as a
user's would, and each command runs in a subprocess against the tests' Postgres.
"""

import subprocess
import sys

import pytest

from tests.django_commands import PROJECT, applied_migrations, manage
from tests.scratch_apps import THING_MODEL, settings_with, write_app

# Deep: manage.py electrify and makemigrations in subprocesses.
# Left out of the default run; `pytest -m deep` runs it.
pytestmark = pytest.mark.deep

TWIN = THING_MODEL.replace("Thing", "Twin") + (
    "    notes = models.TextField(blank=True)\n"
    "    done = models.BooleanField(default=False)\n"
    "    created_at = models.DateTimeField(auto_now_add=True)\n\n"
    "    class Meta:\n"
    '        db_table = "twins"\n'
)


@pytest.fixture
def twin(tmp_path, fresh_database):
    """Runs manage.py with the `twin` app installed; the app's first migration is written."""
    package = write_app(tmp_path, "twin", TWIN)
    settings = settings_with(tmp_path, "twin")

    def run(*args, skip_ddlx=True):
        return manage(fresh_database, *args, skip_ddlx=skip_ddlx, settings=settings)

    run.package = package
    run.database = fresh_database
    run.migrations = lambda: sorted(p.name for p in (package / "migrations").glob("0*.py"))
    created = run("makemigrations", "twin")
    assert created.returncode == 0, created.stderr
    return run


def refusal(result):
    """The one line a refused command prints."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: ")
    return line.removeprefix("CommandError: ")


def test_electrify_writes_a_migration_that_enables_electric_through_the_proxy(twin):
    preview = twin("electrify", "twin.Twin", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "EnableElectric(" in preview.stdout
    assert 'EnableElectric("Twin")' in preview.stdout
    assert twin.migrations() == ["0001_initial.py"]  # --dry-run writes nothing

    result = twin("electrify", "twin.Twin")

    assert result.returncode == 0, result.stderr
    assert twin.migrations() == ["0001_initial.py", "0002_electrify_twin.py"]
    written = twin.package / "migrations" / "0002_electrify_twin.py"
    assert written.read_text() == preview.stdout  # --dry-run shows what it writes
    # The project's own linters pass on it, as on code the user wrote.
    for lint in (["check"], ["format", "--check"]):
        linted = subprocess.run(
            [sys.executable, "-m", "ruff", *lint, "--config", PROJECT / "pyproject.toml", written],
            capture_output=True,
            text=True,
        )
        assert linted.returncode == 0, linted.stdout + linted.stderr
    assert result.stdout.splitlines() == [
        f"Wrote {twin.package / 'migrations' / '0002_electrify_twin.py'}",
        "Next, apply it through Electric's proxy: ./manage.py migrate --database=proxy",
    ]
    # It applies, where no Electric runs, with the statement skipped...
    applied = twin("migrate", "--database=proxy")
    assert applied.returncode == 0, applied.stderr
    assert applied_migrations(twin.database, "twin") == ["0001_initial", "0002_electrify_twin"]
    # ...and through the proxy it is Electric's DDLX.
    sql = twin("sqlmigrate", "--database=proxy", "twin", "0002", skip_ddlx=False)
    assert sql.returncode == 0, sql.stderr
    assert 'ALTER TABLE "twins" ENABLE ELECTRIC;' in sql.stdout
    # Electrification changes no model state: nothing for makemigrations to do.
    assert twin("makemigrations", "--check", "--dry-run").returncode == 0
    # The checks now guard Twin, and electrify knows it is done.
    assert refusal(twin("electrify", "twin.Twin")) == (
        "twin.Twin is already electrified by twin.0002_electrify_twin."
    )


def test_electrify_takes_a_name(twin):
    result = twin("electrify", "twin.Twin", "--name", "sync_twins")

    assert result.returncode == 0, result.stderr
    assert twin.migrations() == ["0001_initial.py", "0002_sync_twins.py"]
    assert refusal(twin("electrify", "twin.Twin", "--name", "sync-twins")) == (
        "--name 'sync-twins' must be a valid Python identifier."
    )


@pytest.mark.parametrize(
    "label, models, expected",
    [
        ("twin.Nope", "", "Unknown model 'twin.Nope': name it as app_label.ModelName, e.g. "),
        ("Twin", "", "Unknown model 'Twin': name it as app_label.ModelName"),
        (
            "twin.Draft",
            "\n\nclass Draft(models.Model):\n    id = models.UUIDField(primary_key=True)\n",
            "No migration creates twin.Draft yet: run `./manage.py makemigrations twin` first.",
        ),
        (
            "twin.Twin",
            "    extra = models.TextField(null=True)\n",
            "twin.Twin has changes that no migration makes yet: run `./manage.py makemigrations "
            "twin` first.",
        ),
    ],
)
def test_electrify_refuses_what_it_cannot_electrify_and_writes_nothing(
    twin, label, models, expected
):
    with open(twin.package / "models.py", "a") as source:
        source.write(models)

    assert refusal(twin("electrify", label)).startswith(expected)
    assert twin.migrations() == ["0001_initial.py"]


def test_electrify_refuses_a_model_electric_would_refuse_with_the_checks_words(twin):
    with open(twin.package / "models.py", "a") as source:
        source.write(
            "\n\nclass Tag(models.Model):\n"
            "    id = models.UUIDField(primary_key=True)\n"
            "    name = models.CharField(max_length=30)\n"
            "    twin = models.ForeignKey(Twin, on_delete=models.CASCADE)\n"
        )
    assert twin("makemigrations", "twin").returncode == 0

    line = refusal(twin("electrify", "twin.Tag"))

    assert line.startswith("Electric 0.12 would refuse to electrify twin.Tag: (electric.E004) ")
    assert "varchar(30)" in line and "models.TextField()" in line
    assert "(electric.E008) twin.Tag.twin references twin.Twin" in line
    assert twin.migrations() == ["0001_initial.py", "0002_tag.py"]


def test_makemigrations_writes_a_default_the_way_electric_accepts_and_says_why(twin):
    assert twin("electrify", "twin.Twin").returncode == 0
    with open(twin.package / "models.py", "a") as source:
        source.write("    priority = models.IntegerField(default=0)\n")

    result = twin("makemigrations", "twin")

    assert result.returncode == 0, result.stderr
    assert (
        "  For Electric: twin.Twin.priority: added nullable with no database default; "
        "existing rows set to 0"
    ) in result.stdout.splitlines()
    written = (twin.package / "migrations" / "0003_twin_priority.py").read_text()
    assert "# Electric 0.12's proxy refuses ADD COLUMN ... DEFAULT and SET NOT NULL" in written
    assert "migrations.SeparateDatabaseAndState(" in written
    # Nothing left to write, and the checks that guard every command find nothing to refuse.
    assert twin("makemigrations", "--check", "--dry-run").returncode == 0
    check = twin("check", "--fail-level", "WARNING")
    assert check.returncode == 0, check.stderr


def test_makemigrations_refuses_what_has_no_safe_equivalent_and_writes_nothing(twin):
    assert twin("electrify", "twin.Twin").returncode == 0
    models_py = twin.package / "models.py"
    models_py.write_text(
        models_py.read_text().replace("title = models.TextField()", "title = models.JSONField()")
    )

    result = twin("makemigrations", "twin")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "twin.0003_alter_twin_title: on electrified twin.Twin" in result.stderr
    assert "(electric.E110)" in result.stderr and "(EX009)" in result.stderr
    assert "HINT: Electric 0.12 cannot alter an electrified table's columns. Add a new field" in (
        result.stderr
    )
    assert result.stderr.strip().splitlines()[-1] == (
        "CommandError: Electric's migrations proxy would refuse 1 operation(s) above, so no "
        "migration was written: change the model as the hints say, then run makemigrations "
        "again."
    )
    assert twin.migrations() == ["0001_initial.py", "0002_electrify_twin.py"]


def test_a_model_electric_cannot_sync_stops_makemigrations_at_its_checks(twin):
    assert twin("electrify", "twin.Twin").returncode == 0
    with open(twin.package / "models.py", "a") as source:
        source.write("    code = models.CharField(max_length=8, null=True)\n")

    result = twin("makemigrations", "twin")

    # Django's own system checks run first: the model as it is now is refused.
    assert result.returncode == 1
    assert "(electric.E004) twin.Twin.code is varchar(8)" in result.stderr
    assert "HINT: Use models.TextField()" in result.stderr
    assert twin.migrations() == ["0001_initial.py", "0002_electrify_twin.py"]

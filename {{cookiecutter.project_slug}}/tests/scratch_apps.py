"""Throwaway Django apps with real migration modules on disk, for tests of checks and migrations.

An app is a package in a temporary directory: models.py plus migration files, written as a user
(or makemigrations) would write them. `installed()` puts it in INSTALLED_APPS in this process;
`settings_with()` writes a settings module that installs it, for manage.py in a subprocess.
"""

import sys
import textwrap
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.test import override_settings

HEADER = """\
import uuid

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models

from electric.operations import EnableElectric
"""

CREATE_THING = """\
migrations.CreateModel(
    name="Thing",
    fields=[
        ("id", models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
        ("title", models.TextField()),
    ],
)"""

THING_MODEL = """\
import uuid

from django.db import models


class Thing(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    title = models.TextField()
"""


def new_app_name():
    return f"scratch_{uuid.uuid4().hex[:10]}"


def write_app(root, name, models="", migrations=()):
    """The package `name` under `root`; migrations: (name, [operation source, ...]) in order,
    or (name, [operation source, ...], {"atomic": False}) for a non-atomic one."""
    package = Path(root) / name
    (package / "migrations").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "migrations" / "__init__.py").write_text("")
    (package / "models.py").write_text(models)
    previous = None
    for migration_name, operations, *options in migrations:
        write_migration(package, migration_name, operations, previous, **(options or [{}])[0])
        previous = migration_name
    return package


def write_migration(package, name, operations, previous=None, atomic=True):
    dependencies = [(package.name, previous)] if previous else []
    body = ",\n".join(textwrap.indent(operation, " " * 8) for operation in operations)
    source = (
        f"{HEADER}\n\nclass Migration(migrations.Migration):\n"
        + ("" if atomic else "    atomic = False\n")
        + f"    dependencies = {dependencies!r}\n\n"
        f"    operations = [\n{body},\n    ]\n"
    )
    path = package / "migrations" / f"{name}.py"
    path.write_text(source.replace("APP", package.name))
    return path


def electrified_thing(*later):
    """Thing created, electrified, then each migration in `later` (a list of operations each)."""
    steps = [
        ("0001_initial", [CREATE_THING]),
        ("0002_electrify_thing", ['EnableElectric("Thing")']),
    ]
    return steps + [(f"{number:04d}_change", ops) for number, ops in enumerate(later, start=3)]


@contextmanager
def installed(root, name):
    """App `name` (a package under `root`) in INSTALLED_APPS, for this process."""
    from django.conf import settings

    sys.path.insert(0, str(root))
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, name]):
            yield
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


def settings_with(apps_root, app):
    """A settings module (in apps_root) that installs `app`: `manage(..., settings=...)`."""
    module = Path(apps_root) / f"settings_with_{app}.py"
    module.write_text(
        "from config.settings import *  # noqa: F403\n\n"
        f"INSTALLED_APPS = [*INSTALLED_APPS, {app!r}]  # noqa: F405\n"
    )
    return module

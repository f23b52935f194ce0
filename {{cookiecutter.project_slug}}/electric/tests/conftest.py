import pytest

from electric.schema_history import SchemaHistory
from tests.django_commands import manage
from tests.scratch_apps import (
    THING_MODEL,
    electrified_thing,
    new_app_name,
    settings_with,
    write_app,
)


@pytest.fixture
def electrified_app(tmp_path, fresh_database):
    """An app whose Thing is electrified by its 0002, and manage.py with it installed, on a
    database of its own: `electrified_app("migrate", skip_ddlx=True)`."""
    name = new_app_name()
    write_app(tmp_path, name, THING_MODEL, electrified_thing())
    settings = settings_with(tmp_path, name)

    def run(*args, skip_ddlx):
        return manage(fresh_database, *args, skip_ddlx=skip_ddlx, settings=settings)

    run.name = name
    run.table = f"{name}_thing"
    run.database = fresh_database
    # With the project's own electrified tables (the sample's, say), which migrate sees too.
    own = {electrification.table for electrification in SchemaHistory.from_disk().electrifications}
    run.electrified_tables = sorted({*own, run.table})
    return run

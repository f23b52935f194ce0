import os

import pytest
from baking import bake_ok

if os.geteuid() == 0:
    pytest.exit(
        "The template's tests run each baked project's suite, which starts PostgreSQL, and "
        "PostgreSQL refuses to run as root: run them as an unprivileged user (as root, "
        "`bash .ci/run` does that for you).",
        returncode=2,
    )


@pytest.fixture(scope="session")
def default_project(cookies_session):
    """The project baked with every default answer, shared by the tests that only read it."""
    return bake_ok(cookies_session)

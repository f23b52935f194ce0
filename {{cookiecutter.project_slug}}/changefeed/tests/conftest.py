import pytest

from changefeed.tests.redis_servers import (  # noqa: F401 (the redis sink tests' fixtures)
    durable_redis,
    volatile_redis,
    volatile_redis_proc,
)
from changefeed.tests.source_databases import migrated_template, source_database


@pytest.fixture(scope="session")
def source_template(postgres_server):
    with migrated_template(postgres_server) as name:
        yield name


@pytest.fixture
def source(postgres_server, source_template):
    """A database of its own, copied from the migrated template, for one test."""
    with source_database(postgres_server, source_template) as database:
        yield database

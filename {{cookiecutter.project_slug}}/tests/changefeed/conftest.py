import pytest
from feeds import feed_database, migrated_database


@pytest.fixture(scope="session")
def migrated_template(postgres_server):
    with migrated_database(postgres_server) as name:
        yield name


@pytest.fixture
def feed(postgres_server, migrated_template):
    with feed_database(postgres_server, migrated_template) as database:
        yield database

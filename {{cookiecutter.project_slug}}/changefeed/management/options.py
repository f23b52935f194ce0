"""Options that consume_changes and changefeed_slot share, validated the same way for both."""

from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

from changefeed import replication
from changefeed.replication import ChangeFeedError, ReplicationConfig


def add_replication_arguments(parser):
    parser.add_argument(
        "--slot", default=settings.CHANGEFEED_SLOT, help="Replication slot (CHANGEFEED_SLOT)."
    )
    parser.add_argument(
        "--publication",
        default=settings.CHANGEFEED_PUBLICATION,
        help="Publication (CHANGEFEED_PUBLICATION).",
    )
    parser.add_argument(
        "--tables",
        default=",".join(settings.CHANGEFEED_TABLES),
        help="Comma-separated tables to consume (CHANGEFEED_TABLES).",
    )
    parser.add_argument(
        "--database",
        default=DEFAULT_DB_ALIAS,
        help="Database alias to read from and store into (not Electric's proxy).",
    )


# The alias config/settings.py gives Electric's migrations proxy: it has no replication
# protocol, and whatever the consumer stores must not go through it.
PROXY_ALIAS = "proxy"


def replication_config(options) -> ReplicationConfig:
    """The options as a ReplicationConfig; a CommandError naming the first bad one."""
    if options["database"] not in connections:
        choices = ", ".join(connections)
        raise CommandError(
            f"Unknown database alias {options['database']!r}; choose one of: {choices}."
        )
    if options["database"] == PROXY_ALIAS:
        raise CommandError(
            f"--database {PROXY_ALIAS} is Electric's migrations proxy, which has no replication "
            "protocol: read the change feed from Postgres itself (--database default)."
        )
    tables = tuple(table.strip() for table in options["tables"].split(",") if table.strip())
    config = ReplicationConfig(
        slot=options["slot"],
        publication=options["publication"],
        tables=tables,
        database=options["database"],
    )
    try:
        replication.validate_names(config)
    except ChangeFeedError as error:
        raise CommandError(str(error)) from None
    require_migrated(config.database)
    return config


def require_migrated(database: str) -> None:
    """A CommandError when the change feed's own tables are missing: migrate has not run."""
    tables = {model._meta.db_table for model in apps.get_app_config("changefeed").get_models()}
    try:
        missing = tables - set(connections[database].introspection.table_names())
    except OperationalError:
        return  # the server is away: the command's own retries and messages deal with that
    if missing:
        raise CommandError(
            f"The change feed's tables ({', '.join(sorted(missing))}) are not in database "
            f"{database!r} yet: run `./manage.py migrate --database=proxy` first."
        )

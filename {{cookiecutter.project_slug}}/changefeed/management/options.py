"""Options that consume_changes and changefeed_slot share, validated the same way for both."""

from django.conf import settings
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections

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


def replication_config(options) -> ReplicationConfig:
    """The options as a ReplicationConfig; a CommandError naming the first bad one."""
    if options["database"] not in connections:
        choices = ", ".join(connections)
        raise CommandError(
            f"Unknown database alias {options['database']!r}; choose one of: {choices}."
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
    return config

"""Options that consume_changes and changefeed_slot share."""

from django.conf import settings
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from changefeed.replication import FeedConfig


def add_feed_arguments(parser):
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


def feed_config(options) -> FeedConfig:
    if options["database"] not in connections:
        choices = ", ".join(connections)
        raise CommandError(
            f"Unknown database alias {options['database']!r}; choose one of: {choices}."
        )
    tables = tuple(table.strip() for table in options["tables"].split(",") if table.strip())
    return FeedConfig(
        slot=options["slot"],
        publication=options["publication"],
        tables=tables,
        database=options["database"],
    )

from django.core.management.base import BaseCommand, CommandError

from changefeed import replication
from changefeed.management.options import add_replication_arguments, replication_config
from changefeed.replication import ChangeFeedError
from changefeed.snapshot import request_snapshots


class Command(BaseCommand):
    help = (
        "Snapshot tables (again): the consumer delivers every existing row of each as a `read` "
        "change, between the changes of the stream, leaving the other tables alone."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "table_names", nargs="+", metavar="table", help="Tables of CHANGEFEED_TABLES."
        )
        add_replication_arguments(parser)

    def handle(self, *args, table_names, **options):
        config = replication_config(options)
        try:
            # A table just added to CHANGEFEED_TABLES: publish its changes from now on.
            replication.ensure_publication(config, replication.resolve_tables(config))
            tables = request_snapshots(config, table_names)
        except ChangeFeedError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Snapshot of {', '.join(tables)} requested for slot {config.slot}: a running "
                "consume_changes starts it within seconds, or the next one does."
            )
        )

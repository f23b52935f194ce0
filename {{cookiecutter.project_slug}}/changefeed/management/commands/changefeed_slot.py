from django.core.management.base import BaseCommand, CommandError

from changefeed import replication
from changefeed.lsn import format_lag, format_lsn
from changefeed.management.options import add_replication_arguments, replication_config
from changefeed.models import Checkpoint
from changefeed.replication import ChangeFeedError


class Command(BaseCommand):
    help = (
        "Create, drop or show the change feed's replication slot and publication. A slot holds "
        "WAL back until it is consumed: drop one that no consumer will read again."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "drop", "status"])
        add_replication_arguments(parser)

    def handle(self, *args, action, **options):
        config = replication_config(options)
        try:
            getattr(self, action)(config)
        except ChangeFeedError as error:
            raise CommandError(str(error)) from None

    def create(self, config):
        existed = replication.slot_state(config) is not None
        replication.prepare(config, checkpoint=self._checkpoint(config))
        verb = "exists" if existed else "created"
        self.stdout.write(
            self.style.SUCCESS(
                f"Slot {config.slot} {verb}; publication {config.publication} covers "
                f"{', '.join(config.tables)}."
            )
        )

    def drop(self, config):
        dropped = replication.drop_slot(config)
        replication.drop_publication(config)
        # The checkpoint pointed into the dropped slot's stream: it means nothing any more.
        Checkpoint.objects.using(config.database).filter(slot=config.slot).delete()
        verb = "dropped" if dropped else "did not exist"
        self.stdout.write(
            self.style.SUCCESS(f"Slot {config.slot} {verb}; publication and checkpoint removed.")
        )

    def status(self, config):
        status = replication.slot_status(config)
        if status is None:
            raise CommandError(
                f"There is no replication slot {config.slot!r}: `./manage.py changefeed_slot "
                "create` makes one (consume_changes does too)."
            )
        checkpoint = self._checkpoint(config)
        lines = {
            "slot": config.slot,
            "plugin": status["plugin"],
            "active": f"yes (server process {status['active_pid']})"
            if status["active_pid"]
            else "no",
            "wal status": status["wal_status"],
            "confirmed lsn": status["confirmed_lsn"],
            # Only the store sink's checkpoint is in the database (redis': its streams' IDs).
            "store sink at": format_lsn(checkpoint)
            if checkpoint
            else "nothing stored (the jsonl and redis sinks keep no checkpoint here)",
            "retained wal": f"{status['retained_wal_bytes']:,} bytes",
            # The same lag consume_changes reports: WAL past the slot's confirmed position.
            "lag": format_lag(status["lag_bytes"]),
        }
        for name, value in lines.items():
            self.stdout.write(self.style.MIGRATE_LABEL(f"{name + ':':<15}") + str(value))

    def _checkpoint(self, config):
        return Checkpoint.objects.using(config.database).lsn(config.slot)

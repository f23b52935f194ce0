from django.core.management.base import BaseCommand, CommandError

from changefeed import replication
from changefeed.management.options import add_feed_arguments, feed_config
from changefeed.models import Checkpoint
from changefeed.pgoutput import format_lsn
from changefeed.replication import ChangeFeedError


class Command(BaseCommand):
    help = (
        "Create, drop or show the change feed's replication slot and publication. A slot holds "
        "WAL back until it is consumed: drop one that no consumer will read again."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "drop", "status"])
        add_feed_arguments(parser)

    def handle(self, *args, action, **options):
        config = feed_config(options)
        try:
            getattr(self, action)(config)
        except ChangeFeedError as error:
            raise CommandError(str(error)) from None

    def create(self, config):
        checkpoint = self._checkpoint(config)
        existed = replication.slot_state(config) is not None
        replication.prepare(config, checkpoint=checkpoint.lsn if checkpoint else 0)
        verb = "exists" if existed else "created"
        self.stdout.write(
            f"Slot {config.slot} {verb}; publication {config.publication} covers "
            f"{', '.join(config.tables)}."
        )

    def drop(self, config):
        replication.validate_names(config)
        dropped = replication.drop_slot(config)
        replication.drop_publication(config)
        # The checkpoint pointed into the dropped slot's stream: it means nothing any more.
        Checkpoint.objects.using(config.database).filter(slot=config.slot).delete()
        verb = "dropped" if dropped else "did not exist"
        self.stdout.write(f"Slot {config.slot} {verb}; publication and checkpoint removed.")

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
            "stored up to": format_lsn(checkpoint.lsn) if checkpoint else "nothing stored",
            "retained wal": f"{status['retained_wal_bytes']} bytes",
            "lag": f"{status['lag_bytes']} bytes",
        }
        for name, value in lines.items():
            self.stdout.write(f"{name + ':':<15}{value}")

    def _checkpoint(self, config):
        return Checkpoint.objects.using(config.database).filter(slot=config.slot).first()

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections


class Command(BaseCommand):
    help = (
        "Wait until a database alias accepts connections. Electric's image has no curl for a "
        "healthcheck, so compose waits for its migrations proxy from here."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='The database alias to wait for, e.g. "proxy". Default: "default".',
        )
        parser.add_argument(
            "--timeout", type=float, default=60.0, help="Give up after this many seconds."
        )
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between two attempts."
        )

    def handle(self, *args, database, timeout, interval, **options):
        if database not in connections:
            choices = ", ".join(connections)
            raise CommandError(f"Unknown database alias {database!r}; choose one of: {choices}.")
        if timeout <= 0 or interval <= 0:
            raise CommandError("--timeout and --interval must be positive numbers of seconds.")

        connection = connections[database]
        settings = connection.settings_dict
        target = f"{database!r} ({settings['HOST']}:{settings['PORT']})"
        deadline = time.monotonic() + timeout
        while True:
            # Bound each attempt too: a host that drops packets would otherwise hang a connect.
            remaining = deadline - time.monotonic()
            settings["OPTIONS"]["connect_timeout"] = max(1, int(remaining))
            try:
                connection.ensure_connection()
            except OperationalError as error:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    reason = str(error).strip().splitlines()[0]
                    raise CommandError(
                        f"Database {target} did not accept connections within {timeout:g}s: "
                        f"{reason}"
                    ) from None
                time.sleep(min(interval, remaining))
            else:
                connection.close()
                self.stdout.write(f"Database {target} accepts connections.")
                return

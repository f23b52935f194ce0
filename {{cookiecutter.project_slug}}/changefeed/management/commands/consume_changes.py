import logging
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from changefeed.envelopes import FORMATS, DebeziumEnvelope
from changefeed.handlers import HandlerError, load_handler
from changefeed.lsn import format_lag
from changefeed.management.options import add_replication_arguments, replication_config
from changefeed.pgoutput import PgOutputDecodeError
from changefeed.replication import ChangeFeedError
from changefeed.sinks import SinkStopped
from changefeed.sinks.jsonl import JsonlSink
from changefeed.sinks.store import StoreSink
from changefeed.snapshot import Snapshotter, request_snapshots
from changefeed.stream import ChangeStream
from changefeed.transactions import ProtocolError

SINKS = ("store", "jsonl", "redis")


def positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise ValueError(text)
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


class Command(BaseCommand):
    help = (
        "Consume Postgres' logical replication change feed (pgoutput) into the ChangeEvent "
        "store (exactly once), into Redis streams (exactly once), or as JSON lines on stdout."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        add_replication_arguments(parser)
        parser.add_argument(
            "--sink",
            choices=SINKS,
            default=settings.CHANGEFEED_SINK,
            help="store: ChangeEvent rows, exactly once; jsonl: JSON lines on stdout; redis: "
            "entries of Redis streams, exactly once (CHANGEFEED_SINK, default %(default)s).",
        )
        parser.add_argument(
            "--format",
            choices=FORMATS,
            help="For jsonl and redis: feed (the default: the ChangeEvent fields) or debezium "
            "(Debezium's envelope).",
        )
        parser.add_argument(
            "--redis-url",
            default=settings.CHANGEFEED_REDIS_URL,
            help="For redis: the server, e.g. redis://localhost:6379/0 (CHANGEFEED_REDIS_URL).",
        )
        parser.add_argument(
            "--redis-stream",
            default=settings.CHANGEFEED_REDIS_STREAM,
            help="For redis: the stream name, {table} standing for the qualified table name "
            "(CHANGEFEED_REDIS_STREAM, default %(default)s).",
        )
        parser.add_argument(
            "--redis-maxlen",
            type=positive(int),
            help="For redis: trim each stream to about this many entries (XADD MAXLEN ~).",
        )
        parser.add_argument(
            "--skip-durability-check",
            action="store_true",
            help="For redis: do not read its persistence settings (where CONFIG GET is refused); "
            "it must run with appendonly yes and appendfsync always.",
        )
        parser.add_argument(
            "--handler",
            action="append",
            dest="handlers",
            metavar="DOTTED_PATH",
            help="A function called with each transaction, inside the store's database "
            "transaction; repeat for several, called in order (default: CHANGEFEED_HANDLERS).",
        )
        parser.add_argument(
            "--max-events",
            type=positive(int),
            help="Stop after the transaction that brings the count to this many events.",
        )
        parser.add_argument(
            "--idle-timeout",
            type=positive(float),
            help="Stop after this many seconds without a new transaction.",
        )
        parser.add_argument(
            "--max-downtime",
            type=positive(float),
            default=300.0,
            help="Exit with an error when Postgres stays unreachable this many seconds.",
        )
        parser.add_argument(
            "--status-interval",
            type=positive(float),
            default=10.0,
            help="Seconds between status updates to the server, which let it recycle WAL.",
        )
        parser.add_argument(
            "--progress-every",
            type=positive(float),
            default=5.0,
            help="Seconds between progress lines on stderr (none with -v 0).",
        )
        parser.add_argument(
            "--batch-size",
            type=positive(int),
            default=5000,
            help="Store up to this many events per database transaction.",
        )
        parser.add_argument(
            "--snapshot",
            action="store_true",
            help="First deliver every existing row of the tables never snapshotted for this slot "
            "as a `read` change, then go on streaming from exactly there.",
        )
        parser.add_argument(
            "--snapshot-chunk",
            type=positive(int),
            default=5000,
            help="Rows a snapshot reads (and holds in memory) at a time.",
        )

    def handle(self, *args, **options):
        config = replication_config(options)
        sink = self._sink(config, options)
        # What the progress lines say the sink did with the events.
        self._done = {"store": "stored", "jsonl": "written", "redis": "added to Redis"}[
            options["sink"]
        ]

        verbosity = options["verbosity"]
        self._last_progress = (time.monotonic(), 0)
        if verbosity == 0:
            logging.getLogger("changefeed").setLevel(logging.WARNING)
        if options["snapshot"]:
            try:
                request_snapshots(config, config.tables, only_new=True)
            except ChangeFeedError as error:
                raise CommandError(str(error)) from None
        # Runs the snapshots requested for this slot (by --snapshot or changefeed_snapshot).
        snapshot = Snapshotter(
            config,
            sink,
            chunk_rows=options["snapshot_chunk"],
            progress=self._snapshot_progress if verbosity >= 1 else None,
            progress_interval=options["progress_every"],
        )
        stream = ChangeStream(
            config,
            sink,
            snapshot=snapshot,
            batch_events=options["batch_size"],
            max_downtime=options["max_downtime"],
            status_interval=options["status_interval"],
            progress=self._progress if verbosity >= 1 else None,
            progress_interval=options["progress_every"],
        )
        # Finish the batch in hand, acknowledge it, exit 0.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stream.stop())
        try:
            events = stream.run(options["max_events"], options["idle_timeout"])
        except SinkStopped as stopped:  # asked to stop while Redis was down: nothing lost
            self.stderr.write(str(stopped))
            events = stream.events
        except (ChangeFeedError, HandlerError) as error:
            raise CommandError(str(error)) from None
        except (PgOutputDecodeError, ProtocolError) as error:
            raise CommandError(
                f"The replication stream could not be decoded ({error}); nothing after the "
                "last stored transaction was acknowledged, so a restart retries it."
            ) from None
        if verbosity >= 1:
            self.stderr.write(
                self.style.SUCCESS(f"Consumed {events} change events from slot {config.slot}.")
            )

    def _sink(self, config, options):
        kind = options["sink"]
        if kind not in SINKS:  # the setting's value: argparse checks only what is passed
            raise CommandError(f"CHANGEFEED_SINK is {kind!r}: choose one of {', '.join(SINKS)}.")
        if kind != "store" and options["handlers"]:
            raise CommandError(
                "--handler runs inside the store's transaction: use --sink store (or, with "
                "--sink redis, read the streams with read_changes --handler)."
            )
        if kind == "store":
            if options["format"]:
                raise CommandError("--format is for the sinks that write JSON: jsonl and redis.")
            handlers = options["handlers"] or settings.CHANGEFEED_HANDLERS
            return StoreSink(config.slot, [self._handler(h) for h in handlers], config.database)
        envelope = None
        if options["format"] == "debezium":
            envelope = DebeziumEnvelope(
                config.slot, connections[config.database].settings_dict["NAME"]
            )
        if kind == "jsonl":
            return JsonlSink(config.slot, self.stdout, envelope, config.database)
        if not options["redis_url"]:
            raise CommandError(
                "--sink redis needs a server: set CHANGEFEED_REDIS_URL (in .env) or pass "
                "--redis-url, e.g. redis://localhost:6379/0."
            )
        # Imported only when chosen: redis-py alone adds a tenth of a second to every start.
        from changefeed.sinks.redis_streams import RedisStreamsSink

        try:
            return RedisStreamsSink(
                config.slot,
                options["redis_url"],
                stream=options["redis_stream"],
                maxlen=options["redis_maxlen"] or 0,
                envelope=envelope,
                max_downtime=options["max_downtime"],
                check_durability=not options["skip_durability_check"],
                database=config.database,
            )
        except (ChangeFeedError, ValueError) as error:
            raise CommandError(f"Cannot use Redis: {error}") from None

    def _handler(self, dotted_path):
        try:
            return load_handler(dotted_path)
        except ImportError as error:
            raise CommandError(f"Cannot use handler {dotted_path!r}: {error}") from None

    def _progress(self, events, lag_bytes):
        now = time.monotonic()
        last_time, last_events = self._last_progress
        rate = (events - last_events) / (now - last_time)
        self._last_progress = (now, events)
        lag = format_lag(lag_bytes)
        self.stderr.write(f"{events} events {self._done}, {rate:.0f}/s, lag {lag}")

    def _snapshot_progress(self, table, rows, total, rate, done):
        if done:
            left = "done"
        elif rate:
            left = f"about {max(total - rows, 0) / rate:.0f}s left"
        else:
            left = "time left unknown"
        self.stderr.write(
            f"snapshot of {table}: {rows} of ~{total} rows, {rate:.0f} rows/s, {left}"
        )

import logging
import os
import signal
import socket
import time
from datetime import datetime

import orjson
import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from redis.exceptions import AuthenticationError

from changefeed.handlers import handler_name, load_handler
from changefeed.management.commands.consume_changes import positive
from changefeed.sinks.redis_streams import (
    FEED_FIELD,
    UNAVAILABLE,
    RedisStreamsSink,
    credentials_refused,
    parse_stream_id,
    redis_location,
)
from changefeed.transactions import Change, Transaction

logger = logging.getLogger("changefeed.read_changes")

CHANGE_FIELDS = ("lsn", "position", "table_name", "operation", "primary_key", "old", "new")


# An entry that cannot be read as a change is retried this many deliveries (another reader may
# know better), then moved to <stream>.dead-letter, so that it stops no one.
DEAD_LETTER_AFTER = 3
DEAD_LETTER_SUFFIX = ".dead-letter"


class Undecodable(ValueError):
    """An entry that is not a change in the feed's format."""


def decode_change(stream: bytes, entry_id: bytes, fields) -> dict:
    value = fields.get(FEED_FIELD)
    if value is None:
        raise CommandError(
            f"Entry {entry_id.decode()} of {stream.decode()} is not in the change feed's own "
            "format (written with --format debezium?): read it with a Debezium consumer."
        )
    try:
        change = orjson.loads(value)
        return {
            **{name: change[name] for name in (*CHANGE_FIELDS, "unchanged_toast", "xid")},
            "commit_time": datetime.fromisoformat(change["commit_time"]),
        }
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise Undecodable(f"{type(error).__name__}: {error}") from None


def transactions_of(stream: bytes, entries):
    """A stream's entries (in the feed's format), grouped by the transaction they came from,
    each with the IDs to acknowledge once it is handled; and the entries that are not changes,
    with why: [(entry ID, fields, reason)]."""
    grouped: list[tuple[Transaction, list[bytes]]] = []
    undecodable = []
    for entry_id, fields in entries:
        try:
            change = decode_change(stream, entry_id, fields)
        except Undecodable as error:
            undecodable.append((entry_id, fields, str(error)))
            continue
        commit_lsn = parse_stream_id(entry_id)[0]
        if not grouped or grouped[-1][0].commit_lsn != commit_lsn:
            tx = Transaction(
                xid=change["xid"],
                commit_lsn=commit_lsn,
                end_lsn=0,  # not in the stream
                commit_time=change["commit_time"],
            )
            grouped.append((tx, []))
        tx, ids = grouped[-1]
        tx.changes.append(
            Change(
                *(change[name] for name in CHANGE_FIELDS),
                unchanged_toast=change["unchanged_toast"],
            )
        )
        ids.append(entry_id)
    return grouped, undecodable


class Command(BaseCommand):
    help = (
        "Read the change feed's Redis streams as one consumer of a consumer group: call the "
        "handlers with each transaction's entries, acknowledge them (XACK) once they return, and "
        "take over what a dead consumer left unacknowledged (XAUTOCLAIM)."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--group", default="changefeed", help="Consumer group (default %(default)s)."
        )
        parser.add_argument(
            "--consumer",
            default=f"{socket.gethostname()}-{os.getpid()}",
            help="This reader's name in the group (default: host name and process id).",
        )
        parser.add_argument(
            "--stream",
            action="append",
            dest="streams",
            metavar="NAME",
            help="A stream to read; repeat for several (default: every stream "
            "CHANGEFEED_REDIS_STREAM names that exists now).",
        )
        parser.add_argument(
            "--handler",
            action="append",
            dest="handlers",
            metavar="DOTTED_PATH",
            help="A function called with each transaction, inside a database transaction; "
            "repeat for several (default: CHANGEFEED_HANDLERS).",
        )
        parser.add_argument(
            "--redis-url",
            default=settings.CHANGEFEED_REDIS_URL,
            help="The server, e.g. redis://localhost:6379/0 (CHANGEFEED_REDIS_URL).",
        )
        parser.add_argument(
            "--count", type=positive(int), default=100, help="Entries per read (default 100)."
        )
        parser.add_argument(
            "--claim-idle",
            type=positive(float),
            default=60.0,
            help="Take over entries another consumer has held unacknowledged this many seconds "
            "(it died, or hangs): default %(default)g.",
        )
        parser.add_argument(
            "--max-entries",
            type=positive(int),
            help="Stop once this many entries are handled.",
        )
        parser.add_argument(
            "--idle-timeout",
            type=positive(float),
            help="Stop after this many seconds without an entry.",
        )
        parser.add_argument(
            "--max-downtime",
            type=positive(float),
            default=300.0,
            help="Give up once Redis has been unreachable this many seconds (default %(default)g).",
        )

    def handle(self, *args, **options):
        if not options["redis_url"]:
            raise CommandError(
                "read_changes needs a server: set CHANGEFEED_REDIS_URL (in .env) or pass "
                "--redis-url, e.g. redis://localhost:6379/0."
            )
        handlers = [
            self._handler(path) for path in options["handlers"] or settings.CHANGEFEED_HANDLERS
        ]
        if not handlers:
            raise CommandError("No handler to call: pass --handler or set CHANGEFEED_HANDLERS.")
        self.redis = redis.Redis.from_url(options["redis_url"])
        self.group, self.consumer = options["group"], options["consumer"]
        self.handlers = handlers
        self.stopping = False
        self.handled = 0
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: setattr(self, "stopping", True))
        self._run_until_done(options)
        if options["verbosity"] >= 1:
            self.stderr.write(
                self.style.SUCCESS(f"Handled {self.handled} entries as {self.consumer}.")
            )

    def _run_until_done(self, options):
        """Read; while Redis is away (restarting, say), retry with backoff, up to --max-downtime.

        After a reconnect the reader starts with its own pending entries, as after a restart:
        an entry whose XACK was lost is handled again (reading is at-least-once)."""
        down_since, delay = None, 0.5
        while True:
            self.reached = False
            try:
                return self._run(options)
            except AuthenticationError as error:  # a ConnectionError to redis-py: not retried
                raise CommandError(credentials_refused(options["redis_url"], error)) from None
            except UNAVAILABLE as error:
                if self.stopping:
                    return  # asked to stop: what is not acknowledged stays pending
                if self.reached:  # a new outage, after a spell of reading
                    down_since, delay = None, 0.5
                down_since = down_since or time.monotonic()
                down = time.monotonic() - down_since
                location = redis_location(options["redis_url"])
                if down >= options["max_downtime"]:
                    raise CommandError(
                        f"Cannot reach Redis at {location} (for {down:.0f}s; limit "
                        f"--max-downtime {options['max_downtime']:g}s): {error}"
                    ) from None
                logger.warning(
                    "Redis at %s unavailable (%s); retrying in %.1fs", location, error, delay
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _run(self, options):
        streams = options["streams"] or self._existing_streams(options["redis_url"])
        if not streams:
            raise CommandError(
                f"No stream named like {settings.CHANGEFEED_REDIS_STREAM!r} in Redis yet: "
                "start consume_changes --sink redis first, or pass --stream."
            )
        self._create_group(streams)
        self._read(streams, options)

    def _handler(self, dotted_path):
        try:
            return load_handler(dotted_path)
        except ImportError as error:
            raise CommandError(f"Cannot use handler {dotted_path!r}: {error}") from None

    def _existing_streams(self, url) -> list[str]:
        sink = RedisStreamsSink("", url, stream=settings.CHANGEFEED_REDIS_STREAM)
        return [name.decode() for name in sink.existing_streams()]

    def _create_group(self, streams):
        for stream in streams:
            try:
                # From the stream's start: the group sees every entry still in it.
                self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except redis.exceptions.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    def _read(self, streams, options) -> None:
        count, claim_idle_ms = options["count"], int(options["claim_idle"] * 1000)
        max_entries, idle_timeout = options["max_entries"], options["idle_timeout"]
        last_entry = time.monotonic()
        # Entries delivered to this consumer before (a restart under the same name) come first.
        backlog = {stream: "0" for stream in streams}
        claim_from = dict.fromkeys(streams, "0-0")
        while not self.stopping:
            handled_before = self.handled
            for stream in streams:
                # Entries a dead consumer left: idle longer than --claim-idle. Handled at once,
                # before they could show up again as this consumer's own pending entries.
                claim_from[stream], claimed, *_ = self.redis.xautoclaim(
                    stream, self.group, self.consumer, claim_idle_ms, claim_from[stream], count
                )
                if claimed:
                    self.handled += self._handle(stream.encode(), claimed)
            if backlog:
                read = self.redis.xreadgroup(self.group, self.consumer, backlog, count=count)
                backlog = {stream.decode(): "0" for stream, entries in read if entries}
            else:
                read = self.redis.xreadgroup(
                    self.group, self.consumer, dict.fromkeys(streams, ">"), count, block=1000
                )
            self.reached = True
            for stream, entries in read:
                if entries:
                    self.handled += self._handle(stream, entries)
            if self.handled > handled_before:
                last_entry = time.monotonic()
            if max_entries is not None and self.handled >= max_entries:
                break
            if idle_timeout is not None and time.monotonic() - last_entry >= idle_timeout:
                break

    def _handle(self, stream: bytes, entries) -> int:
        transactions, undecodable = transactions_of(stream, entries)
        for entry_id, fields, reason in undecodable:
            self._dead_letter(stream, entry_id, fields, reason)
        for tx, ids in transactions:
            with transaction.atomic():
                for handler in self.handlers:
                    try:
                        handler(tx)
                    except Exception as error:
                        logger.exception("Handler %s failed", handler_name(handler))
                        raise CommandError(
                            f"Handler {handler_name(handler)} failed on transaction {tx.xid} of "
                            f"{stream.decode()}; its entries stay pending, for this consumer "
                            f"(restarted) or another to take over: {type(error).__name__}: "
                            f"{error}"
                        ) from error
            # Only once the handlers' work is committed: a crash before this redelivers them.
            self.redis.xack(stream, self.group, *ids)
        return len(entries)

    def _dead_letter(self, stream: bytes, entry_id: bytes, fields, reason: str) -> None:
        """Leave an entry that is not a change pending (XAUTOCLAIM delivers it again) until it
        has been delivered DEAD_LETTER_AFTER times, then move it to <stream>.dead-letter."""
        [pending] = self.redis.xpending_range(stream, self.group, entry_id, entry_id, 1) or [{}]
        deliveries = pending.get("times_delivered", DEAD_LETTER_AFTER)
        where = f"entry {entry_id.decode()} of {stream.decode()}"
        if deliveries < DEAD_LETTER_AFTER:
            logger.warning("Cannot read %s as a change (%s); left pending", where, reason)
            return
        dead_letters = stream + DEAD_LETTER_SUFFIX.encode()
        with self.redis.pipeline(transaction=True) as moving:
            moving.xadd(
                dead_letters,
                {**fields, b"source-stream": stream, b"source-id": entry_id, b"error": reason},
            )
            moving.xack(stream, self.group, entry_id)
            moving.execute()
        logger.error(
            "Moved %s to %s after %d deliveries: %s",
            where,
            dead_letters.decode(),
            deliveries,
            reason,
        )

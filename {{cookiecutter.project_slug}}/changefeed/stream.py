"""The replication connection's read loop: decode, batch, store, acknowledge, reconnect.

    WAL --pgoutput--> read_message --> TransactionAssembler (decodes, converts) --> batch
        --> sink.encode --> BatchWriter thread: sink.write (one database transaction per batch)
        --> send_feedback(flush_lsn=end of the last stored commit)

Postgres keeps WAL until it is acknowledged, so only what a sink has made safe is acknowledged.
After a restart or a reconnect, Postgres resends everything after the acknowledged position, and
transactions the sink already has (at or before its checkpoint) are skipped.
"""

import gc
import logging
import select
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from django.db import InterfaceError, OperationalError, connections

from changefeed import replication
from changefeed.pgoutput import format_lsn
from changefeed.replication import ChangeFeedError, FeedConfig, SlotBusy
from changefeed.transactions import Transaction, TransactionAssembler, replica_identity_columns
from changefeed.writer import BatchWriter

logger = logging.getLogger(__name__)

# What a lost connection (or a restarting server) raises, from either driver or from Django.
# Any error of the replication connection counts: a dying server surfaces there as anything from
# OperationalError to "no COPY in progress".
CONNECTION_ERRORS = (
    psycopg2.DatabaseError,
    psycopg2.InterfaceError,
    OperationalError,
    InterfaceError,
    SlotBusy,
)
# libpq keys worth passing on from a Django database's OPTIONS.
LIBPQ_OPTIONS = {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options"}


def replication_dsn(database: str) -> str:
    settings = connections[database].settings_dict
    params = {
        "dbname": settings["NAME"],
        "user": settings["USER"],
        "password": settings["PASSWORD"],
        "host": settings["HOST"],
        "port": settings["PORT"],
        "application_name": "consume_changes",
        # Notice a vanished server within seconds, not after the kernel's two-hour default.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        **{key: value for key, value in settings["OPTIONS"].items() if key in LIBPQ_OPTIONS},
    }
    return psycopg2.extensions.make_dsn(
        **{key: value for key, value in params.items() if value not in (None, "")}
    )


# Streaming allocates millions of short-lived objects. Reference counting frees them (they hold no
# cycles), but each allocation also counts towards CPython's automatic cycle collection, and each
# collection walked every object alive: Django's, from start-up, and the batches in flight. That
# was a quarter of the consumer's time (measured with benchmarks/changefeed_throughput.py). So
# the objects from start-up, which live as long as the process, are frozen out of the collector's
# sight; automatic collection is off while streaming; and a full collection, now cheap, runs every
# few batches to free any cycles a handler leaves behind.
COLLECT_EVERY_BATCHES = 20


@contextmanager
def _collecting_garbage_per_batch():
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ChangeStream:
    """Consumes a slot into a sink until stopped, a limit is reached, or the server stays away."""

    def __init__(
        self,
        config: FeedConfig,
        sink,
        *,
        batch_events: int = 5000,
        batch_seconds: float = 0.5,
        status_interval: float = 10.0,
        max_downtime: float = 300.0,
        progress: Callable[[int, int], None] | None = None,
        progress_interval: float = 5.0,
    ):
        self.config = config
        self.sink = sink
        self.batch_events = batch_events
        self.batch_seconds = batch_seconds
        self.status_interval = status_interval
        self.max_downtime = max_downtime
        self.progress = progress
        self.progress_interval = progress_interval
        self.events = 0
        self.acknowledged = 0  # end LSN of the last transaction the sink has made safe
        self._batches = 0
        self._stop = threading.Event()
        self._connection = None
        self._cursor = None

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, acknowledge it and return."""
        self._stop.set()

    def run(self, max_events: int | None = None, idle_timeout: float | None = None) -> int:
        """Consume; returns the number of change events the sink received."""
        with _collecting_garbage_per_batch():
            return self._run(max_events, idle_timeout)

    def _run(self, max_events: int | None, idle_timeout: float | None) -> int:
        lost_since = None
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._connect()
                lost_since, delay = None, 0.5
                self._stream(max_events, idle_timeout)
                return self.events
            except CONNECTION_ERRORS as error:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
                lost_since = lost_since or time.monotonic()
                down = time.monotonic() - lost_since
                if down >= self.max_downtime:
                    raise ChangeFeedError(
                        f"Could not stream from Postgres for {down:.0f}s (limit "
                        f"--max-downtime {self.max_downtime:g}s): {reason}"
                    ) from None
                logger.warning("Replication interrupted (%s); reconnecting in %.1fs", reason, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
            finally:
                self._disconnect()
        return self.events

    def _connect(self) -> None:
        # The sink's checkpoint first: everything at or before it is stored already.
        self.acknowledged = max(self.acknowledged, self.sink.checkpoint())
        replication.prepare(self.config, checkpoint=self.acknowledged)
        self._connection = psycopg2.connect(
            replication_dsn(self.config.database),
            connection_factory=psycopg2.extras.LogicalReplicationConnection,
        )
        self._cursor = self._connection.cursor()
        self._cursor.start_replication(
            slot_name=self.config.slot,
            decode=False,
            start_lsn=self.acknowledged,
            status_interval=self.status_interval,
            options={"proto_version": "1", "publication_names": self.config.publication},
        )
        logger.info(
            "Streaming slot %s (publication %s) from %s",
            self.config.slot,
            self.config.publication,
            format_lsn(self.acknowledged),
        )

    def _disconnect(self) -> None:
        if self._connection is not None:
            with suppress(Exception):
                self._connection.close()
        self._connection = self._cursor = None
        # Django's connection may be broken too (a restarting server); open a new one next time.
        with suppress(Exception):
            connections[self.config.database].close()

    def _stream(self, max_events: int | None, idle_timeout: float | None) -> None:
        cursor = self._cursor
        assembler = TransactionAssembler(key_columns=self._key_columns)
        writer = BatchWriter(self.sink)
        writer.start()
        pending: list[Transaction] = []
        pending_events = handed_events = 0
        handed_lsn = self.acknowledged
        batch_started = 0.0
        last_activity = last_progress = time.monotonic()

        def keep_alive():
            cursor.send_feedback(force=True)

        def hand_over():
            nonlocal pending, pending_events, handed_events, handed_lsn
            writer.put(pending, keep_alive)
            self._batches += 1
            if self._batches % COLLECT_EVERY_BATCHES == 0:
                gc.collect()
            handed_lsn = pending[-1].end_lsn
            handed_events += pending_events
            pending, pending_events = [], 0

        def acknowledge():
            nonlocal last_progress
            writer.raise_error()
            if writer.stored_lsn > self.acknowledged:
                self.acknowledged = writer.stored_lsn
                cursor.send_feedback(flush_lsn=self.acknowledged, force=True)
            now = time.monotonic()
            if self.progress and now - last_progress >= self.progress_interval:
                stored = self.events + writer.stored_events
                self.progress(stored, max(0, cursor.wal_end - self.acknowledged))
                last_progress = now

        def finish():
            if pending:
                hand_over()
            writer.finish(keep_alive)
            acknowledge()

        try:
            while True:
                message = cursor.read_message()
                if message is not None:
                    transaction = assembler.feed(message.payload, message.data_start)
                    if transaction is None or transaction.end_lsn <= handed_lsn:
                        continue  # mid-transaction, or stored before a restart
                    if not pending:
                        batch_started = time.monotonic()
                    pending.append(transaction)
                    pending_events += len(transaction.changes)
                    last_activity = time.monotonic()
                    if self._stop.is_set() or (
                        max_events is not None
                        and self.events + handed_events + pending_events >= max_events
                    ):
                        finish()
                        return
                    if (
                        pending_events >= self.batch_events
                        or last_activity - batch_started >= self.batch_seconds
                    ):
                        hand_over()
                        acknowledge()
                    continue

                # Nothing more to read right now: store what is complete without waiting.
                if pending:
                    hand_over()
                acknowledge()
                if self._stop.is_set() or (
                    idle_timeout is not None and time.monotonic() - last_activity >= idle_timeout
                ):
                    finish()
                    return
                if not assembler.in_transaction and writer.stored_lsn == handed_lsn:
                    # Everything up to the server's position is handled: let Postgres recycle
                    # that WAL even while our tables are quiet (sent at the next status update).
                    cursor.send_feedback(flush_lsn=max(self.acknowledged, cursor.wal_end))
                select.select([self._connection], [], [], 1.0)
        except BaseException:
            # What is queued is complete: store it if the database still answers. Nothing more
            # is acknowledged; a reconnect resumes from the sink's checkpoint.
            with suppress(BaseException):
                writer.finish(keep_alive=lambda: None)
            raise
        finally:
            self.events += writer.stored_events

    def _key_columns(self, relation) -> tuple[str, ...]:
        return replication.primary_key_columns(self.config, relation.oid) or (
            replica_identity_columns(relation)
        )

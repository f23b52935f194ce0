"""The replication connection: connect, read, batch, store, acknowledge, reconnect.

    ChangeStream.run        connects (and reconnects) to the slot, then for each connection:
    ReadLoop.run            reads messages: TransactionAssembler.receive decodes them into
                            transactions (transactions.py, pgoutput.py);
      .add(transaction)     adds each committed transaction to the batch in hand;
      .hand_over()          encodes the batch (sink.encode) and queues it for the BatchWriter
                            thread, which stores it (sink.write: one database transaction);
      .acknowledge()        tells Postgres the end of the last stored commit (send_feedback);
      .finish()             stores what is in hand and acknowledges it, at a limit or a stop.

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
from changefeed.lsn import format_lsn
from changefeed.replication import ChangeFeedError, ReplicationConfig, SlotBusy
from changefeed.sinks import Sink
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
# was a quarter of the consumer's time (measured with benchmarks/changefeed_throughput.py). So,
# while a stream runs, the objects from start-up (which live as long as the process) are frozen
# out of the collector's sight and automatic collection is off; a full collection, now cheap, runs
# every few batches to free any cycles a handler leaves behind.
COLLECT_EVERY_BATCHES = 20


@contextmanager
def cycle_collection_every_few_batches():
    """Automatic cycle collection off, start-up objects frozen; both undone on exit."""
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


class ChangeStream:
    """Consumes a slot into a sink until stopped, a limit is reached, or the server stays away.

    `acknowledged` is the end of the last transaction the sink has made safe; `confirmed` is the
    position last confirmed to the server, which is further when the stream is idle and caught up
    (see ReadLoop.wait_for_messages). The lag it reports is the server's WAL end minus
    `confirmed`: what `changefeed_slot status` shows too (pg_current_wal_lsn() minus the slot's
    confirmed_flush_lsn).
    """

    def __init__(
        self,
        config: ReplicationConfig,
        sink: Sink,
        *,
        batch_events: int = 5000,
        batch_seconds: float = 0.5,
        status_interval: float = 10.0,
        max_downtime: float = 300.0,
        progress: Callable[[int, int], None] | None = None,
        progress_interval: float = 5.0,
        snapshot=None,
    ):
        self.config = config
        self.sink = sink
        self.snapshot = snapshot  # a changefeed.snapshot.Snapshotter, to run snapshots
        self.batch_events = batch_events
        self.batch_seconds = batch_seconds
        self.status_interval = status_interval
        self.max_downtime = max_downtime
        self.progress = progress
        self.progress_interval = progress_interval
        self.events = 0
        self.acknowledged = 0
        self.confirmed = 0
        self.batches = 0
        self._stop = threading.Event()
        self._connection = None
        self._cursor = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, acknowledge it and return."""
        self._stop.set()
        # A sink that waits out its own backend's outages (redis) stops waiting: SinkStopped.
        stop_sink = getattr(self.sink, "stop", None)
        if stop_sink is not None:
            stop_sink()

    def run(self, max_events: int | None = None, idle_timeout: float | None = None) -> int:
        """Consume; returns the number of change events the sink received."""
        with cycle_collection_every_few_batches():
            return self._run(max_events, idle_timeout)

    def _run(self, max_events: int | None, idle_timeout: float | None) -> int:
        lost_since = None
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._connect()
                lost_since, delay = None, 0.5
                ReadLoop(self, self._connection, self._cursor, max_events, idle_timeout).run()
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
        self.confirmed = max(self.confirmed, self.acknowledged)
        replication.prepare(
            self.config,
            checkpoint=self.acknowledged,
            # Where a sink found its checkpoint (a Redis stream's last ID), for the messages.
            checkpoint_source=getattr(self.sink, "checkpoint_source", None),
        )
        if self.snapshot is not None:
            self.snapshot.resume()
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
            # messages: the snapshot's watermarks (pg_logical_emit_message) come through too.
            options={
                "proto_version": "1",
                "publication_names": self.config.publication,
                "messages": "true",
            },
        )
        logger.info(
            "Streaming slot %s (publication %s) from %s",
            self.config.slot,
            self.config.publication,
            # 0: the sink keeps no position of its own (jsonl), or has stored nothing yet.
            format_lsn(self.acknowledged) if self.acknowledged else "where the slot left off",
        )

    def _disconnect(self) -> None:
        if self._connection is not None:
            with suppress(Exception):
                self._connection.close()
        if self.snapshot is not None:
            self.snapshot.close()
        self._connection = self._cursor = None
        # Django's connection may be broken too (a restarting server); open a new one next time.
        with suppress(Exception):
            connections[self.config.database].close()

    def key_columns(self, relation) -> tuple[str, ...]:
        return replication.primary_key_columns(self.config, relation.oid) or (
            replica_identity_columns(relation)
        )


class ReadLoop:
    """One replication connection's read loop, from the stream's position to a stop or a limit.

    Messages become transactions; committed transactions are added to a batch; a full batch (or
    one older than batch_seconds, or the end of what the server has sent) is handed over to the
    writer thread; what the writer has stored is acknowledged. A lost connection raises out of
    `run`, and the stream reconnects from what was acknowledged.
    """

    def __init__(self, stream: ChangeStream, connection, cursor, max_events, idle_timeout):
        self.stream = stream
        self.connection = connection
        self.cursor = cursor
        self.max_events = max_events
        self.idle_timeout = idle_timeout
        self.assembler = TransactionAssembler(key_columns=stream.key_columns)
        self.snapshot = stream.snapshot
        self.writer = BatchWriter(stream.sink, while_waiting=self.keep_alive)
        self.batch: list[Transaction] = []
        self.batch_events = 0
        self.batch_started = 0.0
        self.handed_events = 0
        self.handed_lsn = stream.acknowledged  # end of the last transaction handed over
        self.last_activity = self.last_progress = time.monotonic()

    def run(self) -> None:
        self.writer.start()
        try:
            while True:
                message = self.cursor.read_message()
                if message is None:
                    if self.wait_for_messages():
                        return
                    continue
                transaction = self.assembler.receive(message.payload, message.data_start)
                message = None  # a large payload goes now, not after the batch is encoded
                if transaction is None or transaction.end_lsn <= self.handed_lsn:
                    continue  # mid-transaction, or stored before a restart
                snapshot = self.snapshot
                if snapshot is not None and snapshot.observe(transaction):
                    snapshot.advance()  # the chunk is in hand: read the next one
                self.add(transaction)
                if self.stream.stopping or self.limit_reached():
                    self.finish()
                    return
                if (
                    self.batch_events >= self.stream.batch_events
                    or self.last_activity - self.batch_started >= self.stream.batch_seconds
                ):
                    self.hand_over()
                    self.acknowledge()
        except BaseException:
            # What is queued is complete: store it if the database still answers. Nothing more
            # is acknowledged (the connection may be gone); a reconnect resumes from the sink's
            # checkpoint.
            self.writer.while_waiting = lambda: None
            with suppress(BaseException):
                self.writer.finish()
            raise
        finally:
            self.stream.events += self.writer.stored_events

    def add(self, transaction: Transaction) -> None:
        """Add a committed transaction to the batch in hand."""
        if not self.batch:
            self.batch_started = time.monotonic()
        self.batch.append(transaction)
        self.batch_events += len(transaction.changes)
        self.last_activity = time.monotonic()

    def limit_reached(self) -> bool:
        if self.max_events is None:
            return False
        return self.stream.events + self.handed_events + self.batch_events >= self.max_events

    def hand_over(self) -> None:
        """Queue the batch in hand for the writer thread to store."""
        self.writer.put(self.batch)
        self.stream.batches += 1
        if self.stream.batches % COLLECT_EVERY_BATCHES == 0:
            gc.collect()
        self.handed_lsn = self.batch[-1].end_lsn
        self.handed_events += self.batch_events
        self.batch, self.batch_events = [], 0
        if self.snapshot is not None:
            self.snapshot.advance()

    def acknowledge(self) -> None:
        """Tell the server how far the sink has stored; report progress now and then."""
        writer, stream = self.writer, self.stream
        writer.raise_error()
        if writer.stored_lsn > stream.acknowledged:
            stream.acknowledged = writer.stored_lsn
            stream.confirmed = max(stream.confirmed, stream.acknowledged)
            self.cursor.send_feedback(flush_lsn=stream.acknowledged, force=True)
        now = time.monotonic()
        if stream.progress and now - self.last_progress >= stream.progress_interval:
            stored = stream.events + writer.stored_events
            stream.progress(stored, max(0, self.cursor.wal_end - stream.confirmed))
            self.last_progress = now

    def finish(self) -> None:
        """Store what is in hand, wait for the writer, acknowledge."""
        if self.batch:
            self.hand_over()
        self.writer.finish()
        self.acknowledge()

    def wait_for_messages(self) -> bool:
        """Nothing to read right now: store what is complete, then wait. True: time to stop."""
        if self.batch:
            self.hand_over()
        elif self.snapshot is not None:
            self.snapshot.advance()
        self.acknowledge()
        if self.stream.stopping or (
            self.idle_timeout is not None
            and time.monotonic() - self.last_activity >= self.idle_timeout
        ):
            self.finish()
            return True
        if not self.assembler.in_transaction and self.writer.stored_lsn == self.handed_lsn:
            # Everything up to the server's position is handled: let Postgres recycle that WAL
            # even while our tables are quiet (sent with the next status update).
            stream = self.stream
            stream.confirmed = max(stream.confirmed, self.cursor.wal_end)
            self.cursor.send_feedback(flush_lsn=stream.confirmed)
        select.select([self.connection], [], [], 1.0)
        return False

    def keep_alive(self) -> None:
        """While waiting for the writer: tell the server we are alive, so it keeps us."""
        self.cursor.send_feedback(force=True)

"""Snapshots: a table's existing rows, delivered as `read` changes in the stream's own order.

Why watermark chunks. A slot created with an exported snapshot gives one consistent read of
every table, but only when the slot is created, and only while one transaction stays open for
the whole read (holding back vacuum on a large table for as long). Reading in chunks interleaved
with the stream, as DBLog does (the algorithm behind Debezium's incremental snapshots), needs
neither: a table added later is snapshotted on a running slot, each chunk is a short
transaction, and a chunk is small enough to be held in memory and recorded as a step of its own.

One chunk, on a connection of its own (with the same session settings as the walsender, so that
values print alike), in one REPEATABLE READ transaction W:

1. `pg_current_snapshot()`: which transactions the chunk's read sees (S);
2. the next rows in primary key order: `WHERE (key) > (last key) ORDER BY key LIMIT n`;
3. `pg_logical_emit_message(true, 'changefeed.snapshot', <watermark>)`, then COMMIT.

The stream meanwhile goes on; W's message arrives inside W's own transaction, at W's place in
commit order. Every transaction S sees committed before W, so it came earlier in the stream; a
transaction S does not see but that the stream delivers before W changed a row after the chunk
read it, and its change goes out before W: those rows are dropped from the chunk (their change
event carries them). The remaining rows go out as W's changes, `read`, after everything the
chunk saw and before everything it did not: no gap, no overlap. Transactions are told apart by
their xid against S, exactly, rather than by their position between two watermarks, which commit
order and visibility order may disagree on by a hair. The one case where they do, a transaction
the stream already delivered that S does not see yet, is checked for and the chunk read again.

W's transaction then carries the chunk's SnapshotStep (table, last key, rows) to the sink, which
records it with the rows (the store: in the same database transaction as the events and the
checkpoint), so a restart resumes after the last chunk stored, exactly once. A chunk whose W was
not stored is read again: its watermark names a process and a counter, so a W resent from before
a crash or a reconnect carries nothing.
"""

import collections
import logging
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

import psycopg2
import psycopg2.extensions
from django.db import connections

from changefeed import replication
from changefeed.models import SnapshotProgress
from changefeed.replication import ChangeFeedError, ReplicationConfig, quote
from changefeed.sinks import Sink
from changefeed.stream import replication_dsn
from changefeed.transactions import WATERMARK_PREFIX, Change, SnapshotStep, Transaction
from changefeed.values import Converters, value_converters

logger = logging.getLogger(__name__)

# Transactions the stream delivered since the last chunk read, for the check that the next read
# sees them all: far more than commit in the instant commit and visibility order disagree over.
RECENT_TRANSACTIONS = 4096


@dataclass(frozen=True)
class TableShape:
    """What reading a table needs: its columns as the stream sends them, and its primary key."""

    name: str  # "schema.table", as Change.table_name
    sql_name: str  # quoted, for queries
    columns: tuple[str, ...]
    type_oids: tuple[int, ...]
    converters: Converters
    key_columns: tuple[str, ...]


def find_table(config: ReplicationConfig, table: str) -> tuple[str, str, int]:
    """Schema, name and OID of a table; a ChangeFeedError when there is none."""
    with connections[config.database].cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, c.relname, c.oid FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p')",
            [table],
        )
        row = cursor.fetchone()
    if row is None:
        raise ChangeFeedError(f"Table {table!r} does not exist in database {config.database!r}.")
    return row


def table_shape(config: ReplicationConfig, table: str) -> TableShape:
    """The table's shape; a ChangeFeedError naming it when it has no primary key."""
    schema, name, oid = find_table(config, table)
    with connections[config.database].cursor() as cursor:
        # The columns pgoutput sends, in its order (generated columns are not published).
        cursor.execute(
            "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
            "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
            [oid],
        )
        columns = cursor.fetchall()
    key_columns = replication.primary_key_columns(config, oid)
    if not key_columns:
        raise ChangeFeedError(
            f"Table {schema}.{name} has no primary key, which a snapshot needs (it reads the "
            f"table in key order): add one, or leave {schema}.{name} out of the snapshot."
        )
    return TableShape(
        name=f"{schema}.{name}",
        sql_name=f"{quote(schema)}.{quote(name)}",
        columns=tuple(column for column, _ in columns),
        type_oids=tuple(type_oid for _, type_oid in columns),
        converters=value_converters(type_oid for _, type_oid in columns),
        key_columns=key_columns,
    )


def request_snapshots(config: ReplicationConfig, tables, only_new: bool = False) -> list[str]:
    """Ask for snapshots of `tables` (of the change feed's tables), which the consumer runs;
    `only_new`: of those never snapshotted for this slot. Returns the qualified names."""
    published = {table.replace('"', "") for table in replication.resolve_tables(config)}
    names = []
    for table in tables:
        schema, name, _ = find_table(config, table)
        if f"{schema}.{name}" not in published:
            raise ChangeFeedError(
                f"Table {schema}.{name} is not one of the change feed's tables: add it to "
                "CHANGEFEED_TABLES (or --tables) first."
            )
        names.append(table_shape(config, table).name)  # refuses a table without a primary key
    progress = SnapshotProgress.objects.using(config.database)
    if only_new:
        known = set(progress.filter(slot=config.slot).values_list("table_name", flat=True))
        names = [name for name in names if name not in known]
    progress.request(config.slot, names)
    return names


def _text_output(value, cursor):
    return value


class VisibleTransactions:
    """A pg_current_snapshot() ('xmin:xmax:xip,...', 64-bit ids): which transactions it sees."""

    def __init__(self, text: str):
        xmin, xmax, xip = text.split(":")
        self.xmin, self.xmax = int(xmin), int(xmax)
        self.in_progress = {int(xid) for xid in xip.split(",") if xid}

    def sees(self, xid: int) -> bool:
        """Whether a transaction the stream names by its 32-bit xid committed before."""
        full = (self.xmax & ~0xFFFFFFFF) | xid  # the stream's xids wrap; the snapshot's don't
        if full > self.xmax + 2**31:
            full -= 2**32
        return full < self.xmin or (full < self.xmax and full not in self.in_progress)


@dataclass
class TableSnapshot:
    """One table's snapshot under way: where it stands in this process."""

    shape: TableShape
    generation: int
    last_key: list | None
    rows: int
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    rows_at_start: int = 0


@dataclass
class Chunk:
    """A chunk read and waiting for its watermark to come through the stream."""

    table: TableSnapshot
    watermark: str
    visible: VisibleTransactions
    rows: list[tuple[tuple, dict]]  # (key, row)
    last_key: list | None
    done: bool
    changed: set[tuple] = field(default_factory=set)  # keys changed by what S does not see
    truncated: bool = False


class Snapshotter:
    """Runs the slot's requested snapshots, chunk by chunk, inside the stream's read loop.

    The loop calls `observe` with each transaction, and `advance` whenever it may read the next
    chunk; `resume` on every (re)connection, to start again from what the sink
    recorded.
    """

    def __init__(
        self,
        config: ReplicationConfig,
        sink: Sink,
        *,
        chunk_rows: int = 5000,
        poll_interval: float = 1.0,
        progress: Callable[[str, int, int, float, bool], None] | None = None,
        progress_interval: float = 5.0,
    ):
        self.config = config
        self.sink = sink
        self.chunk_rows = chunk_rows
        self.poll_interval = poll_interval
        self.progress = progress
        self.progress_interval = progress_interval
        self.rows = 0  # read changes handed over by this process
        self._process = uuid.uuid4().hex[:12]
        self._chunks = 0
        self._tables: list[TableSnapshot] = []  # the first is the one being read
        self._finished: set[tuple[str, int]] = set()  # (table, generation) done in this process
        self._chunk: Chunk | None = None
        self._recent = collections.deque(maxlen=RECENT_TRANSACTIONS)
        self._connection = None
        self._polled = self._reported = 0.0

    def resume(self) -> None:
        """Forget what is in memory; take the requests and the sink's record afresh."""
        self.close()
        self._tables, self._finished, self._chunk = [], set(), None
        self._recent.clear()
        self._poll()

    def close(self) -> None:
        if self._connection is not None:
            with suppress(psycopg2.Error):
                self._connection.close()
            self._connection = None

    def observe(self, transaction: Transaction) -> bool:
        """Look at a transaction of the stream; True when it completed a chunk."""
        chunk = self._chunk
        self._recent.append(transaction.xid)
        if chunk is None:
            return False
        if transaction.watermark == chunk.watermark:
            self._complete(chunk, transaction)
            return True
        if not chunk.visible.sees(transaction.xid):
            name = chunk.table.shape.name
            for change in transaction.changes:
                if change.table_name == name:
                    self._note_change(chunk, change)
        return False

    def advance(self) -> None:
        """Poll for new requests now and then; read the next chunk if none is under way."""
        now = time.monotonic()
        if now - self._polled >= self.poll_interval:
            self._poll()
        if self._chunk is None and self._tables:
            self._read_chunk(self._tables[0])
        if self.progress and self._tables and now - self._reported >= self.progress_interval:
            self._report(self._tables[0])

    # Requests

    def _poll(self) -> None:
        self._polled = time.monotonic()
        requested = (
            SnapshotProgress.objects.using(self.config.database)
            .filter(slot=self.config.slot)
            .order_by("requested_at", "id")
            .values_list("table_name", "generation")
        )
        steps = None
        known = {(table.shape.name, table.generation): table for table in self._tables}
        tables = []
        for name, generation in requested:
            if (name, generation) in self._finished:
                continue
            table = known.get((name, generation))
            if table is None:
                if steps is None:
                    steps = self.sink.snapshot_steps()
                table = self._table(name, generation, steps.get(name))
            if table is not None:
                tables.append(table)
        if self._chunk is not None and (not tables or tables[0] is not self._chunk.table):
            self._chunk = None  # its table was requested again: its watermark will carry nothing
        self._tables = tables

    def _table(self, name: str, generation: int, step: SnapshotStep | None):
        """A table to snapshot, from the sink's last step of this request, if any."""
        if step is not None and step.generation == generation:
            if step.done:
                self._finished.add((name, generation))
                return None
            last_key, rows = step.last_key, step.rows
        else:
            last_key, rows = None, 0
        shape = table_shape(self.config, name)
        table = TableSnapshot(shape, generation, last_key, rows, rows_at_start=rows)
        table.total = self._estimate_rows(shape)
        logger.info(
            "Snapshot of %s: %s",
            name,
            f"resuming after {rows} rows" if rows else "starting",
        )
        return table

    # Chunks

    def _cursor(self):
        if self._connection is None or self._connection.closed:
            # The walsender's connection parameters, so that values print with its settings
            # (TimeZone, DateStyle...) and compare equal to the stream's.
            self._connection = psycopg2.connect(replication_dsn(self.config.database))
            self._connection.set_session(isolation_level="REPEATABLE READ")
        return self._connection.cursor()

    def _estimate_rows(self, shape: TableShape) -> int:
        with self._cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [shape.sql_name]
            )
            (estimate,) = cursor.fetchone()
            if estimate <= 0:  # never analyzed
                cursor.execute(f"SELECT count(*) FROM {shape.sql_name}")  # noqa: S608 (quoted)
                (estimate,) = cursor.fetchone()
        self._connection.commit()
        return estimate

    def _read_chunk(self, table: TableSnapshot) -> None:
        shape = table.shape
        self._chunks += 1
        watermark = f"{self.config.slot} {self._process} {self._chunks}"
        keys = ", ".join(map(quote, shape.key_columns))
        where = ""
        if table.last_key is not None:
            where = f"WHERE ({keys}) > ({', '.join(['%s'] * len(shape.key_columns))})"
        columns = ", ".join(map(quote, shape.columns))
        # Identifiers from the catalog, quoted; values as parameters.
        query = f"SELECT {columns} FROM {shape.sql_name} {where} ORDER BY {keys} LIMIT %s"  # noqa: S608
        with self._cursor() as cursor:
            # Each value as its type's text output, as pgoutput sends it: psycopg2 would make
            # Python values of some types (bool, timestamps...).
            made_into_python = tuple(
                oid
                for oid in shape.type_oids
                if getattr(psycopg2.extensions.string_types.get(oid), "name", "STRING") != "STRING"
            )
            if made_into_python:
                psycopg2.extensions.register_type(
                    psycopg2.extensions.new_type(made_into_python, "TEXT_OUTPUT", _text_output),
                    cursor,
                )
            cursor.execute("SELECT pg_current_snapshot()::text")
            visible = VisibleTransactions(cursor.fetchone()[0])
            cursor.execute(query, [*(table.last_key or ()), self.chunk_rows])
            fetched = cursor.fetchall()
            cursor.execute(
                "SELECT pg_logical_emit_message(true, %s, %s)", [WATERMARK_PREFIX, watermark]
            )
        self._connection.commit()
        if not all(map(visible.sees, self._recent)):
            # Delivered by the stream, yet not visible to the read: the chunk may lack its
            # change. Read it again (W's watermark will carry nothing).
            logger.debug("Snapshot chunk of %s read again: visibility lagged commit", shape.name)
            return
        self._recent.clear()  # all seen by this read, so by every later one
        self._chunk = Chunk(
            table,
            watermark,
            visible,
            self._rows(shape, fetched),
            last_key=list(fetched[-1][i] for i in self._key_indexes(shape)) if fetched else None,
            done=len(fetched) < self.chunk_rows,
        )

    @staticmethod
    def _key_indexes(shape: TableShape) -> list[int]:
        return [shape.columns.index(column) for column in shape.key_columns]

    def _rows(self, shape: TableShape, fetched: list[tuple]) -> list[tuple[tuple, dict]]:
        """(key, row) pairs, the values converted as the stream converts them."""
        converted = [(i, convert) for i, convert in enumerate(shape.converters) if convert]
        key_indexes = self._key_indexes(shape)
        columns = shape.columns
        rows = []
        for values in fetched:
            if converted:
                values = list(values)
                for i, convert in converted:
                    if values[i] is not None:
                        values[i] = convert(values[i])
            rows.append(
                (tuple([values[i] for i in key_indexes]), dict(zip(columns, values, strict=True)))
            )
        return rows

    def _note_change(self, chunk: Chunk, change: Change) -> None:
        """A change the chunk's read did not see, delivered before the chunk: the row it
        touched leaves the chunk (its change event carries it)."""
        if change.operation == "truncate":
            chunk.truncated = True
            return
        if change.primary_key:
            chunk.changed.add(tuple(change.primary_key.values()))
        if change.old:  # an update of the key: the old key too
            key = tuple(change.old.get(column) for column in chunk.table.shape.key_columns)
            chunk.changed.add(key)

    def _complete(self, chunk: Chunk, transaction: Transaction) -> None:
        """Make the watermark's transaction carry the chunk: its rows as `read` changes, and
        the step the sink records with them."""
        self._chunk = None
        table = chunk.table
        name = table.shape.name
        rows = chunk.rows
        if chunk.truncated:
            rows = []
        elif chunk.changed:
            rows = [row for row in rows if row[0] not in chunk.changed]
        keys = table.shape.key_columns
        lsn = transaction.commit_lsn
        start = len(transaction.changes)  # W changes no rows of its own: 0
        transaction.changes.extend(
            Change(lsn, position, name, "read", dict(zip(keys, key, strict=True)), None, row, [])
            for position, (key, row) in enumerate(rows, start=start)
        )
        if chunk.last_key is not None:
            table.last_key = chunk.last_key
        table.rows += len(rows)
        self.rows += len(rows)
        transaction.snapshot = SnapshotStep(
            name, table.generation, table.last_key, table.rows, chunk.done
        )
        if chunk.done:
            self._tables.remove(table)
            self._finished.add((name, table.generation))
            logger.info("Snapshot of %s: %d rows, done", name, table.rows)
            if self.progress:
                self._report(table, done=True)

    def _report(self, table: TableSnapshot, done: bool = False) -> None:
        """Rows, rows per second and the estimated total, for the time left."""
        self._reported = time.monotonic()
        elapsed = self._reported - table.started
        rate = (table.rows - table.rows_at_start) / elapsed if elapsed > 0 else 0.0
        self.progress(table.shape.name, table.rows, table.total, rate, done)

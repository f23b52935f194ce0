"""How a change is written as JSON, for the sinks that write JSON (jsonl, redis).

Two formats, each one JSON object per change:

- `feed` (the default): the transaction's fields (slot, commit_lsn, xid, commit_time) followed
  by the Change's (lsn, position, table_name, operation, primary_key, old, new,
  unchanged_toast), named as ChangeEvent's.
- `debezium`: Debezium's change event envelope (with JSON schemas off), so that consumers written
  for Debezium's PostgreSQL connector read the feed unchanged: `before`, `after`, `source`, `op`,
  `ts_ms`. As Debezium does, an unchanged TOASTed column is in `after` with the placeholder
  UNAVAILABLE_VALUE, never null (null is a value); a truncation has no row and no key.
"""

import time
from collections.abc import Sequence

import orjson

from changefeed.transactions import Change, Transaction
from changefeed.values import dumps

FORMATS = ("feed", "debezium")
#: Debezium's placeholder for a TOASTed value Postgres did not send (unavailable.value.placeholder).
UNAVAILABLE_VALUE = "__debezium_unavailable_value"
DEBEZIUM_OPERATIONS = {"insert": "c", "update": "u", "delete": "d", "truncate": "t", "read": "r"}


def feed_parts(slot: str, tx: Transaction) -> tuple[bytes, list[bytes]]:
    """The transaction's changes in the feed's own format, in parts: a head, then per change a
    body; each change's object is the head followed by its body past the body's first byte."""
    # orjson writes a Change (a dataclass) as an object of its fields. The transaction's fields
    # are written once and go in front of each: '{"slot":...,' + '"lsn":...}'.
    head = orjson.dumps(
        {
            "slot": slot,
            "commit_lsn": tx.commit_lsn,
            "xid": tx.xid,
            "commit_time": tx.commit_time.isoformat(),
        }
    )
    return head[:-1] + b",", [dumps(change) for change in tx.changes]


def feed_objects(slot: str, tx: Transaction) -> list[bytes]:
    """The transaction's changes in the feed's own format, one JSON object each."""
    head, bodies = feed_parts(slot, tx)
    # A memoryview: no copy of a large body before it is joined to the head.
    return [head + memoryview(body)[1:] for body in bodies]


class DebeziumEnvelope:
    """Debezium's envelope for the changes of one slot of one database.

    `source.name` (Debezium's topic prefix) is the slot's name; `ts_ms` is when the change was
    encoded, `source.ts_ms` when its transaction committed, as in Debezium.
    """

    def __init__(self, slot: str, database: str):
        self.slot = slot
        self.database = database

    def objects(self, tx: Transaction, now_ms: int | None = None) -> list[bytes]:
        """The transaction's changes as Debezium envelopes, one JSON object each."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        commit_ms = int(tx.commit_time.timestamp() * 1000)
        return [
            dumps(
                {
                    "before": change.old,
                    "after": self.after(change),
                    "source": self.source(tx, change, commit_ms),
                    "op": DEBEZIUM_OPERATIONS[change.operation],
                    "ts_ms": now_ms,
                    "transaction": None,
                }
            )
            for change in tx.changes
        ]

    @staticmethod
    def after(change: Change) -> dict | None:
        if not change.unchanged_toast:
            return change.new
        return {**change.new, **dict.fromkeys(change.unchanged_toast, UNAVAILABLE_VALUE)}

    def source(self, tx: Transaction, change: Change, commit_ms: int) -> dict:
        schema, _, table = change.table_name.partition(".")
        return {
            "connector": "postgresql",
            "name": self.slot,
            "ts_ms": commit_ms,
            # A snapshot's rows are read in chunks between the stream's changes, as Debezium's
            # incremental snapshots are, and say so as they do.
            "snapshot": "incremental" if change.operation == "read" else "false",
            "db": self.database,
            "schema": schema,
            "table": table,
            "txId": tx.xid,
            "lsn": change.lsn,
            "xmin": None,
        }

    @staticmethod
    def key(change: Change) -> bytes | None:
        """Debezium's record key: the primary key as an object (None for a truncation)."""
        return None if change.primary_key is None else dumps(change.primary_key)


def json_lines(objects_of, transactions: Sequence[Transaction]) -> list:
    """The transactions' changes as JSON lines, in pieces to write one after the other, given a
    function from a transaction to its objects."""
    pieces = []
    for tx in transactions:
        for line in objects_of(tx):
            pieces += (line, b"\n")
    return pieces


def feed_lines(slot: str, transactions: Sequence[Transaction]) -> list:
    """json_lines in the feed's format, without joining each head and body: a large value is
    held once as text and once as JSON, never copied again on its way out."""
    pieces = []
    for tx in transactions:
        head, bodies = feed_parts(slot, tx)
        for body in bodies:
            pieces += (head, memoryview(body)[1:], b"\n")
    return pieces

"""How a change is written as JSON, for the sinks that write JSON (jsonl, redis).

Two formats, each one JSON object per change (a dict, which `json_lines` and `json_objects` turn
into JSON a whole batch at a time):

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


def feed_objects(slot: str, transactions: Sequence[Transaction]) -> list[dict]:
    """The transactions' changes in the feed's own format, one dict each: the transaction's
    fields, then the Change's."""
    objects = []
    for tx in transactions:
        commit_lsn, xid, commit_time = tx.commit_lsn, tx.xid, tx.commit_time.isoformat()
        objects += [
            {
                "slot": slot,
                "commit_lsn": commit_lsn,
                "xid": xid,
                "commit_time": commit_time,
                "lsn": change.lsn,
                "position": change.position,
                "table_name": change.table_name,
                "operation": change.operation,
                "primary_key": change.primary_key,
                "old": change.old,
                "new": change.new,
                "unchanged_toast": change.unchanged_toast,
            }
            for change in tx.changes
        ]
    return objects


class DebeziumEnvelope:
    """Debezium's envelope for the changes of one slot of one database.

    `source.name` (Debezium's topic prefix) is the slot's name; `ts_ms` is when the change was
    encoded, `source.ts_ms` when its transaction committed, as in Debezium.
    """

    def __init__(self, slot: str, database: str):
        self.slot = slot
        self.database = database

    def objects(self, transactions: Sequence[Transaction], now_ms: int | None = None) -> list:
        """The transactions' changes as Debezium envelopes, one dict each."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        objects = []
        for tx in transactions:
            commit_ms = int(tx.commit_time.timestamp() * 1000)
            objects += [
                {
                    "before": change.old,
                    "after": self.after(change),
                    "source": self.source(tx, change, commit_ms),
                    "op": DEBEZIUM_OPERATIONS[change.operation],
                    "ts_ms": now_ms,
                    "transaction": None,
                }
                for change in tx.changes
            ]
        return objects

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


# A raw line break. orjson escapes every line break inside a string, and json values have theirs
# replaced (changefeed.values), so in its output a raw one can only be this separator: a batch is
# written in one orjson call, and each change's JSON is found in it without parsing. A call per
# change would cost more than the encoding itself: each output is an allocation of its own.
_SEPARATOR = orjson.Fragment(b"\n")
# Past this size, a batch's lines are written as views of orjson's output rather than copied.
_LARGE_OUTPUT = 1 << 24


def _separated_json(objects: list) -> bytes:
    """The objects' JSON in one orjson call, a separator between each two: '[a,\\n,b]'."""
    items = [_SEPARATOR] * (2 * len(objects) - 1)
    items[::2] = objects
    out = dumps(items)
    if out.count(b",\n,") != len(objects) - 1:  # cheap, and a broken line would go unnoticed
        raise AssertionError(f"a raw line break in the JSON of {len(objects)} objects")
    return out


def json_lines(objects: list) -> list:
    """The objects as JSON lines, in pieces to write one after the other."""
    if not objects:
        return []
    out = _separated_json(objects)
    if len(out) < _LARGE_OUTPUT:
        return [out[1:-1].replace(b",\n,", b"\n"), b"\n"]
    # A large value is held once as text and once as JSON, never copied again on its way out.
    view, pieces, start = memoryview(out), [], 1
    while (end := out.find(b",\n,", start)) != -1:
        pieces += (view[start:end], b"\n")
        start = end + 3
    pieces += (view[start:-1], b"\n")
    return pieces


def json_objects(objects: list) -> list[bytes]:
    """The objects' JSON, one bytes each."""
    if not objects:
        return []
    return _separated_json(objects)[1:-1].split(b",\n,")

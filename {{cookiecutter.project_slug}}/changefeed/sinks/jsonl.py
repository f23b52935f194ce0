"""The jsonl sink: one JSON object per change, on stdout, for piping into other tools."""

import sys
from collections.abc import Sequence

import orjson

from changefeed.models import SnapshotProgress
from changefeed.transactions import SnapshotStep, Transaction


class JsonlSink:
    """One JSON object per change on stdout, for piping into other tools.

    At-least-once: the slot itself is the checkpoint, acknowledged once the lines are flushed,
    so a crash between the flush and the acknowledgement repeats those lines on restart. Snapshot
    progress is recorded in the database right after the flush: at least once too.
    """

    def __init__(self, slot: str, stream=None, database: str = "default"):
        self.slot = slot
        self.database = database
        self.stream = stream or sys.stdout
        # orjson makes UTF-8 bytes: give them to the text stream's binary buffer when it has one
        # (stdout has), rather than decoding each line for the text layer to encode it again.
        self.stream.flush()
        self.buffer = getattr(self.stream, "buffer", None)

    def checkpoint(self) -> int:
        return 0  # Postgres resumes from the slot's confirmed position.

    def snapshot_steps(self) -> dict[str, SnapshotStep]:
        return SnapshotProgress.objects.using(self.database).steps(self.slot)

    def encode(self, transactions: Sequence[Transaction]) -> bytes:
        lines = []
        for tx in transactions:
            # orjson writes a Change (a dataclass) as an object of its fields. The transaction's
            # fields are written once and go in front of each: '{"slot":...,' + '"lsn":...}'.
            head = orjson.dumps(
                {
                    "slot": self.slot,
                    "commit_lsn": tx.commit_lsn,
                    "xid": tx.xid,
                    "commit_time": tx.commit_time.isoformat(),
                }
            )
            head = head[:-1] + b","
            lines.extend(
                head + orjson.dumps(change, option=orjson.OPT_APPEND_NEWLINE)[1:]
                for change in tx.changes
            )
        return b"".join(lines)

    def write(self, transactions: Sequence[Transaction], lines: bytes) -> None:
        if self.buffer is not None:
            self.buffer.write(lines)
            self.buffer.flush()
        else:
            self.stream.write(lines.decode())
            self.stream.flush()
        steps = [tx.snapshot for tx in transactions if tx.snapshot is not None]
        if steps:
            SnapshotProgress.objects.using(self.database).record(self.slot, steps)

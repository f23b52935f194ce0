"""The jsonl sink: one JSON object per change, on stdout, for piping into other tools."""

import sys
from collections.abc import Sequence

from changefeed.envelopes import DebeziumEnvelope, feed_objects, json_lines
from changefeed.models import SnapshotProgress
from changefeed.transactions import SnapshotStep, Transaction


class JsonlSink:
    """One JSON object per change on stdout, in the feed's format or Debezium's
    (changefeed.envelopes), for piping into other tools.

    At-least-once: the slot itself is the checkpoint, acknowledged once the lines are flushed,
    so a crash between the flush and the acknowledgement repeats those lines on restart. Snapshot
    progress is recorded in the database right after the flush: at least once too.
    """

    def __init__(
        self,
        slot: str,
        stream=None,
        envelope: DebeziumEnvelope | None = None,
        database: str = "default",
    ):
        self.slot = slot
        self.database = database
        self.stream = stream or sys.stdout
        self.envelope = envelope
        # orjson makes UTF-8 bytes: give them to the text stream's binary buffer when it has one
        # (stdout has), rather than decoding each line for the text layer to encode it again.
        self.stream.flush()
        self.buffer = getattr(self.stream, "buffer", None)

    def checkpoint(self) -> int:
        return 0  # Postgres resumes from the slot's confirmed position.

    def snapshot_steps(self) -> dict[str, SnapshotStep]:
        return SnapshotProgress.objects.using(self.database).steps(self.slot)

    def encode(self, transactions: Sequence[Transaction]) -> list:
        if self.envelope is not None:
            return json_lines(self.envelope.objects(transactions))
        return json_lines(feed_objects(self.slot, transactions))

    def write(self, transactions: Sequence[Transaction], pieces: list) -> None:
        if self.buffer is not None:
            self.buffer.writelines(pieces)
            self.buffer.flush()
        else:
            self.stream.write(b"".join(pieces).decode())
            self.stream.flush()
        steps = [tx.snapshot for tx in transactions if tx.snapshot is not None]
        if steps:
            SnapshotProgress.objects.using(self.database).record(self.slot, steps)

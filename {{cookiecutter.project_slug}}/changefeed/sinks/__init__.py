"""Where transactions go once they are complete: the Sink protocol, and the sinks.

A sink works in two steps. `encode(transactions)` turns a batch into what the sink writes; it is
CPU work and runs on the stream's thread. `write(transactions, encoded)` is I/O, on the writer's
thread, and returns only when the batch is safe; the stream then acknowledges the batch's last
commit to Postgres, which may recycle that WAL. (Split so, the writer's thread waits on I/O without
holding Python's GIL, and the stream keeps decoding meanwhile instead of taking turns with it.)
`checkpoint()` says where the sink's own records end, so a restart can skip what it already has.

Snapshots (changefeed.snapshot) add one duty and one method. A snapshot chunk arrives as a
transaction whose changes are `read` rows and whose `snapshot` is a SnapshotStep (table, last
primary key, rows so far, done): `write` records the steps of its batch as atomically with the batch
as the sink can, and `snapshot_steps()` gives them back, so that a restart resumes each table's
snapshot after the last chunk the sink holds. The store sink records them in the same database
transaction as the events (exactly once); the jsonl sink right after flushing its lines (at least
once, as its stream); a sink with a store of its own (a Redis stream, say) would keep them there,
written in the same MULTI/EXEC as the chunk's entries, and return them from `snapshot_steps`.
"""

from collections.abc import Sequence
from typing import Any, Protocol

from changefeed.transactions import SnapshotStep, Transaction


class SinkStopped(Exception):
    """A sink gave up waiting for its backend (Redis, down) because the consumer was asked to
    stop: what the backend did not answer for was not acknowledged, and a restart retries it."""


class Sink(Protocol):
    def checkpoint(self) -> int:
        """End LSN of the last transaction the sink holds (0: it keeps no record of its own,
        and Postgres resumes from the slot's confirmed position)."""
        ...

    def snapshot_steps(self) -> dict[str, SnapshotStep]:
        """The last SnapshotStep the sink recorded per table (see above)."""
        ...

    def encode(self, transactions: Sequence[Transaction]) -> Any:
        """What `write` writes, made on the stream's thread."""
        ...

    def write(self, transactions: Sequence[Transaction], encoded: Any) -> None:
        """Make the batch safe, with its transactions' SnapshotSteps; return only once it is
        (on the writer's thread)."""
        ...

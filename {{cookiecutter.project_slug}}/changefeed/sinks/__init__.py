"""Where transactions go once they are complete: the Sink protocol, and the sinks.

A sink works in two steps. `encode(transactions)` turns a batch into what the sink writes; it is
CPU work and runs on the stream's thread. `write(transactions, encoded)` is I/O, on the writer's
thread, and returns only when the batch is safe; the stream then acknowledges the batch's last
commit to Postgres, which may recycle that WAL. (Split so, the writer's thread waits on I/O without
holding Python's GIL, and the stream keeps decoding meanwhile instead of taking turns with it.)
`checkpoint()` says where the sink's own records end, so a restart can skip what it already has.
"""

from collections.abc import Sequence
from typing import Any, Protocol

from changefeed.transactions import Transaction


class Sink(Protocol):
    def checkpoint(self) -> int:
        """End LSN of the last transaction the sink holds (0: it keeps no record of its own,
        and Postgres resumes from the slot's confirmed position)."""
        ...

    def encode(self, transactions: Sequence[Transaction]) -> Any:
        """What `write` writes, made on the stream's thread."""
        ...

    def write(self, transactions: Sequence[Transaction], encoded: Any) -> None:
        """Make the batch safe; return only once it is (on the writer's thread)."""
        ...

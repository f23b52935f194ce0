"""Stores batches on a thread of its own, so that decoding the next batch overlaps the database's
work on this one (and a slow handler does not stop the stream from answering the server).

Each batch is encoded for its sink on the stream's thread before it is queued: that is CPU work,
which holds Python's GIL anyway, while this thread mostly waits on I/O, which releases it."""

import queue
import threading
from collections.abc import Callable

from django.db import connections

from changefeed.sinks import Sink
from changefeed.transactions import Transaction

# How often a waiting stream runs its `while_waiting` callback: well inside any timeout of the
# server's (the stream tells the server it is alive).
WAIT_SECONDS = 0.5


class BatchWriter(threading.Thread):
    """Hands batches to a sink in order; `stored_lsn` is the end of the last one it made safe.

    The stream acknowledges only `stored_lsn`, never what is merely queued. The sink runs on
    this thread, with this thread's own Django connection. Whoever waits for this thread (to
    queue a batch, or to finish) has `while_waiting` called every WAIT_SECONDS meanwhile.
    """

    def __init__(self, sink: Sink, while_waiting: Callable[[], None], max_queued: int = 2):
        super().__init__(name="changefeed-writer", daemon=True)
        self.sink = sink
        self.while_waiting = while_waiting
        self.stored_lsn = 0
        self.stored_events = 0
        self.error: BaseException | None = None
        self._queue: queue.Queue[tuple[list[Transaction], object] | None] = queue.Queue(
            maxsize=max_queued
        )

    def run(self):
        try:
            while (item := self._queue.get()) is not None:
                batch, encoded = item
                self.sink.write(batch, encoded)
                self.stored_events += sum(len(tx.changes) for tx in batch)
                self.stored_lsn = batch[-1].end_lsn  # last: the main thread reads it unlocked
        except BaseException as error:  # noqa: BLE001 (handed to the main thread, which raises it)
            self.error = error
        finally:
            connections.close_all()  # this thread's connections only

    def put(self, batch: list[Transaction]) -> None:
        """Encode and queue a batch."""
        item = (batch, self.sink.encode(batch))
        while True:
            self.raise_error()
            try:
                self._queue.put(item, timeout=WAIT_SECONDS)
                return
            except queue.Full:
                self.while_waiting()

    def finish(self) -> None:
        """Store everything queued, then stop; raises what the sink raised, if anything."""
        self.while_waiting()
        while self.is_alive():
            try:
                self._queue.put(None, timeout=WAIT_SECONDS)
                break
            except queue.Full:
                self.while_waiting()
        while self.is_alive():
            self.join(timeout=WAIT_SECONDS)
            self.while_waiting()
        self.raise_error()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

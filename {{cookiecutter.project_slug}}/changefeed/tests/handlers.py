"""Handlers the tests pass to consume_changes --handler."""

import os
import time
import weakref

from django.db import connection


def count_changes(transaction):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO handled (handler, xid, changes) VALUES ('count_changes', %s, %s)",
            [transaction.xid, len(transaction.changes)],
        )


def count_inserts(transaction):
    inserts = sum(change.operation == "insert" for change in transaction.changes)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO handled (handler, xid, changes) VALUES ('count_inserts', %s, %s)",
            [transaction.xid, inserts],
        )


def fail(transaction):
    count_changes(transaction)
    raise RuntimeError("handler refused the transaction")


def slow(transaction):
    """Outlasts the wal_sender_timeout the fault tests set (2 s)."""
    time.sleep(5)


class _Cycle:
    def __init__(self):
        self.me = self  # only the cycle collector can free this


_CYCLES_ALIVE = weakref.WeakSet()


def leave_a_cycle(transaction):
    """Leaves a reference cycle behind, and records how many such cycles are still alive."""
    _CYCLES_ALIVE.add(_Cycle())
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO cycles (alive) VALUES (%s)", [len(_CYCLES_ALIVE)])


def record_read(transaction):
    """read_changes: records which reader process handled each change (HANG=1: hangs instead,
    as a reader stuck on an entry)."""
    if os.environ.get("HANG") == "1":
        time.sleep(3600)
    with connection.cursor() as cursor:
        for change in transaction.changes:
            cursor.execute(
                "INSERT INTO read_changes (pid, xid, operation, row_id) VALUES (%s, %s, %s, %s)",
                [os.getpid(), transaction.xid, change.operation, change.primary_key["id"]],
            )

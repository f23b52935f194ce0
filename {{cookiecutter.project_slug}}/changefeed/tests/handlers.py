"""Handlers the tests pass to consume_changes --handler."""

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

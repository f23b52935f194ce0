"""Handlers the tests pass to consume_changes --handler."""

import time

from django.db import connection


def count_changes(transaction):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO handled (xid, changes) VALUES (%s, %s)",
            [transaction.xid, len(transaction.changes)],
        )


def fail(transaction):
    count_changes(transaction)
    raise RuntimeError("handler refused the transaction")


def slow(transaction):
    """Outlasts the wal_sender_timeout the fault tests set (2 s)."""
    time.sleep(5)

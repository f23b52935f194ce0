"""Source databases for the change feed tests (a copy of a migrated template, with the tests' own
table), and helpers to run the consumer against them.

The consumer runs as a real `manage.py` process (so it can be stopped, SIGTERMed and SIGKILLed);
the tests write with their own psycopg2 connection, as any other client of the database would.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager

import psycopg2
import psycopg2.extras

from tests.django_commands import PROJECT, database_environment, database_url
from tests.postgres import temporary_database

# The table the tests change and the consumer reads: the tests' own, so that they do not depend on
# any app of the project (the sample `items` app can be deleted).
TABLE = "source_rows"
CREATE_TABLE = f"""
CREATE TABLE {TABLE} (
    id uuid PRIMARY KEY,
    title text NOT NULL,
    notes text NOT NULL,
    done boolean NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
)
"""


def manage_environment(server, name):
    """The consumer's environment: both aliases on database `name`, and a slot of its own."""
    return {
        **os.environ,
        **database_environment({**server, "NAME": name}, skip_ddlx=True),
        # Slots are per server, not per database: each test database gets its own names.
        "CHANGEFEED_SLOT": name,
        "CHANGEFEED_PUBLICATION": name,
        "CHANGEFEED_TABLES": TABLE,
    }


@contextmanager
def migrated_template(server):
    """A migrated database with the tests' table, for each test's database to be copied from
    (fast: no migrate each)."""
    name = f"changefeed_template_{uuid.uuid4().hex[:8]}"
    with temporary_database(server, name):
        # --skip-checks: CHANGEFEED_TABLES names the tests' table, which no model provides, so
        # changefeed.E001 would refuse it (consume_changes itself runs no system checks).
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--database=proxy", "--skip-checks"],
            cwd=PROJECT,
            env=manage_environment(server, name),
            check=True,
            capture_output=True,
        )
        connection = psycopg2.connect(database_url({**server, "NAME": name}))
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute(CREATE_TABLE)
        finally:
            connection.close()
        yield name


@contextmanager
def source_database(server, template):
    name = f"source_{uuid.uuid4().hex[:12]}"
    with temporary_database(server, name, template=template):
        database = SourceDatabase(server, name)
        try:
            yield database
        finally:
            database.close()


class SourceDatabase:
    """A test's database and slot, the test's connection to it, and the consumers run on it."""

    def __init__(self, server, name):
        self.server = server
        self.name = self.slot_name = name
        self.env = manage_environment(server, name)
        self.processes = []
        self.reconnect()

    def reconnect(self):
        """A new connection for the test's own queries (after a server restart, say)."""
        self.connection = psycopg2.connect(self.url())
        self.connection.autocommit = True

    def url(self, user=None, password=None):
        """This database's URL, as the server's user or as `user` with `password`."""
        server = (
            self.server if user is None else {**self.server, "USER": user, "PASSWORD": password}
        )
        return database_url({**server, "NAME": self.name})

    def sql(self, query, params=None):
        if self.connection.closed:
            self.reconnect()
        with self.connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else None

    def transaction(self, *statements):
        """Run statements in one transaction; returns what RETURNING clauses gave back."""
        results = []
        with self.connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
            cursor.execute("BEGIN")
            for query, *params in statements:
                cursor.execute(query, params[0] if params else None)
                if cursor.description:
                    results.extend(cursor.fetchall())
            cursor.execute("COMMIT")
        return results

    def events(self):
        return self.sql(
            "SELECT lsn, commit_lsn, position, xid, table_name, operation, primary_key, old, "
            "new, unchanged_toast FROM changefeed_changeevent ORDER BY id"
        )

    def checkpoint(self):
        rows = self.sql("SELECT lsn FROM changefeed_checkpoint WHERE slot = %s", [self.slot_name])
        return rows[0]["lsn"] if rows else None

    def slot(self, name=None):
        rows = self.sql(
            "SELECT active_pid, pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::bigint AS confirmed "
            "FROM pg_replication_slots WHERE slot_name = %s",
            [name or self.slot_name],
        )
        return rows[0] if rows else None

    def manage(self, *args, env=None, timeout=120):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args, env=None):
        process = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT,
            env={**self.env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def wait_for(self, condition, timeout=60, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        # A database with replication slots cannot be dropped; a just-killed consumer's
        # walsender may hold its slot for a moment.
        self.wait_for(
            lambda: (
                not self.sql(
                    "SELECT 1 FROM pg_replication_slots WHERE database = %s AND active", [self.name]
                )
            ),
            what="the slots to be released",
        )
        self.sql(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE database = %s",
            [self.name],
        )
        self.connection.close()

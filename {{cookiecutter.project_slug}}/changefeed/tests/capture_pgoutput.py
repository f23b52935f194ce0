"""Regenerate pgoutput_capture.json, the real server bytes that test_pgoutput.py decodes.

Usage (from the project root):

    python changefeed/tests/capture_pgoutput.py "host=localhost user=postgres dbname=scratch"

The argument is a libpq DSN; point it at a scratch database. The server needs wal_level=logical
and a free replication slot, and the role must be a superuser, because replication origins
require one. Everything runs over an ordinary connection: pg_logical_slot_get_binary_changes()
returns the same pgoutput messages a replication connection would stream.

The script creates a schema, a publication, a replication origin and a slot, all named after
pgoutput_capture, runs the fixed workload below, then drops all four. It reads the changes twice:
first in binary mode (the ``binary`` option, whose column values are 'b' instead of 't'), only
peeking, then in text mode. Test assertions depend on this workload: change it and the tests
together. Commit times, LSNs and xids differ on every run; the tests only check how they relate.
"""

import argparse
import json
import random
import string
from pathlib import Path

import psycopg2

SLOT = "pgoutput_capture"
PUBLICATION = "pgoutput_capture"
ORIGIN = "pgoutput_capture_upstream"

# Uppercase and without hyphens, to show that PostgreSQL prints uuids canonically.
ACCOUNT_A = "6F1D2C3B4A594E8D9C7B0A1B2C3D4E5F"
ACCOUNT_B = "11111111-2222-4333-8444-555555555555"
ACCOUNT_B_RENAMED = "99999999-8888-4777-8666-555555555555"
ACCOUNT_C = "c0ffee00-0000-4000-8000-000000000001"

# Random letters defeat pglz, so this is stored out of line in TOAST, uncompressed, and an
# UPDATE that leaves it alone sends it as 'u' (unchanged) instead of resending 10 kB.
BIOGRAPHY = "".join(random.Random(2024).choices(string.ascii_letters + string.digits, k=10_000))

SCHEMA_SQL = """
CREATE SCHEMA pgoutput_capture;
CREATE TYPE pgoutput_capture.mood AS ENUM ('happy', 'sad');
CREATE TABLE pgoutput_capture.account (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    active boolean NOT NULL,
    visits integer,
    balance bigint,
    ratio numeric(12, 4),
    score double precision,
    profile jsonb,
    seen_at timestamptz,
    born_on date,
    mood pgoutput_capture.mood,
    biography text
);
CREATE TABLE pgoutput_capture.ledger (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id uuid NOT NULL,
    amount numeric NOT NULL,
    memo varchar(40)
);
ALTER TABLE pgoutput_capture.ledger REPLICA IDENTITY FULL;
CREATE TABLE pgoutput_capture.ledger_tag (
    ledger_id bigint NOT NULL REFERENCES pgoutput_capture.ledger (id),
    tag text NOT NULL,
    PRIMARY KEY (ledger_id, tag)
);
"""

PARAMETERS = {
    "a": ACCOUNT_A,
    "b": ACCOUNT_B,
    "b_renamed": ACCOUNT_B_RENAMED,
    "c": ACCOUNT_C,
    "origin": ORIGIN,
    "profile": json.dumps({"plan": "pro", "tags": ["a", "b"], "limits": None}),
    "biography": BIOGRAPHY,
}

# One string per transaction, run in this order.
WORKLOAD = [
    # Several statements in one transaction, ending with a transactional message.
    """
    BEGIN;
    INSERT INTO pgoutput_capture.account VALUES (%(a)s, 'Zoë', true, 7, 9007199254740993,
        1234.5678, 0.1, %(profile)s, '2024-01-02 03:04:05.123+00', '1990-05-17', 'happy',
        %(biography)s);
    INSERT INTO pgoutput_capture.account (id, name, active) VALUES (%(b)s, 'Bob', false);
    INSERT INTO pgoutput_capture.ledger (account_id, amount, memo)
        VALUES (%(a)s, 12.50, 'first'), (%(a)s, -3.25, NULL);
    INSERT INTO pgoutput_capture.ledger_tag VALUES (1, 'coffee');
    SELECT pg_logical_emit_message(true, 'changefeed/test', 'inside a transaction');
    COMMIT;
    """,
    # Non-transactional: decoded on its own, outside any Begin/Commit.
    "SELECT pg_logical_emit_message(false, 'changefeed/heartbeat', '\\x00ff'::bytea)",
    # Leaves the TOASTed biography alone, so it arrives as 'u'.
    """
    UPDATE pgoutput_capture.account
        SET visits = visits + 1, seen_at = '2024-06-30 23:59:59.999999+00'
        WHERE id = %(a)s
    """,
    # Changes the primary key, so the old key arrives as 'K'.
    "UPDATE pgoutput_capture.account SET id = %(b_renamed)s WHERE id = %(b)s",
    # REPLICA IDENTITY FULL: old rows arrive whole, as 'O'.
    """
    BEGIN;
    UPDATE pgoutput_capture.ledger SET amount = 13.00 WHERE id = 1;
    DELETE FROM pgoutput_capture.ledger WHERE id = 2;
    COMMIT;
    """,
    "DELETE FROM pgoutput_capture.account WHERE id = %(b_renamed)s",
    # As a subscriber applying another server's transaction would: adds an Origin message.
    """
    SELECT pg_replication_origin_session_setup(%(origin)s);
    BEGIN;
    SELECT pg_replication_origin_xact_setup('0/ABCDEF', '2024-01-01 00:00:00+00');
    INSERT INTO pgoutput_capture.account (id, name, active) VALUES (%(c)s, 'Cy', true);
    COMMIT;
    SELECT pg_replication_origin_session_reset();
    """,
    # Cascades to ledger_tag: one Truncate naming both tables, with both option flags.
    "TRUNCATE pgoutput_capture.ledger RESTART IDENTITY CASCADE",
    "TRUNCATE pgoutput_capture.account",
]

OPTIONS = ["proto_version", "1", "publication_names", PUBLICATION, "messages", "true"]


def drop_capture_objects(cursor) -> None:
    cursor.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
        (SLOT,),
    )
    cursor.execute(f"DROP PUBLICATION IF EXISTS {PUBLICATION}")
    cursor.execute("DROP SCHEMA IF EXISTS pgoutput_capture CASCADE")
    cursor.execute(
        "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = %s",
        (ORIGIN,),
    )


def changes(cursor, function: str, extra_options: list[str]) -> list[dict[str, object]]:
    options = OPTIONS + extra_options
    placeholders = ", ".join(["%s"] * len(options))
    cursor.execute(
        f"SELECT lsn::text, xid::text::bigint, data"
        f" FROM {function}(%s, NULL, NULL, {placeholders})",
        [SLOT, *options],
    )
    return [
        {"lsn": lsn, "xid": xid, "data": bytes(data).hex()} for lsn, xid, data in cursor.fetchall()
    ]


def capture(dsn: str) -> dict[str, object]:
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    connection.set_client_encoding("UTF8")
    cursor = connection.cursor()
    # The output functions run in this session while decoding, so these settings shape the text.
    cursor.execute("SET datestyle = ISO")
    cursor.execute("SET timezone = 'UTC'")
    try:
        drop_capture_objects(cursor)
        cursor.execute(SCHEMA_SQL)
        cursor.execute(
            f"CREATE PUBLICATION {PUBLICATION} FOR TABLE pgoutput_capture.account,"
            " pgoutput_capture.ledger, pgoutput_capture.ledger_tag"
        )
        cursor.execute("SELECT pg_replication_origin_create(%s)", (ORIGIN,))
        cursor.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SLOT,))

        for transaction in WORKLOAD:
            cursor.execute(transaction, PARAMETERS)

        cursor.execute("SELECT version()")
        (version,) = cursor.fetchone()
        # Peeking leaves the changes in the slot for the text-mode read that consumes them.
        binary = changes(cursor, "pg_logical_slot_peek_binary_changes", ["binary", "true"])
        text = changes(cursor, "pg_logical_slot_get_binary_changes", [])
    finally:
        drop_capture_objects(cursor)
        connection.close()
    return {
        "about": (
            "Written by capture_pgoutput.py from a real server; regenerate, do not edit. "
            "'binary' was read with the same options plus binary 'true'."
        ),
        "server_version": version,
        "options": dict(zip(OPTIONS[::2], OPTIONS[1::2], strict=True)),
        "text": text,
        "binary": binary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dsn", help="libpq connection string of a wal_level=logical server")
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(__file__).with_name("pgoutput_capture.json"),
        help="where to write the capture (default: next to this script)",
    )
    args = parser.parse_args()
    args.output.write_text(json.dumps(capture(args.dsn), indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

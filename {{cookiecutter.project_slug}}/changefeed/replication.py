"""Postgres-side set-up of the change feed: checks, the publication and the replication slot.

Every problem is a ChangeFeedError whose message says what is wrong and what to do; the
management commands print it as one line.
"""

import re
from dataclasses import dataclass

from django.db import DatabaseError, connections

from changefeed.lsn import format_lsn, parse_lsn
from changefeed.models import ChangeEvent, Checkpoint

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # unquoted, lower case: as Postgres folds it
# Electric 0.12's own publication and slot (electric_replication_out_<database>).
ELECTRIC_NAMES = {"publication": "electric_publication", "slot": "electric_replication_out"}
OWN_TABLES = {ChangeEvent._meta.db_table, Checkpoint._meta.db_table}


class ChangeFeedError(Exception):
    """A problem the user must fix; the message says how."""


class SlotBusy(ChangeFeedError):
    """Another connection (or a consumer that just died) still holds the slot."""


@dataclass(frozen=True)
class ReplicationConfig:
    slot: str
    publication: str
    tables: tuple[str, ...]
    database: str = "default"


@dataclass(frozen=True)
class SlotState:
    plugin: str
    database: str
    active_pid: int | None
    wal_status: str | None


def quote(identifier: str) -> str:
    """An identifier for SQL text, whatever it holds: the one way this app quotes names."""
    return '"{}"'.format(identifier.replace('"', '""'))


def validate_names(config: ReplicationConfig) -> None:
    for option, name in (("slot", config.slot), ("publication", config.publication)):
        if not IDENTIFIER.fullmatch(name):
            raise ChangeFeedError(
                f"{option} name {name!r} must be 1 to 63 lower-case letters, digits or underscores."
            )
        if name.startswith(ELECTRIC_NAMES[option]):
            raise ChangeFeedError(
                f"{option} name {name!r} is Electric's own {option}: choose another name."
            )
    if not config.tables:
        raise ChangeFeedError("No tables to consume: set CHANGEFEED_TABLES or pass --tables.")


def _cursor(config: ReplicationConfig):
    return connections[config.database].cursor()


def check_server(config: ReplicationConfig) -> None:
    """wal_level=logical, and a role allowed to replicate."""
    with _cursor(config) as cursor:
        cursor.execute("SHOW wal_level")
        (wal_level,) = cursor.fetchone()
        if wal_level != "logical":
            raise ChangeFeedError(
                f"Postgres runs with wal_level={wal_level}; logical replication needs "
                "wal_level=logical (set it, e.g. `postgres -c wal_level=logical`, and restart "
                "the server)."
            )
        cursor.execute(
            "SELECT rolname, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        role, may_replicate = cursor.fetchone()
        if not may_replicate:
            raise ChangeFeedError(
                f"Role {role!r} may not start replication: run `ALTER ROLE {role} REPLICATION;` "
                "as a superuser, or connect as a role that has it."
            )


def resolve_tables(config: ReplicationConfig) -> list[str]:
    """The configured tables as quoted qualified names; refuses a name that is not a table, the
    event store, and a table whose updates and deletes Postgres could not publish."""
    qualified = []
    with _cursor(config) as cursor:
        for table in config.tables:
            try:
                cursor.execute(
                    "SELECT n.nspname, c.relname, c.relreplident, EXISTS (SELECT FROM pg_index i "
                    "WHERE i.indrelid = c.oid AND i.indisprimary) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p')",
                    [table],
                )
            except DatabaseError as error:  # not a name at all: "a.b.c.d", "t; drop table x"
                reason = str(error).strip().splitlines()[0]
                raise ChangeFeedError(
                    f"Table {table!r} is not a table name ({reason}): name it as table or "
                    "schema.table in CHANGEFEED_TABLES or --tables, quoting odd names as SQL "
                    'does ("My Table").'
                ) from None
            row = cursor.fetchone()
            if row is None:
                raise ChangeFeedError(
                    f"Table {table!r} does not exist in database {config.database!r}: check "
                    "CHANGEFEED_TABLES or --tables (and that migrations ran)."
                )
            schema, name, replica_identity, has_primary_key = row
            if name in OWN_TABLES:
                raise ChangeFeedError(
                    f"Table {name!r} is the change feed's own event store; consuming it would "
                    "make the consumer feed on its own writes."
                )
            sql_name = f"{quote(schema)}.{quote(name)}"
            if replica_identity == "n" or (replica_identity == "d" and not has_primary_key):
                # Published without an identity, its UPDATEs and DELETEs would fail in the app.
                raise ChangeFeedError(
                    f"Table {schema}.{name} has no primary key, so Postgres cannot say which row "
                    "an update or delete changed (and would refuse both once it is published): "
                    f"give it a primary key, or, deliberately, `ALTER TABLE {sql_name} REPLICA "
                    "IDENTITY FULL` (every change then carries the whole old row)."
                )
            qualified.append(sql_name)
    return qualified


def ensure_publication(config: ReplicationConfig, tables: list[str]) -> None:
    """Create the publication, or make its table list match the configuration."""
    with _cursor(config) as cursor:
        cursor.execute(
            "SELECT puballtables FROM pg_publication WHERE pubname = %s", [config.publication]
        )
        row = cursor.fetchone()
        table_list = ", ".join(tables)
        if row is None:
            cursor.execute(f"CREATE PUBLICATION {quote(config.publication)} FOR TABLE {table_list}")
        elif row[0]:
            raise ChangeFeedError(
                f"Publication {config.publication!r} is FOR ALL TABLES, which includes the "
                "event store: use a publication of your own (--publication)."
            )
        else:
            cursor.execute(f"ALTER PUBLICATION {quote(config.publication)} SET TABLE {table_list}")


def slot_state(config: ReplicationConfig) -> SlotState | None:
    with _cursor(config) as cursor:
        cursor.execute(
            "SELECT plugin, database, active_pid, wal_status "
            "FROM pg_replication_slots WHERE slot_name = %s",
            [config.slot],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    plugin, database, active_pid, wal_status = row
    return SlotState(plugin or "", database or "", active_pid, wal_status)


def start_again(config: ReplicationConfig) -> str:
    """How to go on after a slot's changes were lost, whichever the sink."""
    slot = f"--slot {config.slot}"
    return (
        f"To go on from now: `./manage.py changefeed_slot drop {slot}` (it forgets the store's "
        f"checkpoint), `./manage.py changefeed_slot create {slot}`, then "
        f"`./manage.py changefeed_snapshot {slot} TABLE...` to deliver the tables' rows again."
    )


def check_slot(config: ReplicationConfig, state: SlotState | None, checkpoint: int) -> None:
    """Refuse a slot that is not ours to use, and never paper over a lost one."""
    if state is None:
        if checkpoint:
            raise ChangeFeedError(
                f"Replication slot {config.slot!r} is gone, but changes are stored up to "
                f"{format_lsn(checkpoint)}: whatever happened after that is lost. "
                f"{start_again(config)}"
            )
        return
    dbname = connections[config.database].settings_dict["NAME"]
    if state.plugin != "pgoutput":
        raise ChangeFeedError(
            f"Replication slot {config.slot!r} uses the {state.plugin!r} plugin, not pgoutput: "
            "choose another --slot, or drop that slot if nothing else needs it."
        )
    if state.database != dbname:
        raise ChangeFeedError(
            f"Replication slot {config.slot!r} belongs to database {state.database!r}, not "
            f"{dbname!r}: choose another --slot."
        )
    if state.wal_status == "lost":
        raise ChangeFeedError(
            f"Replication slot {config.slot!r} was invalidated (it fell further behind than "
            "max_slot_wal_keep_size allows) and the changes it held are gone. "
            f"{start_again(config)}"
        )
    if state.active_pid is not None:
        raise SlotBusy(
            f"Replication slot {config.slot!r} is in use by server process {state.active_pid} "
            "(another consumer?)."
        )


def create_slot(config: ReplicationConfig) -> None:
    with _cursor(config) as cursor:
        cursor.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [config.slot])


def drop_slot(config: ReplicationConfig) -> bool:
    with _cursor(config) as cursor:
        cursor.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
            "WHERE slot_name = %s",
            [config.slot],
        )
        return cursor.rowcount > 0


def primary_key_columns(config: ReplicationConfig, relation_oid: int) -> tuple[str, ...]:
    with _cursor(config) as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = %s AND i.indisprimary "
            "ORDER BY array_position(i.indkey, a.attnum)",
            [relation_oid],
        )
        return tuple(name for (name,) in cursor.fetchall())


def check_checkpoint(config: ReplicationConfig, checkpoint: int, source: str | None = None) -> None:
    """Refuse a sink's checkpoint past everything Postgres ever wrote: no consumer of this
    database stored it (a forged or foreign entry), and resuming there would skip, and
    acknowledge, every change up to it. `source` says where the sink found it, if it can."""
    with _cursor(config) as cursor:
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        (current,) = cursor.fetchone()
    if checkpoint > parse_lsn(current) + 1:
        raise ChangeFeedError(
            f"The sink says changes up to {format_lsn(checkpoint)} are stored, but Postgres has "
            f"written nothing past {current}: that checkpoint is not this consumer's (a forged "
            "entry, or a sink shared with another database), and nothing was consumed. For the "
            "redis sink it is the streams' last IDs (<commit LSN>-<position>): in "
            f"{source or 'the stream whose last ID is past it (XINFO STREAM)'}, XDEL the "
            "foreign entries and XSETID the stream back to its newest entry of the feed's "
            "(XREVRANGE <stream> + - COUNT 1), or consume into another --redis-stream."
        )


def prepare(
    config: ReplicationConfig, checkpoint: int, checkpoint_source: str | None = None
) -> None:
    """Everything the stream needs before it connects, checked in the order a user fixes it."""
    validate_names(config)
    check_server(config)
    check_checkpoint(config, checkpoint, checkpoint_source)
    ensure_publication(config, resolve_tables(config))
    state = slot_state(config)
    check_slot(config, state, checkpoint)
    if state is None:
        create_slot(config)


def slot_status(config: ReplicationConfig) -> dict | None:
    """The slot as pg_replication_slots sees it, with the WAL it holds back, in bytes."""
    with _cursor(config) as cursor:
        cursor.execute(
            "SELECT plugin, active_pid, wal_status, confirmed_flush_lsn::text, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
            "FROM pg_replication_slots WHERE slot_name = %s",
            [config.slot],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    keys = (
        "plugin",
        "active_pid",
        "wal_status",
        "confirmed_lsn",
        "retained_wal_bytes",
        "lag_bytes",
    )
    return dict(zip(keys, row, strict=True))


def drop_publication(config: ReplicationConfig) -> None:
    with _cursor(config) as cursor:
        cursor.execute(f"DROP PUBLICATION IF EXISTS {quote(config.publication)}")

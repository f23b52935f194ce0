"""Keeps `migrate` on the road through Electric's proxy, the only one Electric 0.12.1 watches.

Electric sees a schema change only when it goes through its migrations proxy; since 0.12.1 nothing
in Postgres rejects DDL that bypasses it, and Electric and its clients then silently drift from the
database. The guard refuses, before anything is applied or recorded:
- migrating any database alias but `proxy` (unless ELECTRIC_SKIP_DDLX says no Electric is there);
- a plan that goes back past an electrification, which Electric cannot undo;
- a database where Electric's own record of electrified tables disagrees with the migrations;
- a plan with any statement that the proxy would refuse or choke on (electric/plan_sql.py), so
  that a migration never fails halfway through at deploy time.
"""

from django.conf import settings
from django.core.management import CommandError
from django.db import DatabaseError, OperationalError, connections

from electric.operations import PROXY_ALIAS, EnableElectric
from electric.plan_sql import plan_refusals
from electric.schema_history import SchemaHistory

MIGRATE_THROUGH_PROXY = f"./manage.py migrate --database={PROXY_ALIAS}"
ELECTRIFIED_TABLES = "SELECT table_name FROM electric.electrified WHERE schema_name = 'public'"


def electric_is_skipped():
    return settings.ELECTRIC_SKIP_DDLX


def refuse_bypassing_the_proxy(alias):
    if electric_is_skipped() or alias == PROXY_ALIAS:
        return
    raise CommandError(
        f"Migrations must go through Electric's migrations proxy: run `{MIGRATE_THROUGH_PROXY}`. "
        f"Database {alias!r} bypasses it, so Electric would never see the schema change and its "
        "clients would drift from Postgres. (Set ELECTRIC_SKIP_DDLX=true only where no Electric "
        "fronts the database.)"
    )


def refuse_unelectrifying(plan):
    """Refuse a plan that migrates back past EnableElectric: Electric refuses DISABLE ELECTRIC."""
    if electric_is_skipped():
        return
    for migration, backwards in plan:
        if backwards and any(isinstance(op, EnableElectric) for op in migration.operations):
            raise CommandError(
                f"Cannot migrate back past {migration.app_label}.{migration.name}: Electric 0.12 "
                "cannot un-electrify a table (DISABLE ELECTRIC is unsupported). Nothing was "
                "changed; undo the schema change with a new forward migration instead."
            )


def refuse_unreachable(alias):
    """One line, not a traceback, when the database (Electric's proxy, say) does not answer."""
    connection = connections[alias]
    try:
        connection.ensure_connection()
    except OperationalError as error:
        settings_dict = connection.settings_dict
        where = f"{settings_dict['HOST'] or 'localhost'}:{settings_dict['PORT'] or 5432}"
        lines = str(error).strip().splitlines() or [type(error).__name__]
        reason = lines[0].rstrip(".")
        if alias == PROXY_ALIAS:
            fix = (
                "Is Electric running? `docker compose up -d electric` starts it, and "
                f"`./manage.py wait_for_db --database={PROXY_ALIAS}` waits for its proxy."
            )
        else:
            fix = "Is PostgreSQL running, and does the database in DATABASE_URL exist?"
        raise CommandError(
            f"Cannot connect to database {alias!r} ({where}): {reason}. {fix}"
        ) from None


def refuse_drift(alias, electrify_missing=False):
    """Compare the tables applied migrations electrified with Electric's own record of them,
    and return that record: the tables Electric has electrified.

    With electrify_missing, electrify (through the proxy) what the migrations say is electrified
    but Electric is not, instead of refusing.
    """
    if electric_is_skipped():
        return set()
    connection = connections[alias]
    electric_tables = _electric_tables(connection, alias)
    recorded = SchemaHistory.from_disk(applied_only_for=connection).electrified_tables()
    missing = {key: table for key, table in recorded.items() if table not in electric_tables}
    if missing and electrify_missing:
        _electrify(connection, missing.values())
        electric_tables |= set(missing.values())
    elif missing:
        raise CommandError(
            f"Applied migrations electrified {_names(missing.values())}, but Electric has not "
            "(they ran with ELECTRIC_SKIP_DDLX, or not through the proxy), so its clients do not "
            f"sync them. Electrify them now: `{MIGRATE_THROUGH_PROXY} --electrify-missing`."
        )

    history = SchemaHistory.from_disk()
    known = {electrification.table for electrification in history.electrifications}
    unknown = electric_tables - known
    if unknown:
        raise CommandError(
            f"Electric has electrified {_names(unknown)}, but no migration here electrifies them, "
            "so the migration checks cannot protect them. Add the migration with `./manage.py "
            "electrify app_label.Model` for each (ENABLE ELECTRIC on an electrified table only "
            "raises a notice), then migrate again."
        )
    return electric_tables


def refuse_what_the_proxy_refuses(plan, alias, electric_tables, stderr):
    """Judge every statement of the plan as Electric's proxy will, before any of it runs."""
    if electric_is_skipped() or not plan:
        return
    refusals = list(plan_refusals(connections[alias], plan, electric_tables))
    for refusal in refusals:
        stderr.write(str(refusal))
    if refusals:
        raise CommandError(
            f"Electric's migrations proxy would refuse {len(refusals)} statement(s) of this "
            "plan (above), each with the way out: nothing was applied."
        )


def _electric_tables(connection, alias):
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('electric.electrified') IS NOT NULL")
        if not cursor.fetchone()[0]:
            where = f"{connection.settings_dict['HOST']}:{connection.settings_dict['PORT']}"
            raise CommandError(
                f"Database {alias!r} ({where}) has no Electric schema, so it is not Electric's "
                "migrations proxy: point ELECTRIC_PROXY_HOST and ELECTRIC_PROXY_PORT at Electric, "
                "or set ELECTRIC_SKIP_DDLX=true for a Postgres without Electric."
            )
        cursor.execute(ELECTRIFIED_TABLES)
        return {table for (table,) in cursor.fetchall()}


def _electrify(connection, tables):
    for table in sorted(tables):
        sql = f"ALTER TABLE {connection.ops.quote_name(table)} ENABLE ELECTRIC"
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
        except DatabaseError as error:
            reason = str(error).strip().splitlines()[0]
            raise CommandError(f"Electric refused `{sql}`: {reason}") from None


def _names(tables):
    return ", ".join(f'"{table}"' for table in sorted(tables))

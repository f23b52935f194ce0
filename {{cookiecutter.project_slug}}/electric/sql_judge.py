"""Electric 0.12.1's migrations proxy, judging SQL: what it accepts, refuses or chokes on.

A port of the proxy's analysis of each statement it receives, from Electric's source at tag
`@core/electric@0.12.1`, under `components/electric/lib/electric/`:
- `postgres/proxy/parser.ex`: statements parsed with PostgreSQL 15.1's grammar (libpg_query,
  through pg_query_ex; pglast 5.x wraps the same parser), the relation each one names, and the
  "smuggling" of DDLX the grammar does not know (`ALTER TABLE t ENABLE ELECTRIC`);
- `postgres/proxy/query_analyser.ex`: what is refused on an electrified table, with the errors
  of `postgres/proxy/errors.ex`, and the transaction statements it has no clause for;
- `postgres/proxy/injector/electric.ex` and `injector/operation.ex`: over the simple query
  protocol (psycopg2's, so Django's), a Query message with a refused statement is answered with
  that statement's error (Operation.SyntaxError); CREATE and DROP INDEX always run inside a
  transaction, where PostgreSQL refuses CONCURRENTLY;
- `src/electric_ddlx_parser.yrl`, `ddlx/command/*.ex`: the DDLX statements and their tags; all
  but ENABLE are off in 0.12.1 (EX001).

Pure: statements in, verdicts out, no database. `SqlJudge(electrified).judge(sql)` judges one
query string (as one simple-protocol Query message, which may hold several statements) and
remembers the tables that its ENABLE ELECTRIC statements electrify, for the statements after it.
"""

import re
from dataclasses import dataclass

from pglast import enums
from pglast.parser import ParseError, parse_sql

DEFAULT_SCHEMA = "public"

# Electric.Postgres.supported_types/0 (postgres.ex): the column types an ADD COLUMN may have.
SUPPORTED_TYPES = frozenset(
    {
        "bool",
        "bytea",
        "date",
        "float4",
        "float8",
        "int2",
        "int4",
        "int8",
        "jsonb",
        "text",
        "time",
        "timestamp",
        "timestamptz",
        "uuid",
        "varchar",
    }
)

AT = enums.AlterTableType
# query_analyser.ex, AlterTableStmt's @allowed_subtypes: the ALTER TABLE actions on an
# electrified table that the proxy lets through (besides a valid ADD COLUMN).
ALLOWED_ALTER_TABLE = frozenset(
    {
        AT.AT_EnableAlwaysTrig,
        AT.AT_EnableTrig,
        AT.AT_EnableReplicaTrig,
        AT.AT_DisableTrig,
        AT.AT_ChangeOwner,
        AT.AT_SetStorage,
        AT.AT_SetStatistics,
        AT.AT_SetOptions,
        AT.AT_ResetOptions,
        AT.AT_SetCompression,
        AT.AT_SetRelOptions,
        AT.AT_ResetRelOptions,
        AT.AT_SetAccessMethod,
    }
)

TX = enums.TransactionStmtKind
# query_analyser.ex, TransactionStmt: a `case` over these five kinds only. Any other kind
# (START TRANSACTION, ROLLBACK TO SAVEPOINT, PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED)
# matches no clause: the proxy's process crashes and the client's connection drops.
HANDLED_TRANSACTION_KINDS = frozenset(
    {
        TX.TRANS_STMT_BEGIN,
        TX.TRANS_STMT_COMMIT,
        TX.TRANS_STMT_ROLLBACK,
        TX.TRANS_STMT_SAVEPOINT,
        TX.TRANS_STMT_RELEASE,
    }
)

CT = enums.ConstrType
# errors.ex, format_constraint/1.
CONSTRAINT_NAMES = {
    CT.CONSTR_CHECK: "CHECK",
    CT.CONSTR_GENERATED: "GENERATED",
    CT.CONSTR_FOREIGN: "FOREIGN KEY",
    CT.CONSTR_IDENTITY: "GENERATED",
    CT.CONSTR_PRIMARY: "PRIMARY KEY",
    CT.CONSTR_UNIQUE: "UNIQUE",
}

# Outcomes of a statement.
ACCEPTED = "accepted"
REFUSED = "refused"  # an ErrorResponse with Electric's code; the transaction is aborted
CRASH = "crash"  # the proxy has no clause for it and drops the connection
POSTGRES = "postgres"  # the proxy passes it on, and PostgreSQL refuses it there


@dataclass(frozen=True)
class Verdict:
    """What the proxy does with one statement."""

    sql: str
    outcome: str = ACCEPTED
    code: str = ""  # Electric's EX code, or PostgreSQL's SQLSTATE for POSTGRES
    message: str = ""
    electrifies: tuple[str, str] | None = None  # (schema, table) for ENABLE ELECTRIC

    @property
    def accepted(self):
        return self.outcome == ACCEPTED

    def __str__(self):
        if self.accepted:
            return f"accepted: {self.sql}"
        code = f"{self.code} " if self.code else ""
        return f"{code}{self.message}"


class SqlJudge:
    """The proxy's view of one connection: which tables are electrified, statement after
    statement. `electrified`: (schema, table) pairs, or bare table names (public)."""

    def __init__(self, electrified=()):
        self.electrified = {_qualified(table) for table in electrified}

    def judge(self, sql):
        """The verdict on each statement of `sql`, in order (an empty list for no statement).

        The proxy refuses a whole Query message when one of its statements is refused; the
        verdicts say which. Tables electrified by an accepted ENABLE count from the statement
        after it on, as in the proxy's transaction state (injector/state.ex).
        """
        try:
            statements = _split(sql)
        except ParseError as error:
            return [_syntax_error(sql, error)]
        verdicts = []
        for text, statement in statements:
            verdict = self._judge_statement(text, statement)
            if verdict.electrifies and verdict.accepted:
                self.electrified.add(verdict.electrifies)
            verdicts.append(verdict)
        return verdicts

    def refusals(self, sql):
        return [verdict for verdict in self.judge(sql) if not verdict.accepted]

    def is_electrified(self, relation):
        return relation is not None and relation in self.electrified

    def _judge_statement(self, sql, statement):
        if isinstance(statement, Ddlx):
            return statement.verdict(sql)
        handler = getattr(self, f"_{type(statement).__name__}", None)
        return handler(sql, statement) if handler else Verdict(sql)

    # One method per statement type that query_analyser.ex has an implementation for, named
    # after pglast's node class; every other type falls back to `Any` there: passed through.

    def _AlterTableStmt(self, sql, stmt):
        table = _relation(stmt.relation)
        if not self.is_electrified(table):
            return Verdict(sql)
        for cmd in stmt.cmds:
            if cmd.subtype == AT.AT_AddColumn:
                problem = _add_column_problem(cmd.def_)
                if problem:
                    code, message = problem
                    return Verdict(sql, REFUSED, code, message)
            elif cmd.subtype == AT.AT_DropColumn:
                return Verdict(
                    sql,
                    REFUSED,
                    "EX010",
                    f'Cannot drop column "{cmd.name}" of electrified table {_sql_table(table)}',
                )
            elif cmd.subtype not in ALLOWED_ALTER_TABLE:
                name = cmd.name or ""
                if cmd.subtype == AT.AT_AlterColumnType:
                    code, what = "EX009", "change type of column"
                else:
                    code, what = "EX007", "alter column"
                message = f'Cannot {what} "{name}" of electrified table {_sql_table(table)}'
                return Verdict(sql, REFUSED, code, message)
        return Verdict(sql)

    def _RenameStmt(self, sql, stmt):
        # The relation of ALTER INDEX ... RENAME is the index: never an electrified table.
        table = _relation(stmt.relation)
        if not self.is_electrified(table):
            return Verdict(sql)
        kind = stmt.renameType
        if kind == enums.ObjectType.OBJECT_COLUMN:
            code, message = "EX008", f'Cannot rename column "{stmt.subname}" of electrified table'
        elif kind == enums.ObjectType.OBJECT_TABCONSTRAINT:
            code = "EX012"
            message = f'Cannot rename constraint "{stmt.subname}" of electrified table'
        elif kind == enums.ObjectType.OBJECT_TABLE:
            code, message = "EX002", "Cannot rename electrified table"
        else:
            code, message = "EX003", "Cannot rename property of electrified table"
        return Verdict(sql, REFUSED, code, f"{message} {_sql_table(table)}")

    def _DropStmt(self, sql, stmt):
        kind = stmt.removeType
        if kind == enums.ObjectType.OBJECT_INDEX and stmt.concurrent:
            return _concurrently(sql, "DROP INDEX")
        # parser.ex names the object only when one is dropped; DROP TABLE a, b goes unchecked.
        if kind != enums.ObjectType.OBJECT_TABLE or len(stmt.objects) != 1:
            return Verdict(sql)
        table = _dropped_name(stmt.objects[0])
        if not self.is_electrified(table):
            return Verdict(sql)
        # EX004 over the simple protocol; the extended protocol's Operation.Disallowed would
        # answer EX100 "Cannot DROP Electrified table".
        return Verdict(sql, REFUSED, "EX004", f"Cannot drop electrified table {_sql_table(table)}")

    def _IndexStmt(self, sql, stmt):
        if stmt.concurrent:
            return _concurrently(sql, "CREATE INDEX")
        return Verdict(sql)

    def _TransactionStmt(self, sql, stmt):
        if stmt.kind in HANDLED_TRANSACTION_KINDS:
            return Verdict(sql)
        return Verdict(
            sql,
            CRASH,
            "",
            f"Electric's proxy has no clause for {_first_words(sql)} and drops the connection",
        )

    def _DoStmt(self, sql, stmt):
        # QueryAnalyser.validate/1 refuses it with a bare string, which
        # Operation.SyntaxError.error_response/2 has no clause for: the proxy crashes.
        return Verdict(sql, CRASH, "", "Unsupported DO...END block in migration")

    def _CallStmt(self, sql, stmt):
        names = [name.sval for name in stmt.funccall.funcname]
        if names != ["electric", "electrify"]:
            return Verdict(sql)
        args = [arg.val.sval for arg in stmt.funccall.args or ()]
        table = (args[0], args[1]) if len(args) == 2 else _qualified(args[0])
        return Ddlx("ENABLE", table).verdict(sql)


@dataclass(frozen=True)
class Ddlx:
    """A DDLX statement (the grammar of src/electric_ddlx_parser.yrl), or one it cannot parse."""

    command: str  # ENABLE, DISABLE, GRANT, ..., or "" when it does not parse
    table: tuple[str, str] | None = None

    def verdict(self, sql):
        if not self.command:
            # Operation.SyntaxError's answer to a DDLX parse error.
            return Verdict(sql, REFUSED, "00000", "Invalid ELECTRIC statement")
        if self.command == "ENABLE":
            return Verdict(sql, electrifies=self.table)
        # call_stmt's command_enabled?/1: every command but ENABLE sits behind a feature flag,
        # off by default (Electric.Features), and is answered by errors.ex's
        # access_control_not_supported/2.
        return Verdict(sql, REFUSED, "EX001", f"ELECTRIC {self.command} is currently unsupported")


# DDLX as the tokenizer and grammar read it: case-insensitive keywords, (schema.)table with
# quoted or unquoted identifiers.
_IDENTIFIER = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_TABLE = rf"(?P<table>{_IDENTIFIER}(?:\s*\.\s*{_IDENTIFIER})?)"
_DDLX_FORMS = [
    re.compile(rf"ALTER\s+TABLE\s+{_TABLE}\s+(?P<command>ENABLE|DISABLE)\s+ELECTRIC", re.I),
    re.compile(rf"ELECTRIC\s+(?P<command>ENABLE|DISABLE)\s+{_TABLE}", re.I),
]
_DDLX_COMMANDS = re.compile(r"ELECTRIC\s+(GRANT|REVOKE|ASSIGN|UNASSIGN|SQLITE)\b", re.I)


def parse_ddlx(sql):
    text = sql.strip().rstrip(";").strip()
    for form in _DDLX_FORMS:
        match = form.fullmatch(text)
        if match:
            return Ddlx(match["command"].upper(), _ddlx_table(match["table"]))
    match = _DDLX_COMMANDS.match(text)
    return Ddlx(match[1].upper() if match else "")


def _ddlx_table(text):
    parts = re.findall(_IDENTIFIER, text)
    names = [_unquote(part) for part in parts]
    return (names[0], names[1]) if len(names) == 2 else (DEFAULT_SCHEMA, names[0])


def _unquote(identifier):
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier.lower()


def _split(sql):
    """[(statement text, parse tree or Ddlx)], as parser.ex's parse_with_electric_syntax/2.

    PostgreSQL's grammar fails on DDLX; when the error points at the keyword ELECTRIC, the
    proxy cuts that statement out (between the semicolons around it), parses it as DDLX and
    parses the rest again.
    """
    try:
        return [(_text(sql, raw), raw.stmt) for raw in parse_sql(sql)]
    except ParseError as error:
        position = error.args[1] if len(error.args) > 1 else -1
        if not sql[position : position + 8].upper() == "ELECTRIC":
            raise
        start = _semicolon_before(sql, position)
        end = _semicolon_after(sql, position)
        ddlx_sql = sql[start:end].strip().rstrip(";").strip()
        before = _split(sql[:start]) if sql[:start].strip() else []
        after = _split(sql[end:]) if sql[end:].strip(" \t\n;") else []
        return [*before, (ddlx_sql, parse_ddlx(ddlx_sql)), *after]


def _text(sql, raw):
    # libpg_query counts bytes; a length of 0 means "to the end".
    data = sql.encode()
    end = raw.stmt_location + raw.stmt_len if raw.stmt_len else len(data)
    return data[raw.stmt_location : end].decode().strip()


def _semicolon_before(sql, position):
    """Where the statement holding `position` starts (after the previous unquoted ';')."""
    start, quote = 0, None
    for index, char in enumerate(sql[:position]):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ";":
            start = index + 1
    return start


def _semicolon_after(sql, position):
    quote = None
    for index in range(position, len(sql)):
        char = sql[index]
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ";":
            return index + 1
    return len(sql)


def _syntax_error(sql, error):
    message = error.args[0] if error.args else str(error)
    return Verdict(
        sql,
        REFUSED,
        "42601",
        f"{message} (Electric's proxy parses with PostgreSQL 15.1's grammar)",
    )


def _concurrently(sql, what):
    return Verdict(
        sql,
        POSTGRES,
        "25001",
        f"{what} CONCURRENTLY cannot run inside a transaction block (Electric's proxy wraps "
        "every CREATE and DROP INDEX in one)",
    )


def _add_column_problem(column):
    """(code, message) when ADD COLUMN adds what Electric cannot sync (Impl.check_column_type
    and check_column_constraints in query_analyser.ex); None when it can."""
    type_name = column.typeName
    names = [name.sval for name in type_name.names]
    if names[0] == "pg_catalog" and len(names) == 2:
        names = names[1:]
    name = ".".join(names)
    sizes = [modifier.val.ival for modifier in type_name.typmods or ()]
    arrays = type_name.arrayBounds or ()
    if name not in SUPPORTED_TYPES or sizes or arrays:
        shown = name + (f"({', '.join(map(str, sizes))})" if sizes else "") + "[]" * len(arrays)
        return "EX005", f'Cannot electrify column of type "{shown}"'
    for constraint in column.constraints or ():
        kind = constraint.contype
        if kind in (CT.CONSTR_NULL, CT.CONSTR_NOTNULL):
            continue
        if kind == CT.CONSTR_DEFAULT:
            return "EX006", "Cannot electrify column with DEFAULT clause"
        shown = CONSTRAINT_NAMES.get(kind, kind.name)
        return "EX011", f"Cannot electrify column with {shown} constraint"
    return None


def _relation(range_var):
    if range_var is None:
        return None
    return (range_var.schemaname or DEFAULT_SCHEMA, range_var.relname)


def _dropped_name(names):
    names = [name.sval for name in names]
    return (names[-2], names[-1]) if len(names) >= 2 else (DEFAULT_SCHEMA, names[0])


def _qualified(table):
    if isinstance(table, tuple):
        return table
    schema, _, name = table.rpartition(".")
    return (schema or DEFAULT_SCHEMA, name)


def _sql_table(table):
    return f'"{table[0]}"."{table[1]}"'


def _first_words(sql):
    return " ".join(sql.split()[:3]).rstrip(";").upper()

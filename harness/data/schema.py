"""A row's schema: the CREATE TABLE statements found in its text, as a script SQLite builds; the
tables and columns a database holds (`read_tables`, the one reader of a SQLite schema, for prompts
and for the execution metrics alike); and a count per set of where its execution verdict will come from."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot.errors import ErrorLevel, SqlglotError

from harness.data.records import Example

# Most schema-only sets are written for MySQL or Postgres; sqlglot's own dialect last.
_DIALECTS = ("mysql", "postgres", None)

_NAME = r'(?:"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|[\w$]+)'
_HEAD = re.compile(
    rf"\bcreate\s+(?:temp(?:orary)?\s+)?table\s+(?:if\s+not\s+exists\s+)?{_NAME}(?:\s*\.\s*{_NAME})?\s*\(",
    re.IGNORECASE,
)
# What the body scan must step over whole (quoted text, comments) and the parentheses it counts.
_BODY_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/|[()]""",
                         re.DOTALL)


def create_table_statements(text: str) -> list[str]:
    """Each `CREATE TABLE name (...)` in `text`, cut at its balanced closing parenthesis, so
    separators, prose and dialect-only table options after it (`ENGINE=InnoDB`) stay out."""
    statements = []
    start = 0
    while head := _HEAD.search(text, start):
        end = _closing_parenthesis(text, head.end() - 1)
        if end is None:
            break
        statements.append(text[head.start():end])
        start = end
    return statements


def _closing_parenthesis(text: str, opening: int) -> int | None:
    """The index just past the parenthesis that closes the one at `opening` (None: never closed)."""
    depth = 0
    for token in _BODY_TOKEN.finditer(text, opening):
        if token.group() == "(":
            depth += 1
        elif token.group() == ")":
            depth -= 1
            if depth == 0:
                return token.end()
    return None


@lru_cache(maxsize=1024)  # the rows of one database repeat its schema
def find_schema(text: str) -> str | None:
    """The CREATE TABLE statements in `text` as one script SQLite builds (each statement as written,
    else as sqlglot rewrites it from MySQL or Postgres), or None when there are none or one of them
    builds in no reading: a schema missing a table would fail the gold, not judge the answer."""
    statements = create_table_statements(text)
    if not statements:
        return None
    conn = sqlite3.connect(":memory:")
    conn.set_authorizer(deny_outside_access)
    try:
        built = [_build(conn, statement) for statement in statements]
    finally:
        conn.close()
    if None in built:
        return None
    return ";\n".join(built) + ";"


def _build(conn: sqlite3.Connection, statement: str) -> str | None:
    """The first reading of `statement` that SQLite executes in `conn`."""
    for candidate in _readings(statement):
        try:
            conn.execute(candidate)
        except sqlite3.Error:
            continue
        return candidate
    return None


def _readings(statement: str) -> Iterator[str]:
    yield statement
    for dialect in _DIALECTS:
        try:
            rewritten = sqlglot.transpile(statement, read=dialect, write="sqlite", unsupported_level=ErrorLevel.IGNORE)
        except SqlglotError:
            continue
        if len(rewritten) == 1:
            yield rewritten[0]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # integer | real | text | date | bool, from SQLite's type-affinity rules
    nullable: bool
    primary_key: int = 0  # position in the primary key (1, 2, ...), 0 when not part of it


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]


def quote_identifier(name: str) -> str:
    """`name` as a SQLite identifier, whatever quotes or spaces it holds."""
    return '"' + name.replace('"', '""') + '"'


def column_kind(declared_type: str) -> str:
    """SQLite affinity of a declared type (datatype3.html §3.1), refined for dates and booleans."""
    t = declared_type.upper()
    if "INT" in t:
        return "integer"
    if any(s in t for s in ("CHAR", "CLOB", "TEXT")) or "BLOB" in t or not t:
        return "text"
    if any(s in t for s in ("REAL", "FLOA", "DOUB")):
        return "real"
    if "DATE" in t or "TIME" in t:
        return "date"
    return "bool" if "BOOL" in t else "real"  # NUMERIC, DECIMAL, ...


def read_tables(conn: sqlite3.Connection) -> list[Table]:
    """The user tables of a database with their columns' kinds, in creation order."""
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    tables = []
    for (name,) in conn.execute(query).fetchall():
        info = conn.execute(f"PRAGMA table_info({quote_identifier(name)})").fetchall()  # cid, name, type, notnull, dflt, pk
        columns = tuple(Column(r[1], column_kind(r[2] or ""), not (r[3] or r[5]), r[5]) for r in info)
        tables.append(Table(name, columns))
    return tables


def deny_outside_access(action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None) -> int:
    """SQLite authorizer for dataset DDL: it stays inside its in-memory database (no ATTACH,
    PRAGMA or extension loading)."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_PRAGMA):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "load_extension":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@dataclass(frozen=True)
class SchemaSources:
    """How many examples of a set are judged by SQL execution on a real database, on databases
    built from schema text, or not at all."""

    real_database: int
    schema_text: int
    none: int

    def describe(self) -> str:
        kinds = [(self.real_database, "SQL execution on real databases (+ neighbours)"),
                 (self.schema_text, "SQL execution on distilled test suites built from schema text (CREATE TABLE, no rows)"),
                 (self.none, "no database or schema: no execution metrics")]
        present = [(count, words) for count, words in kinds if count]
        if len(present) == 1:
            return present[0][1]
        return "; ".join(f"{words}: {count} rows" for count, words in present)


def schema_sources(examples: Iterable[Example]) -> SchemaSources:
    """Counted the way the SQL metric picks: a `db_path` first, then `schema` text with CREATE TABLE."""
    real = text = none = 0
    for ex in examples:
        if ex.meta.get("db_path"):
            real += 1
        elif isinstance(ex.meta.get("schema"), str) and create_table_statements(ex.meta["schema"]):
            text += 1
        else:
            none += 1
    return SchemaSources(real_database=real, schema_text=text, none=none)

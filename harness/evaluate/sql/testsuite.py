"""Random databases for execution match when a dataset gives only CREATE TABLE statements.

Test-suite accuracy (Zhong, Yu & Klein, EMNLP 2020): instead of one real database, build several
small random ones from the schema and call a prediction correct only if its result equals the
gold result on ALL of them (the comparison itself is `sql.execution_scores`). A single random
database would let wrong queries pass by luck (`x > 5` and `x >= 5` agree unless some row has
x = 5), so the constants of the gold query are planted in the data: every literal compared
with a column (`x > 5`, `name = 'Bob'`, `IN`, `BETWEEN`, `LIKE`) is inserted into that column,
numbers together with their neighbours (4, 5, 6), and all literals are sprinkled into columns of
a matching type. Values come from small pools so duplicates, NULLs and join partners occur.

This APPROXIMATES semantic equivalence: two different queries can agree on every generated
database (a test suite can only refute equivalence, never prove it), and a correct query can
disagree with a gold whose result depends on unspecified behaviour (LIMIT without ORDER BY over
ties). Databases depend only on (schema, gold, seed, index), never on the prediction, so base
and tuned models are judged on identical data.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from harness.evaluate.sandbox import harden
from harness.evaluate.sql.parse import COMPARISONS

_ROWS_PER_TABLE = (3, 12)  # rows per table in one database, drawn uniformly
_P_NULL, _P_PLANTED, _P_LOOSE = 0.1, 0.4, 0.1  # chance a cell is NULL / a column's constant / any constant
_WORDS = ("alpha", "beta", "gamma", "delta", "Alpha", "omega", "x", "New York")
# Two ways to instantiate a LIKE/GLOB pattern: wildcards matching nothing / something.
_PATTERN_FILLS = (
    str.maketrans({"%": "", "*": "", "_": "x", "?": "x"}),
    str.maketrans({"%": "zz", "*": "zz", "_": "y", "?": "y"}),
)



class SchemaError(ValueError):
    """The schema text does not build in SQLite (or defines no table)."""


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


@dataclass
class Constants:
    """Literals of the gold query: per compared column (lower-case name), and all of them."""

    by_column: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    loose: list = field(default_factory=list)


def _literal_value(literal: exp.Literal) -> str | int | float:
    """The Python value of a literal; a number under a unary minus is negated."""
    if literal.is_string:
        return literal.this
    for convert in (int, float):
        try:
            number = convert(literal.this)
        except ValueError:
            continue
        return -number if isinstance(literal.parent, exp.Neg) else number
    return literal.this  # e.g. a hex literal: plant its text


def _planted_values(value: str | float, like: bool) -> list:
    """What to insert for one constant: numbers with neighbours, LIKE/GLOB patterns instantiated."""
    if isinstance(value, str):
        if like:
            return [value.translate(table) for table in _PATTERN_FILLS]
        return [value]
    return [value - 1, value, value + 1]


def extract_constants(
    trees: Iterable[exp.Expr], planted_values: Callable[[str | float, bool], list] = _planted_values
) -> Constants:
    """Constants of the (parsed) gold alternatives, each expanded by `planted_values(value, like)`.

    LIMIT/OFFSET counts are not data, so skipped.
    """
    constants = Constants()
    for tree in trees:
        for literal in tree.find_all(exp.Literal):
            if literal.find_ancestor(exp.Limit, exp.Offset, exp.Fetch):
                continue
            node = literal.parent if isinstance(literal.parent, exp.Neg) else literal
            like = isinstance(node.parent, (exp.Like, exp.ILike, exp.Glob))
            planted = planted_values(_literal_value(literal), like)
            constants.loose.extend(planted)
            column = _compared_column(node)
            if column:
                constants.by_column[column].extend(planted)
    return constants


def _compared_column(node: exp.Expr) -> str | None:
    """Lower-case name of the column `node` is compared with (`col = node`, `col IN (.., node)`)."""
    parent = node.parent
    if isinstance(parent, COMPARISONS):
        other = parent.this if node is parent.expression else parent.expression
    elif isinstance(parent, (exp.In, exp.Between)) and node is not parent.this:
        other = parent.this
    else:
        return None
    if isinstance(other, exp.AggFunc) and isinstance(other.this, exp.Column):
        other = other.this  # `MAX(fee) < 590` plants 590 into fee
    return other.name.lower() if isinstance(other, exp.Column) else None


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


def _random_value(kind: str, rng: random.Random) -> str | int | float:
    if kind == "integer":
        return rng.randint(0, 20)
    if kind == "real":
        return round(rng.uniform(0, 100), rng.choice((0, 1, 2)))
    if kind == "date":
        return f"{rng.randint(1990, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if kind == "bool":
        return rng.randint(0, 1)
    return rng.choice(_WORDS)


def _fits(kind: str, value: object) -> bool:
    """Whether a loose constant is plausible in a column of this kind (strings go to text/date)."""
    return isinstance(value, str) == (kind in ("text", "date"))


def _cell(column: Column, planted: Sequence, loose: Sequence, rng: random.Random) -> object:
    roll = rng.random()
    if column.nullable and roll < _P_NULL:
        return None
    if planted and roll < _P_NULL + _P_PLANTED:
        return rng.choice(planted)
    if loose and roll < _P_NULL + _P_PLANTED + _P_LOOSE:
        return rng.choice(loose)
    return _random_value(column.kind, rng)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _deny_outside_access(action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None) -> int:
    # The schema is dataset text, executed as a script: keep it inside the in-memory database.
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH, sqlite3.SQLITE_PRAGMA):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "load_extension":
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _create_schema(schema: str) -> tuple[sqlite3.Connection, list[Table]]:
    """A fresh in-memory database with `schema` applied, and the tables it defines."""
    conn = sqlite3.connect(":memory:", isolation_level=None, cached_statements=0)
    conn.set_authorizer(_deny_outside_access)
    try:
        conn.executescript(schema)
    except sqlite3.Error as exc:
        conn.close()
        raise SchemaError(f"schema does not build in SQLite: {exc}") from exc
    conn.set_authorizer(None)
    tables = read_tables(conn)
    if not tables:
        conn.close()
        raise SchemaError("schema defines no table")
    return conn, tables


def schema_tables(schema: str) -> list[Table]:
    """The tables a CREATE TABLE script defines (raises SchemaError when it defines none)."""
    conn, tables = _create_schema(schema)
    conn.close()
    return tables


def read_tables(conn: sqlite3.Connection) -> list[Table]:
    """The user tables of a database with their columns' kinds, in creation order."""
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    tables = []
    for (name,) in conn.execute(query).fetchall():
        info = conn.execute(f"PRAGMA table_info({quote_identifier(name)})").fetchall()  # cid, name, type, notnull, dflt, pk
        columns = tuple(Column(r[1], column_kind(r[2] or ""), not (r[3] or r[5]), r[5]) for r in info)
        tables.append(Table(name, columns))
    return tables


def _fill(conn: sqlite3.Connection, tables: list[Table], constants: Constants, rng: random.Random) -> None:
    """Insert random rows; the first rows of each table carry every planted constant once."""
    for table in tables:
        planted = [constants.by_column.get(c.name.lower(), []) for c in table.columns]
        loose = [[v for v in constants.loose if _fits(c.kind, v)] for c in table.columns]
        n_rows = max(rng.randint(*_ROWS_PER_TABLE), max(map(len, planted), default=0))
        sql = (
            f"INSERT OR IGNORE INTO {quote_identifier(table.name)} ({', '.join(quote_identifier(c.name) for c in table.columns)}) "
            f"VALUES ({', '.join('?' * len(table.columns))})"
        )
        for i in range(n_rows):
            row = [
                p[i] if i < len(p) else _cell(c, p, lo, rng)
                for c, p, lo in zip(table.columns, planted, loose)
            ]
            with contextlib.suppress(sqlite3.Error):  # CHECK / STRICT type / NOT NULL violations: that row is simply not there
                conn.execute(sql, row)


def build_databases(
    schema: str, gold_trees: Sequence[exp.Expr], *, n_dbs: int = 5, seed: int = 0
) -> list[sqlite3.Connection]:
    """`n_dbs` hardened in-memory databases for `schema`, seeded with the gold trees' constants.

    Deterministic given (schema, gold, seed). `gold_trees` are the parsed gold alternatives (see
    `sql.parse_with_values`, which reads `"Bob"` as a string). Raises SchemaError.
    """
    constants = extract_constants(gold_trees)
    databases = []
    for i in range(n_dbs):
        conn, tables = _create_schema(schema)
        _fill(conn, tables, constants, random.Random(f"{seed}:{i}"))
        harden(conn)
        databases.append(conn)
    return databases

"""A schema's tables and a gold query's constants: what every database built for judging starts from.

`create_schema` applies dataset CREATE TABLE text in a fresh in-memory database (outside access
denied) and reads its tables (`harness.data.schema.read_tables`); `extract_constants` finds the
literals a gold compares columns with, which the generated suites (`testsuite.py`) and the
neighbours of real databases (`neighbours.py`) plant, each with its own neighbour values.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlglot import exp

from harness.data.schema import Table, deny_outside_access, read_tables
from harness.evaluate.sql.parse import COMPARISONS

_MAX_FILLED_WILDCARDS = 3  # a LIKE pattern with more `%` gets 2**3 fills, the rest stay empty
_EPSILON = 0.001  # beside a constant in a column of reals: `x > 7` vs `x >= 7.5`
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class SchemaError(ValueError):
    """The schema text does not build in SQLite (or defines no table)."""


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


def extract_constants(trees: Iterable[exp.Expr], planted_values: Callable[[str | float, bool], list]) -> Constants:
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


def neighbour_values(value: str | float, like: bool) -> list:
    """The constant and the values just beside it: ±1, ±0.5 and ±epsilon for numbers; for a LIKE
    pattern each `%` empty or filled; for a string, text before/after it, the other case, one
    character less, and the previous/next day of a date. Before column-kind filtering."""
    if not isinstance(value, str):
        return [value + d for d in (-1, -0.5, -_EPSILON, 0, _EPSILON, 0.5, 1)]
    if like:
        parts = value.split("%")
        fills = {""}
        for i, part in enumerate(parts[1:]):
            options = ("", "zz") if i < _MAX_FILLED_WILDCARDS else ("",)
            fills = {f + o + part for f in fills for o in options}
        fills = {parts[0] + f for f in fills}
        core = value.replace("%", "")
        return [f.replace("_", "y") for f in sorted(fills)] + _string_neighbours(core.replace("_", "y"))
    return _string_neighbours(value)


def _string_neighbours(text: str) -> list[str]:
    out = [text, "zz" + text, text + "zz", "zz" + text + "zz", text.swapcase(), text[:-1]]
    if DATE.match(text):
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            return out
        out += [(day + dt.timedelta(days=d)).isoformat() for d in (-1, 1)]
    return out


def create_schema(schema: str) -> tuple[sqlite3.Connection, list[Table]]:
    """A fresh in-memory database with `schema` applied, and the tables it defines."""
    conn = sqlite3.connect(":memory:", isolation_level=None, cached_statements=0)
    conn.set_authorizer(deny_outside_access)
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
    conn, tables = create_schema(schema)
    conn.close()
    return tables

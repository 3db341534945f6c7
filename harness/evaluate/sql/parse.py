"""Parsing one statement with sqlglot (SQLite dialect), the tree every metric reads."""

from __future__ import annotations

import logging
import re

import sqlglot
from sqlglot import exp

# Parse results that count as a SQL statement. sqlglot also accepts bare expressions ("hello"
# parses as a column) and wraps unknown statements in exp.Command; neither is valid SQL here.
_STATEMENT_TYPES = (exp.Query, exp.Values, exp.DML, exp.DDL, exp.Drop, exp.Alter, exp.Pragma)
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Glob)


class _DropCommandFallbackWarning(logging.Filter):
    """sqlglot warns each time it wraps unknown SQL in exp.Command; for us that is just 'invalid'."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Falling back to parsing as a 'Command'" not in record.getMessage()


_SQLGLOT_LOG = logging.getLogger("sqlglot")
_QUIET = _DropCommandFallbackWarning()


def parse(sql: str) -> exp.Expr | None:
    """`sql` parsed as one SQLite statement, or None if sqlglot cannot parse it as one."""
    _SQLGLOT_LOG.addFilter(_QUIET)
    try:
        trees = sqlglot.parse(sql, read="sqlite")
    except Exception:  # sqlglot raises assorted error types on garbage input; all mean "no parse"
        return None
    finally:
        _SQLGLOT_LOG.removeFilter(_QUIET)
    if len(trees) != 1 or not isinstance(trees[0], _STATEMENT_TYPES):
        return None
    return trees[0]


def _is_value_position(node: exp.Expr) -> bool:
    """Whether `node` sits where a value is compared with something (`x = _`, `x IN (_)`, ...)."""
    parent, key = node.parent, node.arg_key
    return (
        (isinstance(parent, COMPARISONS) and key == "expression")
        or (isinstance(parent, exp.In) and key == "expressions")
        or (isinstance(parent, exp.Between) and key in ("low", "high"))
    )


def _double_quoted_values_to_strings(tree: exp.Expr) -> exp.Expr:
    """Read `name = "Bob"` as the string 'Bob', not a column named Bob.

    SQLite itself falls back to a string when no such column exists, and benchmark gold (Spider,
    sql-create-context) uses double quotes for strings. Only an unqualified quoted name on the
    value side of a comparison/IN/BETWEEN is rewritten, so a real column compared with a quoted
    column on the right (`a = "b"`) would be misread; that form is rare in text-to-SQL.
    """
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        if not column.table and isinstance(ident, exp.Identifier) and ident.quoted and _is_value_position(column):
            column.replace(exp.Literal.string(ident.this))
    return tree


def parse_with_values(sql: str) -> exp.Expr | None:
    """`parse` plus the double-quoted-string rule; the tree every metric (and testsuite) reads."""
    tree = parse(sql)
    return None if tree is None else _double_quoted_values_to_strings(tree)


def parses(sql: str) -> bool:
    """`sql` is one syntactically valid SQL statement (sqlglot, sqlite dialect).

    sqlglot is somewhat more lenient than SQLite (it accepts e.g. a dangling `GROUP BY`), so
    this is an upper bound on validity; execution is the strict check where a database exists.
    """
    return parse(sql) is not None


# A plain tokenisation for SQL sqlglot cannot parse (normalisation and ORDER BY detection).
TOKEN = re.compile(
    r"""(?P<skip>\s+|--[^\n]*|/\*.*?(?:\*/|\Z))
      | (?P<string>'(?:[^']|'')*')
      | (?P<dquoted>"(?:[^"]|"")*")
      | (?P<ident>`[^`]*`|\[[^\]]*\])
      | (?P<word>[A-Za-z_][\w$]*)
      | (?P<op><>|!=|<=|>=|==|\|\||\S)""",
    re.VERBOSE | re.DOTALL,
)

"""A GBNF grammar of one SQLite SELECT over one schema: names can only be the schema's own.

Built per example from its database (`db_path`) or its CREATE TABLE text (`schema`). Table and
column names are alternatives taken from the schema, bare where SQLite allows it and quoted
("name", `name`, [name]) always; a column qualified by a table name must belong to that table.
Table aliases are one letter or a letter and a letter/digit, never a keyword (`AS on` would not
parse); which alias a qualifier names cannot be checked by a context-free grammar (aliases are
used before FROM declares them), so `x.col` only promises that `col` exists somewhere.

The subset covers the built-in set's and the hand-written benchmark's gold queries (a test
checks every one): SELECT [DISTINCT] columns/aggregates FROM table [JOIN ... ON ...] [WHERE
...] [GROUP BY ... [HAVING ...]] [ORDER BY ...] [LIMIT n], one level of subquery in WHERE.
Every list and literal is bounded, so a constrained answer always has an end the model can
reach within a few hundred tokens, and whitespace is one optional space where SQL allows it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from harness.data.records import Example
from harness.evaluate.constraints import Constraint
from harness.evaluate.sql.testsuite import SchemaError, Table, read_tables, schema_tables

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# SQLite keywords a bare name may not be (sqlite3 has no list of them; these are the ones a
# text-to-SQL schema plausibly uses, plus every two-letter one since aliases are that short).
_KEYWORDS = frozenset(
    "ABORT ACTION ADD AFTER ALL ALTER AND AS ASC BETWEEN BY CASE CAST CHECK COLLATE COLUMN CONSTRAINT "
    "CREATE CROSS DEFAULT DELETE DESC DISTINCT DO DROP ELSE END ESCAPE EXCEPT EXISTS FILTER FOR FOREIGN FROM "
    "FULL GLOB GROUP HAVING IF IN INDEX INNER INSERT INTERSECT INTO IS ISNULL JOIN KEY LEFT LIKE LIMIT "
    "MATCH NATURAL NO NOT NOTNULL NULL OF OFFSET ON OR ORDER OUTER OVER PRIMARY REFERENCES REGEXP RIGHT "
    "SELECT SET TABLE THEN TO TRANSACTION UNION UNIQUE UPDATE USING VALUES WHEN WHERE WINDOW WITH".split()
)

# The statement, with `{tables}` / `{columns}` / `{qualified}` filled in per schema. `sub-` rules
# are the one nested level: the same shape without a further subquery.
_TEMPLATE = r"""
root ::= select-clause ";"?
select-clause ::= core order-clause? limit-clause?
core ::= SELECT (" " DISTINCT)? " " results " " FROM " " source where-clause? group-clause?
results ::= "*" | result (sp "," sp result){0,5}
result ::= expr (" " AS " " alias)?
expr ::= operand (sp arith sp operand)?
arith ::= "+" | "-" | "*" | "/"
operand ::= column | literal | aggregate
aggregate ::= COUNT "(" sp "*" sp ")" | fn "(" sp (DISTINCT " ")? column sp ")"
fn ::= COUNT | SUM | AVG | MIN | MAX
source ::= table-ref (" " join-clause){0,3}
table-ref ::= table (" " (AS " ")? alias)?
join-clause ::= ((LEFT | INNER) " ")? JOIN " " table-ref " " ON " " column sp "=" sp column
where-clause ::= " " WHERE " " conditions
group-clause ::= " " GROUP " " BY " " column (sp "," sp column){0,2} (" " HAVING " " sub-conditions)?
order-clause ::= " " ORDER " " BY " " expr (" " (ASC | DESC))? (sp "," sp expr (" " (ASC | DESC))?){0,2}
limit-clause ::= " " LIMIT " " integer (" " OFFSET " " integer)?
conditions ::= condition (" " (AND | OR) " " condition){0,3}
condition ::= (NOT " ")? (predicate | "(" sp sub-conditions sp ")") | expr sp compare sp "(" sp sub-select sp ")" | expr " " (NOT " ")? IN sp "(" sp sub-select sp ")"
sub-select ::= SELECT (" " DISTINCT)? " " results " " FROM " " source (" " WHERE " " sub-conditions)? group-clause? order-clause? limit-clause?
sub-conditions ::= predicate (" " (AND | OR) " " predicate){0,3}
predicate ::= expr sp compare sp expr | expr " " (NOT " ")? IN sp "(" sp literal (sp "," sp literal){0,7} sp ")" | expr " " (NOT " ")? BETWEEN " " literal " " AND " " literal | expr " " (NOT " ")? LIKE " " string | expr " " IS " " (NOT " ")? NULL
compare ::= "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
literal ::= string | number | NULL
string ::= "'" ([^'\\\r\n] | "''"){0,48} "'"
number ::= "-"? integer ("." [0-9]{1,6})?
integer ::= [0-9]{1,9}
sp ::= " "?
column ::= qualified | bare-column
qualified ::= {qualified} | alias "." bare-column
table ::= {tables}
bare-column ::= {columns}
alias ::= {alias}
"""


def sql_select_grammar(tables: Sequence[Table]) -> str:
    """The GBNF grammar of one SELECT over `tables` (see the module docstring for the subset)."""
    keywords = sorted({word for word in re.findall(r"\b[A-Z]{2,}\b", _TEMPLATE) if word in _KEYWORDS
                       or word in ("COUNT", "SUM", "AVG", "MIN", "MAX")})
    all_columns = sorted({column.name for table in tables for column in table.columns})
    qualified = [f"{_names([table.name])} \".\" ({_names(c.name for c in table.columns)})" for table in tables]
    body = (_TEMPLATE.replace("{tables}", _names(t.name for t in tables))
            .replace("{columns}", _names(all_columns))
            .replace("{qualified}", " | ".join(f"({q})" for q in qualified))
            .replace("{alias}", _alias()))
    for word in keywords:  # lower-case rule names: llguidance reads upper-case ones as lexer tokens
        body = re.sub(rf"(?<![\w-]){word}(?![\w-])", f"kw-{word.lower()}", body)
    return body + "".join(f"kw-{word.lower()} ::= {_any_case(word)}\n" for word in keywords)


def tables_of(db_path: str | Path | None, schema: str | None) -> list[Table]:
    """The example's tables: from its database file, else from its CREATE TABLE text."""
    if db_path:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return read_tables(conn)
        finally:
            conn.close()
    return schema_tables(schema or "")


def _names(names) -> str:
    """Every way SQLite lets a query spell each name, as GBNF alternatives."""
    spellings: list[str] = []
    for name in names:
        if _BARE.fullmatch(name) and name.upper() not in _KEYWORDS:
            spellings.append(_literal(name))
        spellings += [_literal('"' + name.replace('"', '""') + '"'), _literal(f"`{name}`"), _literal(f"[{name}]")]
    return " | ".join(spellings)


def _alias() -> str:
    """A letter, or a letter and a letter/digit, never one of SQLite's two-letter keywords."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for first in letters:
        taken = {word[1].lower() for word in _KEYWORDS if len(word) == 2 and word[0].lower() == first}
        second = "".join(c for c in letters if c not in taken) + "0-9"
        out.append(f'"{first}" [{second}]?')
    return " | ".join(out)


def _any_case(word: str) -> str:
    return " ".join(f"[{c.upper()}{c.lower()}]" for c in word)


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SqlSchemaConstraint(Constraint):
    """One SELECT over the example's own schema: its `db_path` database, else its `schema` text."""

    def grammar(self, example: Example) -> str:
        db_path, schema = example.meta.get("db_path"), example.meta.get("schema")
        if not db_path and not (isinstance(schema, str) and schema.strip()):
            raise ValueError("no schema to constrain SQL to: give rows a db_path (or data.db_folder) or a CREATE TABLE 'schema' column")
        try:
            tables = tables_of(db_path, schema)
        except (sqlite3.Error, SchemaError) as exc:
            raise ValueError(f"cannot read its schema ({exc})") from None
        if not tables:
            raise ValueError(f"its database {db_path} has no table")
        return sql_select_grammar(tables)

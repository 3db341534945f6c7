"""A grammar of one SQLite SELECT over one schema: names can only be the schema's own.

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
from harness.data.schema import Table, read_tables
from harness.evaluate.constraints import Constraint
from harness.evaluate.sql.schema import SchemaError, schema_tables

_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# SQLite keywords a bare name may not be (sqlite3 has no list of them; these are the ones a
# text-to-SQL schema plausibly uses, plus every two-letter one since aliases are that short).
_KEYWORD_LIST = (
    "ABORT ACTION ADD AFTER ALL ALTER AND AS ASC BETWEEN BY CASE CAST CHECK COLLATE COLUMN CONSTRAINT "
    "CREATE CROSS DEFAULT DELETE DESC DISTINCT DO DROP ELSE END ESCAPE EXCEPT EXISTS FILTER FOR FOREIGN FROM "
    "FULL GLOB GROUP HAVING IF IN INDEX INNER INSERT INTERSECT INTO IS ISNULL JOIN KEY LEFT LIKE LIMIT "
    "MATCH NATURAL NO NOT NOTNULL NULL OF OFFSET ON OR ORDER OUTER OVER PRIMARY REFERENCES REGEXP RIGHT "
    "SELECT SET TABLE THEN TO TRANSACTION UNION UNIQUE UPDATE USING VALUES WHEN WHERE WINDOW WITH"
)
_KEYWORDS = frozenset(_KEYWORD_LIST.split())

# The statement in llguidance's Lark dialect: lower-case rules are parsed, upper-case terminals
# lexed. Names, keywords and literals are terminals; everything else stays a rule, so the grammar
# is never folded into one giant lexer regex. `{...}` parts are filled per schema; `sub_` rules
# are the one nested level, the same shape without a further subquery.
_TEMPLATE = r"""
start: select_clause ";"?
select_clause: core order_clause? limit_clause?
core: SELECT (" " DISTINCT)? " " results " " FROM " " source where_clause? group_clause?
results: "*" | result (sp "," sp result){0,5}
result: expr (" " AS " " ALIAS)?
expr: operand (sp ARITH sp operand)?
operand: column | literal | aggregate
aggregate: COUNT "(" sp "*" sp ")" | fn "(" sp (DISTINCT " ")? column sp ")"
fn: COUNT | SUM | AVG | MIN | MAX
source: table_ref (" " join_clause){0,3}
table_ref: TABLE (" " (AS " ")? ALIAS)?
join_clause: ((LEFT | INNER) " ")? JOIN " " table_ref " " ON " " column sp "=" sp column
where_clause: " " WHERE " " conditions
group_clause: " " GROUP " " BY " " column (sp "," sp column){0,2} (" " HAVING " " sub_conditions)?
order_clause: " " ORDER " " BY " " expr (" " (ASC | DESC))? (sp "," sp expr (" " (ASC | DESC))?){0,2}
limit_clause: " " LIMIT " " INTEGER (" " OFFSET " " INTEGER)?
conditions: condition (" " (AND | OR) " " condition){0,3}
condition: (NOT " ")? (predicate | "(" sp sub_conditions sp ")") | expr sp COMPARE sp "(" sp sub_select sp ")" | expr " " (NOT " ")? IN sp "(" sp sub_select sp ")"
sub_select: SELECT (" " DISTINCT)? " " results " " FROM " " source (" " WHERE " " sub_conditions)? group_clause? order_clause? limit_clause?
sub_conditions: predicate (" " (AND | OR) " " predicate){0,3}
predicate: expr sp COMPARE sp expr | expr " " (NOT " ")? IN sp "(" sp literal (sp "," sp literal){0,7} sp ")" | expr " " (NOT " ")? BETWEEN " " literal " " AND " " literal | expr " " (NOT " ")? LIKE " " STRING | expr " " IS " " (NOT " ")? NULL
literal: STRING | NUMBER | NULL
sp: " "?
column: {qualified} | ALIAS "." BARE_COLUMN | BARE_COLUMN
ARITH: "+" | "-" | "*" | "/"
COMPARE: "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
STRING: /'([^'\\\r\n]|''){0,48}'/
NUMBER: /-?[0-9]{1,9}(\.[0-9]{1,6})?/
INTEGER: /[0-9]{1,9}/
TABLE: {tables}
BARE_COLUMN: {columns}
ALIAS: /{alias}/
"""


_TERMINALS = {"ARITH", "COMPARE", "STRING", "NUMBER", "INTEGER", "TABLE", "ALIAS"}  # the upper-case words that are not keywords


def sql_select_grammar(tables: Sequence[Table]) -> str:
    """The Lark grammar (llguidance's dialect) of one SELECT over `tables` (subset: module docstring)."""
    keywords = sorted(set(re.findall(r"\b[A-Z]{2,}\b", _TEMPLATE)) - _TERMINALS)
    all_columns = sorted({column.name for table in tables for column in table.columns})
    qualified = [f'({_names([table.name])}) "." ({_names(c.name for c in table.columns)})' for table in tables]
    body = (_TEMPLATE.replace("{tables}", _names(t.name for t in tables))
            .replace("{columns}", _names(all_columns))
            .replace("{qualified}", " | ".join(qualified))
            .replace("{alias}", _alias()))
    # ASCII case classes, not Lark's "select"i: that folds Unicode too and let a model write 'ſelect'
    return body + "".join(f"{word}: /{''.join(f'[{c}{c.lower()}]' for c in word)}/\n" for word in keywords)


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
    """Every way SQLite lets a query spell each name, as Lark alternatives."""
    spellings: list[str] = []
    for name in names:
        if _BARE.fullmatch(name) and name.upper() not in _KEYWORDS:
            spellings.append(_literal(name))
        spellings += [_literal('"' + name.replace('"', '""') + '"'), _literal(f"`{name}`"), _literal(f"[{name}]")]
    return " | ".join(spellings)


def _alias() -> str:
    """A letter, or a letter and a letter/digit, never one of SQLite's two-letter keywords (a regex)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for first in letters:
        taken = {word[1].lower() for word in _KEYWORDS if len(word) == 2 and word[0].lower() == first}
        out.append(f"{first}[{''.join(c for c in letters if c not in taken)}0-9]?")
    return "|".join(out)


def _literal(text: str) -> str:
    """A Lark string literal."""
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

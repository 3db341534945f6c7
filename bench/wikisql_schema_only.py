"""WikiSQL rows as schema-only text-to-SQL pairs: CREATE TABLE text, a gold query, no rows.

Source: `tests/data/wikisql-sample.jsonl` (see tests/data/README.md), 300 rows of WikiSQL (Zhong,
Xiong & Socher, "Seq2SQL", 2017; BSD-3-Clause licence) in the one-field layout of the LoRA example
of Apple's mlx-examples (MIT License): `table: <id>\\ncolumns: c1, c2, ...\\nQ: ...\\nA: SELECT ...`.
Its SQL is WikiSQL's canonical form, unquoted (`SELECT COUNT Fleet Series (Quantity) FROM
1-10007452-3 WHERE Fuel Propulsion = 'CNG'`), which no database runs. This module rewrites it the
way sql-create-context (the source of the seed's Llama-2-SQL data) did: one CREATE TABLE per table
id with its columns, identifiers quoted, every column VARCHAR except one some gold compares with a
number (REAL); the gold with its identifiers quoted (matched greedily against the known column
list), `COUNT col` as `COUNT("col")` and MAX/MIN/SUM/AVG likewise, numbers left unquoted. Rows that
do not convert, or whose gold does not run on the empty schema, are dropped and counted.

Benchmark code: the product never imports it. `python -m bench.wikisql_schema_only --json PATH`
writes the conversion (tests/test_sql_suite_schema_only.py runs it and checks the pairs).
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlglot

SAMPLE = Path(__file__).resolve().parent.parent / "tests" / "data" / "wikisql-sample.jsonl"
AGGREGATES = ("COUNT", "MAX", "MIN", "SUM", "AVG")  # WikiSQL writes them upper-case, without parentheses
OPERATORS = (">=", "<=", "!=", "=", ">", "<")  # two-character ones first
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


@dataclass(frozen=True)
class Condition:
    column: str
    operator: str
    value: str  # a number's text, or a string's text without its quotes
    numeric: bool


@dataclass(frozen=True)
class Query:
    """One WikiSQL gold, read: SELECT [aggregate] column FROM table [WHERE c op v AND ...]."""

    aggregate: str | None
    column: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Row:
    table: str
    columns: tuple[str, ...]
    question: str
    sql: str  # WikiSQL's canonical, unquoted form


@dataclass
class Conversion:
    """The converted pairs and what was dropped on the way."""

    rows: int = 0
    not_read: int = 0  # the gold does not parse against its table's column list
    not_running: int = 0  # the converted gold fails on the empty schema (or its CREATE TABLE does)
    pairs: list[dict] = field(default_factory=list)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def read_rows(path: Path = SAMPLE) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        table_line, columns_line, question_line, answer_line = text.split("\n", 3)
        rows.append(
            Row(
                table=table_line.removeprefix("table: "),
                columns=tuple(columns_line.removeprefix("columns: ").split(", ")),
                question=question_line.removeprefix("Q: ").strip(),
                sql=answer_line.removeprefix("A: ").strip(),
            )
        )
    return rows


def parse(row: Row) -> Query | None:
    """The canonical gold read against the table's columns; None when it does not fit them."""
    head, from_table, rest = row.sql.partition(f" FROM {row.table}")
    if not from_table or not head.startswith("SELECT "):
        return None
    selected = head.removeprefix("SELECT ")
    aggregate, column = None, selected if selected in row.columns else None
    if column is None:
        word, _, remainder = selected.partition(" ")
        if word in AGGREGATES and remainder in row.columns:
            aggregate, column = word, remainder
    if column is None:
        return None
    if not rest:
        return Query(aggregate, column, ())
    if not rest.startswith(" WHERE "):
        return None
    conditions = _conditions(rest.removeprefix(" WHERE "), row.columns)
    return None if conditions is None else Query(aggregate, column, conditions)


def _conditions(text: str, columns: tuple[str, ...]) -> tuple[Condition, ...] | None:
    """`c op v AND c op v ...`: each column the longest known one the text starts with; a string
    value ends at the quote that is followed by the end or by ` AND <column> <op>` (WikiSQL does not
    escape quotes inside values: 'Patrick O'Bryant')."""
    out: list[Condition] = []
    while text:
        start = _column_and_operator(text, columns)
        if start is None:
            return None
        column, operator, text = start
        if text.startswith("'"):
            end = next(
                (i for i in range(1, len(text)) if text[i] == "'" and _ends_value(text[i + 1 :], columns)), None
            )
            if end is None:
                return None
            value, numeric, text = text[1:end], False, text[end + 1 :]
        else:
            value, _, text = text.partition(" AND ")
            text = " AND " + text if text else ""
            if not _NUMBER.fullmatch(value):
                return None
            numeric = True
        out.append(Condition(column, operator, value, numeric))
        text = text.removeprefix(" AND ")
    return tuple(out)


def _column_and_operator(text: str, columns: tuple[str, ...]) -> tuple[str, str, str] | None:
    """(column, operator, text after `op `) for the longest column `text` starts with, followed by an operator."""
    for column in sorted((c for c in columns if text.startswith(c + " ")), key=len, reverse=True):
        after = text[len(column) + 1 :]
        operator = next((op for op in OPERATORS if after.startswith(op + " ")), None)
        if operator is not None:
            return column, operator, after[len(operator) + 1 :]
    return None


def _ends_value(after: str, columns: tuple[str, ...]) -> bool:
    return after == "" or (after.startswith(" AND ") and _column_and_operator(after[5:], columns) is not None)


def create_table(table: str, columns: tuple[str, ...], numeric: set[str]) -> str:
    types = ", ".join(f"{quote(c)} {'REAL' if c in numeric else 'VARCHAR'}" for c in columns)
    return f"CREATE TABLE {quote(table)} ({types})"


def to_sqlite(query: Query, table: str) -> str:
    selected = quote(query.column) if query.aggregate is None else f"{query.aggregate}({quote(query.column)})"
    sql = f"SELECT {selected} FROM {quote(table)}"
    if query.conditions:
        sql += " WHERE " + " AND ".join(
            f"{quote(c.column)} {c.operator} {c.value if c.numeric else _string(c.value)}" for c in query.conditions
        )
    return sql


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _runs_on_empty_schema(schema: str, sql: str) -> bool:
    try:
        sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return False
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(schema)
        conn.execute(sql).fetchall()
        return True
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def convert(path: Path = SAMPLE) -> Conversion:
    """Every row of `path` that converts and runs, as a pair: id, question, sql, schema, db_id.

    A column is REAL when any gold over its table compares it with a number, so two questions
    over one table share one schema text (the swapped-gold wrong answers rely on that).
    """
    rows = read_rows(path)
    result = Conversion(rows=len(rows))
    read = [(i, row, parse(row)) for i, row in enumerate(rows)]
    numeric: dict[str, set[str]] = defaultdict(set)
    columns: dict[str, tuple[str, ...]] = {}
    for _, row, query in read:
        columns.setdefault(row.table, row.columns)  # a table's first row names its columns
        if query is not None:
            numeric[row.table].update(c.column for c in query.conditions if c.numeric)
    for i, row, query in read:
        if query is None or row.columns != columns[row.table]:
            result.not_read += 1
            continue
        schema = create_table(row.table, row.columns, numeric[row.table]) + ";"
        sql = to_sqlite(query, row.table)
        if not _runs_on_empty_schema(schema, sql):
            result.not_running += 1
            continue
        result.pairs.append({"id": f"wikisql-{i:03d}", "question": row.question, "sql": sql, "schema": schema,
                             "db_id": row.table})
    return result


def main() -> None:
    p = argparse.ArgumentParser(description="WikiSQL rows as schema-only text-to-SQL pairs")
    p.add_argument("--json", type=Path, metavar="PATH", required=True, help="write the conversion (counts and pairs) here")
    args = p.parse_args()
    args.json.write_text(json.dumps(asdict(convert()), indent=1) + "\n")


if __name__ == "__main__":
    main()

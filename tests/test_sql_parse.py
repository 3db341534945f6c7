"""Parsing and validity (harness.evaluate.sql.parse)."""

from __future__ import annotations

import pytest

from harness.evaluate.sql.parse import parse_with_values, parses


@pytest.mark.parametrize(
    "sql, valid",
    [
        ("SELECT a FROM t", True),
        ("WITH x AS (SELECT 1) SELECT * FROM x", True),
        ("SELECT a FROM t UNION SELECT b FROM u", True),
        ("hello", False),  # sqlglot alone would read this as a column
        ("SELECT FROM", False),
        ("SELECT * FROM t WHERE", False),
        ("The answer is 42", False),
        ("", False),
    ],
)
def test_parses(sql: str, valid: bool) -> None:
    assert parses(sql) is valid


def test_double_quotes_read_as_string_only_in_value_position() -> None:
    tree = parse_with_values('SELECT "name" FROM singer WHERE country = "France"')
    assert tree.sql(dialect="sqlite") == "SELECT \"name\" FROM singer WHERE country = 'France'"

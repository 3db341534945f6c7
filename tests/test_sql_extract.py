"""Cutting model output into statements (harness.evaluate.sql.extract)."""

from __future__ import annotations

import pytest

from harness.evaluate.sql.extract import extract_sql, split_statements


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("SELECT a FROM t;", "SELECT a FROM t"),
        ("  select a from t  ", "select a from t"),
        ("```sql\nSELECT a FROM t;\n```\nThis selects a.", "SELECT a FROM t"),
        ("Here is the query:\n```\nSELECT a FROM t\n```", "SELECT a FROM t"),
        ("SELECT a FROM t\n```\nmore text", "SELECT a FROM t"),  # closing fence echoed from the prompt
        ("SQL: SELECT a FROM t; DROP TABLE t", "SELECT a FROM t"),
        ("SELECT ';' FROM t; SELECT 2", "SELECT ';' FROM t"),  # ; inside a string is not the end
        ('SELECT "a;b" FROM t WHERE x = \'it\'\';s\'; junk', "SELECT \"a;b\" FROM t WHERE x = 'it'';s'"),
        ("```SQL\nSQL: select 2;\n```", "select 2"),
        ("", ""),
        ("```\n```", ""),
    ],
)
def test_extract_sql(raw: str, expected: str) -> None:
    assert extract_sql(raw) == expected


def test_split_statements_ignores_comments_and_empty_pieces() -> None:
    gold = "SELECT a FROM t; SELECT a FROM t ORDER BY a; -- trailing ; comment\n;"
    assert split_statements(gold) == ["SELECT a FROM t", "SELECT a FROM t ORDER BY a"]

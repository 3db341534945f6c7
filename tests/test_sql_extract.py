"""Cutting model output into statements (harness.evaluate.sql.extract)."""

from __future__ import annotations

import pytest

from harness.evaluate.sql.extract import answer_is_final, extract_sql, split_statements


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


# Answers in the styles models write, and text that could follow any point of them: a decoder that
# stops where `answer_is_final` says so must extract what it would have extracted from any longer text.
ANSWERS = [
    "SELECT a FROM t; This returns every a.",
    "SQL: select count(*) from t where x = 'a;b'; -- done",
    "SELECT \"x;y\" FROM t WHERE n = 'it''s' ; SELECT 2;",
    "SELECT a -- a comment; still the same statement\nFROM t;\nExplanation follows.",
    "SELECT a /* ; */ FROM t; more",
    "Here is the query; it counts rows:\n```sql\nSELECT COUNT(*) FROM t;\n```\nand a second ```sql\nSELECT 1\n```",
    "```sqlite\nSELECT b FROM u\n```\n```sql\nSELECT c FROM v\n```",
    "SELECT a FROM t\n```\nmore text; and more",
    "Sure! SELECT a FROM t; is the answer.",
    "select a from t where name = 'O",
]
CONTINUATIONS = ["", ";", " x;", "'", "'; SELECT 9;", "\n```sql\nSELECT 7;\n```", "```", "`", "-- ;\n", "*/;",
                 " WHERE 1; ", "\nSQL: SELECT 3;"]


@pytest.mark.parametrize("answer", ANSWERS)
def test_a_final_answer_extracts_the_same_sql_whatever_follows(answer: str) -> None:
    final_at = [k for k in range(len(answer) + 1) if answer_is_final(answer[:k])]
    for k in final_at:
        assert answer_is_final(answer[: k + 1] if k < len(answer) else answer)  # final stays final
        for more in CONTINUATIONS:
            assert extract_sql(answer[:k] + more) == extract_sql(answer[:k]), (answer[:k], more)


@pytest.mark.parametrize(
    "prefix, final",
    [
        ("SELECT a FROM t;", True),
        ("SELECT a FROM t", False),  # the statement may go on
        ("SELECT a FROM t WHERE x = ';", False),  # inside a string
        ("SELECT a -- note;", False),  # inside a comment
        ("SELECT a /* ; */", False),
        ("SQL: SELECT 1;", True),
        ("SELECT a FROM t\n```", True),  # a fence ends an answer that opened with SQL
        ("Here you go;", False),  # prose: a fenced block may still come
        ("Here you go:\n```sql\nSELECT 1;", False),  # the fenced block is still open
        ("Here you go:\n```sql\nSELECT 1;\n```", True),
        ("", False),
        ("sel", False),
    ],
)
def test_answer_is_final(prefix: str, final: bool) -> None:
    assert answer_is_final(prefix) is final


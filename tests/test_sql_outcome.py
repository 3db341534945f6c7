"""Error taxonomy: one class per answer, each class reached by a real answer (harness.evaluate.sql.outcome)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.data.records import Example
from harness.evaluate.sql.metric import SqlMetric
from harness.evaluate.sql.outcome import OUTCOMES

GOLD = "SELECT name FROM singer WHERE age > 30"
INFINITE = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("", "outcome_no_sql"),
        ("I am sorry, I cannot write that query.", "outcome_no_sql"),
        ("SELECT name FROM singer WHERE", "outcome_parse_error"),
        ("SELECT name FROM singer WHERE age >> > 30", "outcome_parse_error"),
        ("SELECT name FROM singers WHERE age > 30", "outcome_unknown_name"),
        ("SELECT nom FROM singer WHERE age > 30", "outcome_unknown_name"),
        ("SELECT abs(-9223372036854775807 - 1) FROM singer", "outcome_runtime_error"),  # integer overflow
        ("DELETE FROM singer", "outcome_runtime_error"),  # not authorized: the sandbox is read-only
        (INFINITE, "outcome_timeout"),
        ("SELECT s.name FROM singer AS s, singer, singer AS t, singer AS u, song", "outcome_timeout"),  # row cap
        ("SELECT name FROM singer", "outcome_wrong_result"),
        ("SELECT name FROM singer WHERE age > 31", "outcome_wrong_result"),
        ("SELECT name FROM singer WHERE 30 < age", "outcome_correct"),
    ],
)
def test_every_answer_gets_exactly_its_class(concert_db: Path, answer: str, expected: str) -> None:
    example = Example("1", "q", GOLD, {"db_path": str(concert_db)})
    scores = SqlMetric(timeout_s=0.3, max_rows=100).score(answer, example)
    classes = {key: scores[key] for key in OUTCOMES}
    assert classes == {key: float(key == expected) for key in OUTCOMES}


def test_correct_is_the_headline_verdict(concert_db: Path) -> None:
    """`>= 7.5` agrees with `> 7` on the real singers, not on neighbours planted with 7.001 and 7.5."""
    example = Example("1", "q", "SELECT name FROM singer WHERE score > 7", {"db_path": str(concert_db)})
    scores = SqlMetric().score("SELECT name FROM singer WHERE score >= 7.5", example)
    assert scores["execution_match"] == 1.0
    assert scores["execution_suite"] == 0.0 and scores["outcome_wrong_result"] == 1.0

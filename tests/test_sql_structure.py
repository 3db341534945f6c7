"""Structural match on canonical trees (harness.evaluate.sql.structure)."""

from __future__ import annotations

import pytest

from harness.evaluate.sql.structure import structural_match


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("SELECT T1.Name FROM Singer AS T1", "select name from singer"),
        (
            "SELECT name FROM singer WHERE age > 30 AND country = 'France'",
            'SELECT name FROM singer WHERE country = "France" AND age > 30',
        ),
        (
            "SELECT s.name FROM singer s JOIN song ON song.singer_id = s.id",
            "SELECT singer.name FROM singer INNER JOIN song ON singer.id = song.singer_id",
        ),
        ("SELECT count(*) AS n FROM singer ORDER BY n ASC", "SELECT COUNT(*) FROM singer ORDER BY COUNT(*)"),
        ("SELECT name FROM singer WHERE (age > 30)", "SELECT name FROM singer WHERE age > 30"),
        (
            "SELECT a FROM t AS T1 WHERE T1.x IN (SELECT T1.y FROM u AS T1)",  # T1 means 2 tables
            "SELECT t.a FROM t WHERE t.x IN (SELECT u.y FROM u)",
        ),
        ("SELECT a FROM t LEFT OUTER JOIN u ON t.id = u.id", "SELECT a FROM t LEFT JOIN u ON u.id = t.id"),
    ],
)
def test_structural_match_equal(pred: str, gold: str) -> None:
    assert structural_match(pred, gold)


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("SELECT name FROM singer WHERE age >= 30", "SELECT name FROM singer WHERE age > 30"),
        ("SELECT age, name FROM singer", "SELECT name, age FROM singer"),  # column order is structure
        ("SELECT count(name) FROM singer", "SELECT count(*) FROM singer"),
        ("SELECT name FROM singer WHERE country = 'france'", "SELECT name FROM singer WHERE country = 'France'"),
        ("SELECT name FROM singer ORDER BY age DESC", "SELECT name FROM singer ORDER BY age"),
        (  # self-join: which copy of t is filtered matters
            "SELECT a FROM t AS x JOIN t AS y ON x.id = y.pid WHERE x.v = 1",
            "SELECT a FROM t AS x JOIN t AS y ON x.id = y.pid WHERE y.v = 1",
        ),
        ("SELECT Notes FROM 1-1000181-1", "SELECT Notes FROM 1-1000181-1"),  # unparseable never matches
    ],
)
def test_structural_match_not_equal(pred: str, gold: str) -> None:
    assert not structural_match(pred, gold)


def test_structural_match_any_alternative() -> None:
    gold = "SELECT a FROM t WHERE x = 1; SELECT a FROM t WHERE y = 2"
    assert structural_match("select A from T where 2 = y", gold)
    assert not structural_match("select a from t where y = 3", gold)

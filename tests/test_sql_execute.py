"""Execution match on a real database file (harness.evaluate.sql.execute)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sql_helpers import executes, execution_match, execution_match_subset

# ---------------------------------------------------------------------------- execution


def test_executes(concert_db: Path) -> None:
    assert executes("SELECT name FROM singer", concert_db)
    assert not executes("SELECT nope FROM singer", concert_db)
    assert not executes("DELETE FROM singer", concert_db)


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("SELECT name FROM singer WHERE NOT age <= 30", "SELECT name FROM singer WHERE age > 30"),
        ("SELECT age, name FROM singer", "SELECT name, age FROM singer"),  # column order ignored
        ("SELECT name FROM singer ORDER BY name DESC", "SELECT name FROM singer"),  # no gold ORDER BY
        ("SELECT name FROM singer ORDER BY age, name", "SELECT name FROM singer ORDER BY age, id"),
        ("SELECT 1.0 / 3", "SELECT 0.3333333333"),  # within relative 1e-6
        ("SELECT 2", "SELECT 2.0"),  # integer vs real
        ("SELECT avg(age) FROM singer", "SELECT sum(age) * 1.0 / count(*) FROM singer"),
        ("SELECT name FROM singer WHERE age > 100", "SELECT name FROM singer WHERE age > 200"),  # empty == empty
        ("SELECT name FROM singer WHERE country = \"France\"", "SELECT name FROM singer WHERE country = 'France'"),
        ("SELECT country FROM singer", "SELECT country FROM singer ORDER BY 1 DESC; SELECT country FROM singer"),
    ],
)
def test_execution_match(concert_db: Path, pred: str, gold: str) -> None:
    assert execution_match(pred, gold, concert_db)


@pytest.mark.parametrize(
    "pred, gold",
    [
        ("SELECT name FROM singer ORDER BY age DESC", "SELECT name FROM singer ORDER BY age"),  # order matters
        ("SELECT DISTINCT country FROM singer", "SELECT country FROM singer"),  # duplicates count
        ("SELECT country FROM singer", "SELECT DISTINCT country FROM singer"),
        ("SELECT country FROM singer", "SELECT name FROM singer"),  # wrong column
        ("SELECT 0.33", "SELECT 0.3333"),  # beyond tolerance
        ("SELECT '2'", "SELECT 2"),  # text is not a number
        ("SELECT name FROM singer WHERE age > 100", "SELECT name FROM singer WHERE age > 30"),  # empty vs non-empty
        ("SELECT name, age FROM singer", "SELECT name FROM singer"),  # extra column: subset variant only
        ("SELECT nope FROM singer", "SELECT name FROM singer"),  # error
        ("SELECT name FROM singer; DROP TABLE singer", "SELECT name FROM singer"),  # not extracted: 2 statements
    ],
)
def test_execution_mismatch(concert_db: Path, pred: str, gold: str) -> None:
    assert not execution_match(pred, gold, concert_db)


def test_execution_match_subset_allows_extra_columns_only(concert_db: Path) -> None:
    gold = "SELECT name FROM singer WHERE age > 30"
    assert execution_match_subset("SELECT age, name, country FROM singer WHERE age > 30", gold, concert_db)
    assert not execution_match("SELECT age, name, country FROM singer WHERE age > 30", gold, concert_db)
    assert not execution_match_subset("SELECT age FROM singer WHERE age > 30", gold, concert_db)
    assert not execution_match_subset("SELECT name FROM singer", "SELECT name, age FROM singer", concert_db)


def test_execution_match_float_tolerance_is_configurable(concert_db: Path) -> None:
    assert execution_match("SELECT 0.33", "SELECT 0.3333", concert_db, float_tol=0.02)
    assert not execution_match("SELECT 0.33", "SELECT 0.3333", concert_db)


def test_unusable_gold_never_matches(concert_db: Path) -> None:
    assert not execution_match("SELECT nope FROM singer", "SELECT nope FROM singer", concert_db)



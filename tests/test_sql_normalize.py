"""Exact match after normalisation (harness.evaluate.sql.normalize)."""

from __future__ import annotations

from harness.evaluate.sql.normalize import exact_match, normalize_sql
from harness.evaluate.sql.parse import parses


def test_normalize_sql_collapses_spelling_only() -> None:
    a = 'select  name\n from singer where country = "France";'
    b = "SELECT name FROM singer WHERE country = 'France'"
    assert normalize_sql(a) == normalize_sql(b) == "SELECT name FROM singer WHERE country = 'France'"
    assert exact_match(a, b)
    assert not exact_match(a, "SELECT name FROM singer WHERE country = 'Peru'")
    assert not exact_match("SELECT Name FROM singer", "SELECT name FROM singer")  # identifier case kept


def test_normalize_sql_falls_back_to_tokens_when_sqlglot_cannot_parse() -> None:
    pred = 'select Notes from 1-1000181-1 where Current slogan = "SOUTH AUSTRALIA";'
    gold = "SELECT Notes FROM 1-1000181-1 WHERE Current slogan = 'SOUTH AUSTRALIA'"  # WikiSQL-style
    assert not parses(gold)
    assert normalize_sql(pred) == normalize_sql(gold)
    assert exact_match(pred, gold)
    assert not exact_match(pred.replace("SOUTH", "NORTH"), gold)


def test_exact_match_accepts_any_gold_alternative() -> None:
    gold = "SELECT a FROM t; SELECT a FROM t ORDER BY a"
    assert exact_match("select a from t order by a", gold)
    assert not exact_match("SELECT a FROM t ORDER BY a DESC", gold)
    assert not exact_match("", gold)

"""Distilled test suites for CREATE-TABLE-only schemas (harness.evaluate.sql.testsuite)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sql_helpers import suite_execution_match

from harness.data.records import Example
from harness.evaluate.sandbox import QueryResult
from harness.evaluate.sql import SqlMetric, testsuite
from harness.evaluate.sql.schema import SchemaError
from harness.results import ExecutionBasis

SCHEMA = "CREATE TABLE head (head_id INTEGER, name VARCHAR, age INTEGER, born_state VARCHAR)"
SHOP = """
CREATE TABLE owners (owner_id INTEGER PRIMARY KEY, name TEXT, city TEXT);
CREATE TABLE dogs (dog_id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owners(owner_id), name TEXT, age INTEGER);
"""


def test_suite_distinguishes_boundary_constants() -> None:
    gold = "SELECT name FROM head WHERE age > 56"
    assert suite_execution_match("SELECT name FROM head WHERE 56 < age", gold, SCHEMA)
    assert not suite_execution_match("SELECT name FROM head WHERE age >= 56", gold, SCHEMA)
    assert not suite_execution_match("SELECT name FROM head WHERE age > 57", gold, SCHEMA)
    assert not suite_execution_match("SELECT name FROM head", gold, SCHEMA)


def test_suite_plants_string_constants_written_with_double_quotes() -> None:
    gold = 'SELECT COUNT(*) FROM head WHERE born_state = "Ohio"'
    count_ids = "SELECT count(head_id) FROM head WHERE born_state = 'Ohio'"
    assert not suite_execution_match(count_ids, gold, SCHEMA)  # NULL ids are planted too
    assert suite_execution_match("SELECT count(*) FROM head WHERE born_state = 'Ohio'", gold, SCHEMA)
    assert not suite_execution_match("SELECT count(*) FROM head WHERE born_state = 'ohio'", gold, SCHEMA)
    assert not suite_execution_match("SELECT count(*) FROM head WHERE born_state <> 'Ohio'", gold, SCHEMA)
    assert not suite_execution_match("SELECT count(*) FROM head WHERE born_state LIKE '%Ohio'", gold, SCHEMA)


def test_every_suite_database_makes_the_gold_informative() -> None:
    gold = "SELECT T1.name FROM owners AS T1 JOIN dogs AS T2 ON T1.owner_id = T2.owner_id GROUP BY T1.name HAVING count(*) >= 3"
    suite = testsuite.distil(SHOP, gold)
    assert len(suite.databases) >= testsuite.MIN_SUITE
    for conn in testsuite.open_suite(SHOP, suite):
        rows = conn.execute(gold).fetchall()
        assert rows and any(v is not None for row in rows for v in row)
    assert suite.told_apart >= suite.mutants - 1  # DISTINCT over the grouped name changes nothing


def test_suite_honours_foreign_keys_so_joins_find_partners() -> None:
    suite = testsuite.distil(SHOP, "SELECT T2.name FROM owners AS T1 JOIN dogs AS T2 ON T1.owner_id = T2.owner_id WHERE T1.city = 'Oslo'")
    for conn in testsuite.open_suite(SHOP, suite):
        owners = {r[0] for r in conn.execute("SELECT owner_id FROM owners")}
        assert {r[0] for r in conn.execute("SELECT owner_id FROM dogs WHERE owner_id IS NOT NULL")} <= owners


def test_suite_is_deterministic_and_seeded() -> None:
    gold = "SELECT name FROM head WHERE age > 56 AND born_state = 'Ohio'"
    assert testsuite.distil(SCHEMA, gold, seed=0) == testsuite.distil(SCHEMA, gold, seed=0)
    assert testsuite.distil(SCHEMA, gold, seed=0).databases != testsuite.distil(SCHEMA, gold, seed=1).databases


def test_a_gold_empty_by_construction_is_uninformative_and_judges_nothing() -> None:
    gold = "SELECT name FROM head WHERE age > 5 AND age < 3"
    suite = testsuite.distil(SCHEMA, gold)
    assert not suite.judges and suite.informative == 0
    metric, example = SqlMetric(), Example("1", "q", gold, {"schema": SCHEMA})
    for answer in (gold, "SELECT name FROM head WHERE 1 = 0", "SELECT name FROM head"):
        scores = metric.score(answer, example)
        assert scores["execution_match"] is None and scores["execution_suite"] is None
        assert scores["outcome_correct"] is None
    assert metric.score("SELECT nope FROM head", example)["executable"] == 0.0  # still run for its error
    assert metric.judged_by(example) is ExecutionBasis.UNINFORMATIVE


@pytest.mark.parametrize(
    ("rows", "informative"),
    [((), False), (((None,),), False), (((0,),), False), (((None, 0),), False), (((0,), (0,)), True), (((3,),), True),
     ((("x",),), True)],
)
def test_informative_results(rows: tuple, informative: bool) -> None:
    assert testsuite.informative(QueryResult(("c",), rows)) is informative


def test_suite_cache_round_trips_and_rebuilds_stale_files(tmp_path: Path) -> None:
    gold = "SELECT name FROM head WHERE age > 56"
    cache = testsuite.SuiteCache(tmp_path)
    suite = testsuite.distil(SCHEMA, gold)
    cache.save(SCHEMA, gold, 0, suite)
    assert cache.load(SCHEMA, gold, 0) == suite
    assert cache.load(SCHEMA, gold, 1) is None
    cache.path(SCHEMA, gold, 0).write_text('{"version": 0}')
    assert cache.load(SCHEMA, gold, 0) is None
    cache.path(SCHEMA, gold, 0).write_text("not json")
    assert cache.load(SCHEMA, gold, 0) is None


def test_metric_reuses_the_suite_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = Example("1", "q", "SELECT name FROM head WHERE age > 56", {"schema": SCHEMA})
    first = SqlMetric(suite_cache=tmp_path).score("SELECT name FROM head WHERE age >= 56", example)
    assert len(list(tmp_path.glob("*.json"))) == 1
    monkeypatch.setattr(testsuite, "distil", lambda *a, **k: pytest.fail("rebuilt a cached suite"))
    again = SqlMetric(suite_cache=tmp_path).score("SELECT name FROM head WHERE age >= 56", example)
    assert again == first and again["execution_suite"] == 0.0


def test_suite_bad_schema_raises_schema_error() -> None:
    with pytest.raises(SchemaError):
        testsuite.distil("CREATE TABLE (", "SELECT 1")
    with pytest.raises(SchemaError):
        testsuite.distil("-- no tables", "SELECT 1")


def test_schema_cannot_reach_outside_its_database(tmp_path: Path) -> None:
    outside = tmp_path / "outside.sqlite"
    with pytest.raises(SchemaError):
        testsuite.distil(f"ATTACH '{outside}' AS o; CREATE TABLE t (a INT)", "SELECT a FROM t")
    assert not outside.exists()
    with pytest.raises((SchemaError, sqlite3.Error)):
        testsuite.distil("CREATE TABLE t (a INT); PRAGMA writable_schema = ON", "SELECT a FROM t")


def test_without_mutants_to_distil_against_the_generated_rows_still_catch_near_misses(monkeypatch) -> None:
    """Out-of-sample: with no mutant to steer the distillation, rows that meet every condition of the
    gold but one (a value beside each constant in turn) still tell near-miss answers from the gold."""
    monkeypatch.setattr(testsuite, "mutants", lambda tree, tables=(): [])
    schema = "CREATE TABLE courses (id INTEGER PRIMARY KEY, title TEXT, level TEXT, credits INTEGER)"
    gold = "SELECT MAX(credits) FROM courses WHERE level = 'advanced'"
    metric, example = SqlMetric(), Example("1", "q", gold, {"schema": schema})
    assert metric.score(gold, example)["execution_suite"] == 1.0
    for near_miss in ("SELECT MAX(credits) FROM courses WHERE level LIKE 'advanced%'",
                      "SELECT MAX(credits) FROM courses WHERE level LIKE '%advanced'"):
        assert metric.score(near_miss, example)["execution_suite"] == 0.0, near_miss

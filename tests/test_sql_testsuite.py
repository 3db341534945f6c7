"""Databases generated from a CREATE TABLE schema (harness.evaluate.sql.testsuite)."""

from __future__ import annotations

import pytest
from sql_helpers import suite_execution_match

from harness.evaluate.sql.parse import parse_with_values
from harness.evaluate.sql.testsuite import SchemaError, build_databases

# ---------------------------------------------------------------------------- test-suite mode

SCHEMA = "CREATE TABLE head (head_id INTEGER, name VARCHAR, age INTEGER, born_state VARCHAR)"


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


def test_suite_databases_contain_gold_constants_and_are_deterministic() -> None:
    trees = [parse_with_values('SELECT name FROM head WHERE age > 56 AND born_state = "Ohio"')]
    first, again = build_databases(SCHEMA, trees, n_dbs=3, seed=0), build_databases(SCHEMA, trees, n_dbs=3, seed=0)
    other = build_databases(SCHEMA, trees, n_dbs=3, seed=1)
    dump = lambda conn: conn.execute("SELECT * FROM head").fetchall()
    assert [dump(c) for c in first] == [dump(c) for c in again]
    assert [dump(c) for c in first] != [dump(c) for c in other]
    for conn in first:
        assert {55, 56, 57} <= {r[0] for r in conn.execute("SELECT age FROM head")}
        assert conn.execute("SELECT count(*) FROM head WHERE born_state = 'Ohio'").fetchone()[0] >= 1


def test_suite_bad_schema_raises_schema_error() -> None:
    with pytest.raises(SchemaError):
        build_databases("CREATE TABLE (", [], n_dbs=1)
    with pytest.raises(SchemaError):
        build_databases("-- no tables", [], n_dbs=1)



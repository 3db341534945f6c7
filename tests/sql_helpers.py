"""One-call execution checks over a database file or a schema; only tests need them."""

from __future__ import annotations

from pathlib import Path

from harness.evaluate.sandbox import run_query
from harness.evaluate.sql.compare import REL_TOL, Tolerance
from harness.evaluate.sql.execute import Databases, execute

TIMEOUT_S, MAX_ROWS = 2.0, 10_000


def executes(sql: str, db_path: str | Path) -> bool:
    """`sql` runs without error (or timeout) on the database, read-only."""
    return run_query(db_path, sql, timeout_s=TIMEOUT_S, max_rows=1).error is None


def execution_match(pred: str, gold: str, db_path: str | Path, *, float_tol: float = REL_TOL) -> bool:
    """`pred` returns the same result as some gold alternative on the SQLite file `db_path`."""
    dbs = Databases.from_file(db_path, timeout_s=TIMEOUT_S, max_rows=MAX_ROWS)
    return bool(execute(pred, gold, dbs, Tolerance(rel=float_tol)).match)


def execution_match_subset(pred: str, gold: str, db_path: str | Path) -> bool:
    """`execution_match` where pred may return extra columns (gold columns ⊆ pred columns)."""
    dbs = Databases.from_file(db_path, timeout_s=TIMEOUT_S, max_rows=MAX_ROWS)
    return bool(execute(pred, gold, dbs).match_subset)


def suite_execution_match(pred: str, gold: str, schema: str) -> bool:
    """`execution_suite` for a CREATE-TABLE-only schema: agree on every database of its distilled suite."""
    dbs = Databases.from_schema(schema, gold, seed=0, timeout_s=TIMEOUT_S, max_rows=MAX_ROWS)
    return bool(execute(pred, gold, dbs).suite)

"""SqlMetric: every SQL score of one answer (harness.evaluate.sql.metric)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.data.records import Example
from harness.evaluate.sql import execute
from harness.evaluate.sql.metric import SqlMetric
from harness.evaluate.sql.outcome import OUTCOMES

SCHEMA = "CREATE TABLE head (head_id INTEGER, name VARCHAR, age INTEGER, born_state VARCHAR)"

# ---------------------------------------------------------------------------- the metric

KEYS = {
    "exact_match", "structural_match", "valid_sql", "executable", "execution_match", "execution_match_subset",
    "execution_suite", *OUTCOMES,
}


def test_metric_on_database_file(concert_db: Path) -> None:
    ex = Example("1", "q", "SELECT name FROM singer WHERE age > 30", {"db_path": str(concert_db)})
    scores = SqlMetric().score("```sql\nSELECT name, age FROM singer WHERE age > 30;\n```", ex)
    assert set(scores) == KEYS
    assert scores == {
        "exact_match": 0.0,
        "structural_match": 0.0,
        "valid_sql": 1.0,
        "executable": 1.0,
        "execution_match": 0.0,
        "execution_match_subset": 1.0,
        "execution_suite": 0.0,
        **dict.fromkeys(OUTCOMES, 0.0),
        "outcome_wrong_result": 1.0,
    }
    perfect = SqlMetric().score("SQL: select name from singer where age > 30;", ex)
    assert {k for k, v in perfect.items() if v == 1.0} == KEYS - set(OUTCOMES) | {"outcome_correct"}
    assert {k for k, v in perfect.items() if v != 1.0} == set(OUTCOMES) - {"outcome_correct"}


def test_metric_without_database_gives_none_for_execution() -> None:
    ex = Example("1", "q", "SELECT a FROM t", {})
    scores = SqlMetric().score("SELECT a FROM t", ex)
    assert scores["exact_match"] == 1.0
    assert scores["executable"] is None and scores["execution_match"] is None
    assert scores["execution_match_subset"] is None and scores["execution_suite"] is None
    assert {scores[k] for k in OUTCOMES} == {None}  # right or wrong cannot be told without a database


def test_metric_in_test_suite_mode() -> None:
    ex = Example("1", "q", "SELECT name FROM head WHERE age > 56", {"schema": SCHEMA})
    metric = SqlMetric()
    wrong = metric.score("SELECT name FROM head WHERE age >= 56", ex)
    assert wrong["execution_suite"] == 0.0
    right = metric.score("SELECT name FROM head WHERE NOT age <= 56", ex)
    assert right["execution_match"] == right["execution_suite"] == 1.0
    broken = Example("2", "q", "SELECT 1", {"schema": "CREATE TABLE (oops"})
    assert metric.score("SELECT 1", broken)["execution_match"] is None


def test_metric_gold_error_gives_none_but_pred_still_judged_executable(concert_db: Path) -> None:
    ex = Example("1", "q", "SELECT nope FROM singer", {"db_path": str(concert_db)})
    scores = SqlMetric().score("SELECT name FROM singer", ex)
    assert scores["execution_match"] is None and scores["executable"] == 1.0
    assert SqlMetric().score("garbage", ex)["executable"] == 0.0


def test_metric_runs_each_gold_once(concert_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = execute.run_query

    def counting(path, sql, **kw):
        calls.append(sql)
        return real(path, sql, **kw)

    monkeypatch.setattr(execute, "run_query", counting)
    metric = SqlMetric()
    ex = Example("1", "q", "SELECT name FROM singer", {"db_path": str(concert_db)})
    metric.score("SELECT name FROM singer", ex)  # base
    metric.score("SELECT country FROM singer", ex)  # tuned
    assert calls.count("SELECT name FROM singer") == 2  # gold once + base once, not gold twice more
    assert len(calls) == 3


def test_sql_scoring_imports_without_torch() -> None:
    """Scoring answers produced elsewhere must not pay for (or need) the model stack."""
    code = "import sys, harness.evaluate.sql; assert 'torch' not in sys.modules, 'torch imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

"""Execution match: run prediction and gold on the same databases and compare their results."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.evaluate.sandbox import QueryResult, run_on_connection, run_query
from harness.evaluate.sql import testsuite
from harness.evaluate.sql.compare import DEFAULT_TOLERANCE, Tolerance, has_top_level_order_by, results_match
from harness.evaluate.sql.extract import split_statements
from harness.evaluate.sql.parse import parse_with_values

Runner = Callable[[str], QueryResult]
EXECUTION_KEYS = ("executable", "execution_match", "execution_match_subset")


@dataclass
class Databases:
    """Where one example's SQL runs: a database file, or the generated test-suite databases.

    Gold results are cached per gold statement, since the same gold is scored for base and
    tuned outputs.
    """

    runners: list[Runner]
    gold_results: dict[str, list[QueryResult]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, db_path: str | Path, *, timeout_s: float, max_rows: int) -> Databases:
        return cls([functools.partial(run_query, db_path, timeout_s=timeout_s, max_rows=max_rows)])

    @classmethod
    def from_schema(
        cls, schema: str, gold: str, *, n_dbs: int, seed: int, timeout_s: float, max_rows: int
    ) -> Databases:
        """Test-suite databases for `schema`, seeded with the constants of every gold alternative."""
        trees = [t for t in map(parse_with_values, split_statements(gold)) if t is not None]
        connections = testsuite.build_databases(schema, trees, n_dbs=n_dbs, seed=seed)
        return cls(
            [functools.partial(run_on_connection, c, timeout_s=timeout_s, max_rows=max_rows) for c in connections]
        )

    def gold(self, sql: str) -> list[QueryResult]:
        if sql not in self.gold_results:
            self.gold_results[sql] = [run(sql) for run in self.runners]
        return self.gold_results[sql]


def execution_scores(pred: str, gold: str, dbs: Databases, tol: Tolerance = DEFAULT_TOLERANCE) -> dict[str, bool | None]:
    """`executable`, `execution_match` and `execution_match_subset` for one prediction.

    A prediction matches a gold alternative when their results agree on EVERY database in `dbs`
    (one for a file, several for a test suite). Gold alternatives that fail on some database
    are ignored; when none is usable the match keys are None (the example cannot be judged).
    """
    pred_results = [run(pred) for run in dbs.runners]
    gold_runs = [(g, dbs.gold(g)) for g in split_statements(gold)]
    usable = [(g, results) for g, results in gold_runs if all(r.ok for r in results)]

    def matches(subset: bool) -> bool | None:
        if not usable:
            return None
        return any(
            all(
                results_match(g, p, ordered=has_top_level_order_by(sql), subset=subset, tol=tol)
                for g, p in zip(results, pred_results)
            )
            for sql, results in usable
        )

    return {
        "executable": all(r.error is None for r in pred_results),
        "execution_match": matches(subset=False),
        "execution_match_subset": matches(subset=True),
    }


"""SqlMetric: every SQL score of one answer (exact, structural, valid, execution)."""

from __future__ import annotations

import re
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Generic, TypeVar

from harness.data.records import Example
from harness.evaluate.sandbox import QueryResult
from harness.evaluate.scorer import Scorer
from harness.evaluate.sql import neighbours, testsuite
from harness.evaluate.sql.compare import ABS_TOL, REL_TOL, Tolerance
from harness.evaluate.sql.execute import EXECUTION_KEYS, Databases, execute
from harness.evaluate.sql.extract import answer_is_final, extract_sql
from harness.evaluate.sql.normalize import exact_match, normalize_sql
from harness.evaluate.sql.outcome import classify, one_hot
from harness.evaluate.sql.parse import parses
from harness.evaluate.sql.schema import SchemaError
from harness.evaluate.sql.structure import structural_match
from harness.results import ExecutionBasis

_CREATE_TABLE = re.compile(r"\bcreate\s+table\b", re.IGNORECASE)


class SqlMetric(Scorer):
    """All SQL scores for one example: exact/structural/valid always, execution where possible.

    The database is `example.meta["db_path"]` when present: `execution_match` judges on it
    alone, `execution_suite` (the headline) also on `n_neighbours` neighbour databases derived
    from it and the gold (`neighbours.py`). Else, when `example.meta["schema"]` holds CREATE
    TABLE text, on a test suite distilled from the schema and the gold (`testsuite.py`):
    `execution_match` on its first database, `execution_suite` on all of them; where the gold
    is uninformative on every generated database, both are None. Else the execution keys are
    None. `judged_by` says which of these an example got. Every answer also gets one
    `outcome_*` class (`outcome.py`). Neighbour copies are cached per database file, planted
    rows, suites and gold results per (source, gold), so base and tuned answers to the same
    example cost one build; `suite_cache` keeps distilled suites on disk for later runs.
    Not thread-safe (caches and SQLite connections are per instance).
    """

    name = "sql"

    def __init__(
        self,
        *,
        float_tol: float = REL_TOL,
        abs_tol: float = ABS_TOL,
        timeout_s: float = 2.0,
        max_rows: int = 10_000,
        n_neighbours: int = neighbours.N_NEIGHBOURS,
        seed: int = 0,
        cache_size: int = 1024,
        files_cached: int = 8,
        suite_cache: Path | None = None,
    ) -> None:
        self.tol = Tolerance(float_tol, abs_tol)
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.suite_cache = testsuite.SuiteCache(suite_cache) if suite_cache is not None else None
        self.n_neighbours = n_neighbours
        self.seed = seed
        self._databases: _Lru[tuple, Databases | None] = _Lru(cache_size)
        self._neighbours: _Lru[str, list[neighbours.Neighbour]] = _Lru(files_cached)

    def score(self, prediction: str, example: Example) -> dict[str, float | None]:
        pred, gold = extract_sql(prediction), example.answer
        scores: dict[str, bool | None] = {
            "exact_match": exact_match(pred, gold),
            "structural_match": structural_match(pred, gold),
            "valid_sql": parses(pred),
        }
        dbs = self._databases_for(example)
        if dbs is None:
            scores.update(dict.fromkeys(EXECUTION_KEYS))
            outcome = classify(pred, [], None)  # only 'no SQL' is knowable without a database
        else:
            run = execute(pred, gold, dbs, self.tol)
            scores.update(run.scores())
            outcome = classify(pred, run.pred_results, run.suite)
        return {k: None if v is None else float(v) for k, v in scores.items()} | one_hot(outcome)

    def judged_by(self, example: Example) -> ExecutionBasis:
        dbs = self._databases_for(example)
        return ExecutionBasis.NO_SCHEMA if dbs is None else dbs.basis

    def answer_is_final(self, prediction: str) -> bool:
        return answer_is_final(prediction)  # every score reads only extract_sql(prediction)

    def answer_key(self, prediction: str, example: Example) -> Hashable | None:
        """The rows the answer's SQL returns (a multiset per database, numbers within the
        tolerance) on the example's own database, or, for CREATE TABLE text, on every database of
        its distilled suite (a schema alone has no rows; the suite is built from the gold's
        constants, not its result). SQL that is missing, fails or hits the row cap anywhere there
        counts for nothing. Without a database or schema: the normalised SQL text."""
        pred = extract_sql(prediction)
        if not pred:
            return None
        dbs = self._databases_for(example)
        if dbs is None:
            return normalize_sql(pred)
        where = dbs.runners if dbs.basis is ExecutionBasis.REAL_DATABASE else dbs.every
        results = [run(pred) for run in where]
        if not all(result.ok for result in results):
            return None
        return tuple(self._rows_key(result) for result in results)

    def _rows_key(self, result: QueryResult) -> tuple:
        """A result's rows in an order of their own (a multiset), values rounded as `Tolerance` compares them."""
        return tuple(sorted(tuple(self.tol.coarse(value) for value in row) for row in result.rows or ()))

    def _databases_for(self, example: Example) -> Databases | None:
        db_path, schema = example.meta.get("db_path"), example.meta.get("schema")
        if db_path:
            key: tuple = ("file", str(db_path), example.answer)  # planted rows follow the gold
        elif isinstance(schema, str) and _CREATE_TABLE.search(schema):
            key = ("schema", schema, example.answer)  # the suite is seeded with gold's constants
        else:
            return None
        return self._databases.get(key, self._build)

    def _build(self, key: tuple) -> Databases | None:
        kind, source, gold = key
        options = {"seed": self.seed, "timeout_s": self.timeout_s, "max_rows": self.max_rows}
        if kind == "file":
            bases = self._neighbours.get(source, self._build_neighbours)
            return Databases.with_neighbours(source, gold, bases, **options)
        try:
            return Databases.from_schema(source, gold, cache=self.suite_cache, **options)
        except SchemaError:
            return None  # schema does not build in SQLite: execution cannot be judged

    def _build_neighbours(self, db_path: str) -> list[neighbours.Neighbour]:
        try:
            return neighbours.build_neighbours(db_path, n=self.n_neighbours, seed=self.seed)
        except sqlite3.Error:
            return []  # no readable database: the gold fails too, so nothing is judged


K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A bounded mapping that builds missing values and forgets the least recently used."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, build: Callable[[K], V]) -> V:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = self.items[key] = build(key)
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return value

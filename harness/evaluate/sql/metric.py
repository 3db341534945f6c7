"""SqlMetric: every SQL score of one answer (exact, structural, valid, execution)."""

from __future__ import annotations

import re
from collections import OrderedDict

from harness.data.records import Example
from harness.evaluate.metric import Metric
from harness.evaluate.sql import testsuite
from harness.evaluate.sql.compare import ABS_TOL, REL_TOL, Tolerance
from harness.evaluate.sql.execute import EXECUTION_KEYS, Databases, execution_scores
from harness.evaluate.sql.extract import extract_sql
from harness.evaluate.sql.normalize import exact_match
from harness.evaluate.sql.parse import parses
from harness.evaluate.sql.structure import structural_match

_CREATE_TABLE = re.compile(r"\bcreate\s+table\b", re.IGNORECASE)


class SqlMetric(Metric):
    """All SQL scores for one example: exact/structural/valid always, execution where possible.

    The database is `example.meta["db_path"]` when present; else, when `example.meta["schema"]`
    holds CREATE TABLE text, `n_test_dbs` generated test-suite databases; else the execution
    keys are None. Not thread-safe (caches and SQLite connections are per instance).
    """

    name = "sql"

    def __init__(
        self,
        *,
        float_tol: float = REL_TOL,
        abs_tol: float = ABS_TOL,
        timeout_s: float = 2.0,
        max_rows: int = 10_000,
        n_test_dbs: int = 5,
        seed: int = 0,
        cache_size: int = 256,
    ) -> None:
        self.tol = Tolerance(float_tol, abs_tol)
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.n_test_dbs = n_test_dbs
        self.seed = seed
        self.cache_size = cache_size
        self._databases: OrderedDict[tuple, Databases | None] = OrderedDict()

    def score(self, prediction: str, example: Example) -> dict[str, float | None]:
        pred, gold = extract_sql(prediction), example.answer
        scores: dict[str, bool | None] = {
            "exact_match": exact_match(pred, gold),
            "structural_match": structural_match(pred, gold),
            "valid_sql": parses(pred),
        }
        dbs = self._databases_for(example)
        scores.update(execution_scores(pred, gold, dbs, self.tol) if dbs else dict.fromkeys(EXECUTION_KEYS))
        return {k: None if v is None else float(v) for k, v in scores.items()}

    def _databases_for(self, example: Example) -> Databases | None:
        """Cached `Databases` for the example (LRU, `cache_size` entries)."""
        db_path, schema = example.meta.get("db_path"), example.meta.get("schema")
        if db_path:
            key: tuple = ("file", str(db_path))
        elif isinstance(schema, str) and _CREATE_TABLE.search(schema):
            key = ("schema", schema, example.answer)  # the suite is seeded with gold's constants
        else:
            return None
        if key in self._databases:
            self._databases.move_to_end(key)
            return self._databases[key]
        self._databases[key] = self._build(key)
        if len(self._databases) > self.cache_size:
            self._databases.popitem(last=False)
        return self._databases[key]

    def _build(self, key: tuple) -> Databases | None:
        if key[0] == "file":
            return Databases.from_file(key[1], timeout_s=self.timeout_s, max_rows=self.max_rows)
        try:
            _, schema, gold = key
            return Databases.from_schema(
                schema, gold, n_dbs=self.n_test_dbs, seed=self.seed, timeout_s=self.timeout_s, max_rows=self.max_rows
            )
        except testsuite.SchemaError:
            return None  # schema does not build in SQLite: execution cannot be judged

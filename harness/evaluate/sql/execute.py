"""Execution match: run prediction and gold on the same databases and compare their results."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.evaluate.sandbox import QueryResult, run_on_connection, run_query
from harness.evaluate.sql import neighbours, testsuite
from harness.evaluate.sql.compare import DEFAULT_TOLERANCE, Tolerance, has_top_level_order_by, results_match
from harness.evaluate.sql.determined import Runner, result_is_determined
from harness.evaluate.sql.extract import split_statements
from harness.evaluate.sql.parse import parse_with_values
from harness.results import ExecutionBasis

EXECUTION_KEYS = ("executable", "execution_match", "execution_match_subset", "execution_suite")


@dataclass
class Databases:
    """Where one example's SQL runs, with gold results cached (base and tuned share the gold).

    `runners` are the databases `execution_match` judges on: a real file, or the first database
    of a suite distilled from CREATE TABLE text. `neighbours` are the extra databases only the
    test-suite verdict `execution_suite` adds (`neighbours.py` for a real file, the rest of the
    suite for a schema). `basis` says which; an UNINFORMATIVE one judges nothing.
    """

    runners: list[Runner]
    neighbours: list[Runner] = field(default_factory=list)
    basis: ExecutionBasis = ExecutionBasis.REAL_DATABASE
    gold_results: dict[str, list[QueryResult]] = field(default_factory=dict)
    gold_determined: dict[str, list[bool]] = field(default_factory=dict)

    @classmethod
    def from_file(cls, db_path: str | Path, *, timeout_s: float, max_rows: int) -> Databases:
        return cls([functools.partial(run_query, db_path, timeout_s=timeout_s, max_rows=max_rows)])

    @classmethod
    def with_neighbours(
        cls, db_path: str | Path, gold: str, bases: list[neighbours.Neighbour], *, seed: int, timeout_s: float, max_rows: int
    ) -> Databases:
        """The real file plus its neighbours, each with the rows this gold plants (seeded by the gold)."""
        trees = _gold_trees(gold)
        planted = [
            neighbours.plan_rows(b, trees, random.Random(f"{seed}:{i}:{gold}"), exact_first=i % 2 == 0)
            for i, b in enumerate(bases)
        ]
        run = functools.partial(neighbours.run_planted, timeout_s=timeout_s, max_rows=max_rows)
        return cls(
            [functools.partial(run_query, db_path, timeout_s=timeout_s, max_rows=max_rows)],
            [functools.partial(run, b, p) for b, p in zip(bases, planted)],
        )

    @classmethod
    def from_schema(
        cls, schema: str, gold: str, *, seed: int, timeout_s: float, max_rows: int, cache: testsuite.SuiteCache | None = None
    ) -> Databases:
        """The distilled test suite for `schema` and `gold` (`testsuite.py`): its first database is
        the one `execution_match` judges on, the others are the suite's further databases. Raises
        SchemaError."""
        suite = cache.load(schema, gold, seed) if cache is not None else None
        if suite is None:
            suite = testsuite.distil(schema, gold, seed=seed, timeout_s=timeout_s, max_rows=max_rows)
            if cache is not None:
                cache.save(schema, gold, seed, suite)
        runners = [
            functools.partial(run_on_connection, c, timeout_s=timeout_s, max_rows=max_rows)
            for c in testsuite.open_suite(schema, suite)
        ]
        basis = ExecutionBasis.SCHEMA_SUITE if suite.judges else ExecutionBasis.UNINFORMATIVE
        return cls(runners[:1], runners[1:], basis=basis)

    @property
    def every(self) -> list[Runner]:
        return self.runners + self.neighbours

    def gold(self, sql: str) -> list[QueryResult]:
        """The gold's result on every database (`runners`, then `neighbours`)."""
        if sql not in self.gold_results:
            self.gold_results[sql] = [run(sql) for run in self.every]
        return self.gold_results[sql]

    def determined(self, sql: str) -> list[bool]:
        """Per neighbour: whether the gold's result there is fixed by the query (`determined.py`)."""
        if sql not in self.gold_determined:
            results = self.gold(sql)[len(self.runners) :]
            self.gold_determined[sql] = [
                result_is_determined(sql, result, run) for run, result in zip(self.neighbours, results)
            ]
        return self.gold_determined[sql]


def _gold_trees(gold: str) -> list:
    return [t for t in map(parse_with_values, split_statements(gold)) if t is not None]


@dataclass(frozen=True)
class Execution:
    """What running one prediction told: its results and the verdicts (None: cannot judge)."""

    pred_results: list[QueryResult]
    executable: bool
    match: bool | None
    match_subset: bool | None
    suite: bool | None

    def scores(self) -> dict[str, bool | None]:
        return dict(zip(EXECUTION_KEYS, (self.executable, self.match, self.match_subset, self.suite)))


def execute(pred: str, gold: str, dbs: Databases, tol: Tolerance = DEFAULT_TOLERANCE) -> Execution:
    """Run `pred` everywhere in `dbs` and judge it against every gold alternative.

    `match`: results agree on EVERY database in `dbs.runners` (one for a file, several for a
    generated suite). `suite`: `match` and they also agree on every neighbour, skipping
    neighbours where the gold's own result is not determined (`Databases.determined`), so
    `suite` never accepts what `match` rejects. Gold alternatives that fail on some `runners` database are
    ignored; when none is usable, or the suite is uninformative, the verdicts are None (the example
    cannot be judged).
    """
    pred_results = [run(pred) for run in dbs.every]
    n_runners = len(dbs.runners)
    everywhere = list(range(n_runners))
    judged = dbs.basis is not ExecutionBasis.UNINFORMATIVE
    usable = [g for g in split_statements(gold) if judged and all(r.ok for r in dbs.gold(g)[:n_runners])]

    def agrees(sql: str, where: list[int], subset: bool) -> bool:
        ordered, golds = has_top_level_order_by(sql), dbs.gold(sql)
        return all(results_match(golds[i], pred_results[i], ordered=ordered, subset=subset, tol=tol) for i in where)

    def suite_dbs(sql: str) -> list[int]:
        return everywhere + [n_runners + i for i, ok in enumerate(dbs.determined(sql)) if ok]

    def verdict(where: Callable[[str], list[int]], subset: bool = False) -> bool | None:
        return any(agrees(g, where(g), subset) for g in usable) if usable else None

    return Execution(
        pred_results=pred_results,
        executable=all(r.error is None for r in pred_results[:n_runners]),
        match=verdict(lambda _: everywhere),
        match_subset=verdict(lambda _: everywhere, subset=True),
        suite=verdict(suite_dbs),
    )

"""Execution match: run prediction and gold on the same databases and compare their results."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlglot import exp

from harness.evaluate.sandbox import QueryResult, run_on_connection, run_query
from harness.evaluate.sql import neighbours, testsuite
from harness.evaluate.sql.compare import DEFAULT_TOLERANCE, Tolerance, has_top_level_order_by, results_match
from harness.evaluate.sql.extract import split_statements
from harness.evaluate.sql.parse import parse_with_values

Runner = Callable[..., QueryResult]  # (sql, *, reverse_unordered=False) -> result
EXECUTION_KEYS = ("executable", "execution_match", "execution_match_subset", "execution_suite")


@dataclass
class Databases:
    """Where one example's SQL runs, with gold results cached (base and tuned share the gold).

    `runners` are the databases `execution_match` judges on: a real file, or the databases
    generated from a CREATE TABLE schema. `neighbours` are the extra databases only the
    test-suite verdict `execution_suite` adds (see `neighbours.py`).
    """

    runners: list[Runner]
    neighbours: list[Runner] = field(default_factory=list)
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
        cls, schema: str, gold: str, *, n_dbs: int, seed: int, timeout_s: float, max_rows: int
    ) -> Databases:
        """Test-suite databases for `schema`, seeded with the constants of every gold alternative."""
        connections = testsuite.build_databases(schema, _gold_trees(gold), n_dbs=n_dbs, seed=seed)
        return cls(
            [functools.partial(run_on_connection, c, timeout_s=timeout_s, max_rows=max_rows) for c in connections]
        )

    @property
    def every(self) -> list[Runner]:
        return self.runners + self.neighbours

    def gold(self, sql: str) -> list[QueryResult]:
        """The gold's result on every database (`runners`, then `neighbours`)."""
        if sql not in self.gold_results:
            self.gold_results[sql] = [run(sql) for run in self.every]
        return self.gold_results[sql]

    def determined(self, sql: str) -> list[bool]:
        """Per neighbour: whether the gold's result there is fixed by the query itself.

        Not so when it depends on unspecified row order: LIMIT without ORDER BY (the result
        changes when SQLite scans tables backwards), or ORDER BY with ties that decide which
        rows are kept or in what order they come. A correct answer could return another result
        there, so such a neighbour cannot judge this gold.
        """
        if sql not in self.gold_determined:
            ordered = has_top_level_order_by(sql)
            results = self.gold(sql)[len(self.runners) :]
            self.gold_determined[sql] = [
                result.ok
                and results_match(result, run(sql, reverse_unordered=True), ordered=ordered)
                and (not ordered or _ties_resolved(sql, run))
                for run, result in zip(self.neighbours, results)
            ]
        return self.gold_determined[sql]


def _gold_trees(gold: str) -> list:
    return [t for t in map(parse_with_values, split_statements(gold)) if t is not None]


def _ties_query(sql: str) -> tuple[str, int, int | None, int] | None:
    """`sql` without LIMIT/OFFSET and with its ORDER BY keys appended to the output, plus
    (number of output columns, limit, offset); None when the query is not a plain SELECT."""
    tree = parse_with_values(sql)
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    if order is None:
        return None
    outputs = tree.expressions
    aliases = {e.alias: e.this for e in outputs if isinstance(e, exp.Alias)}
    keys = []
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Literal) and key.is_int and 0 < int(key.this) <= len(outputs):
            key = outputs[int(key.this) - 1].unalias()
        elif isinstance(key, exp.Column) and not key.table and key.name in aliases:
            key = aliases[key.name]
        keys.append(key.copy())
    limit, offset = tree.args.get("limit"), tree.args.get("offset")
    limit_n = _int_literal(limit.expression) if limit is not None else None
    offset_n = _int_literal(offset.expression) if offset is not None else 0
    if (limit is not None and limit_n is None) or offset_n is None:
        return None
    probe = tree.copy()
    probe.set("limit", None)
    probe.set("offset", None)
    probe.set("expressions", [e.copy() for e in outputs] + keys)
    return probe.sql(dialect="sqlite"), len(outputs), limit_n, offset_n


def _int_literal(node: exp.Expr | None) -> int | None:
    return int(node.this) if isinstance(node, exp.Literal) and node.is_int else None


def _ties_resolved(sql: str, run: Runner) -> bool:
    """No returned row has an ORDER BY tie with a row that differs from it (kept or not)."""
    probe = _ties_query(sql)
    if probe is None:
        return True  # compound or unusual query: only the reverse-scan check applies
    probe_sql, width, limit, offset = probe
    result = run(probe_sql)
    if not result.ok:
        return True
    outputs_by_key: dict[tuple, set[tuple]] = {}
    for row in result.rows:
        outputs_by_key.setdefault(row[width:], set()).add(row[:width])
    window = result.rows[offset:] if limit is None else result.rows[offset : offset + limit]
    return all(len(outputs_by_key[row[width:]]) == 1 for row in window)


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
    ignored; when none is usable the verdicts are None (the example cannot be judged).
    """
    pred_results = [run(pred) for run in dbs.every]
    n_runners = len(dbs.runners)
    everywhere = list(range(n_runners))
    usable = [g for g in split_statements(gold) if all(r.ok for r in dbs.gold(g)[:n_runners])]

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

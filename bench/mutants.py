"""Meaning-changing mutants and meaning-preserving rewrites of gold SQL, to measure a metric's power.

A metric that accepts a mutant of the gold counts wrong SQL as right; one that rejects a
rewrite counts right SQL as wrong. Each mutant kind changes the meaning in general; where the
schema proves a particular mutant equivalent (DISTINCT over a primary key, LIMIT or ORDER BY on
a one-row aggregate, ...) it is set aside as `equivalent` and counted, not scored.
Test and benchmark code: the product never imports it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from harness.evaluate.sql.mutants import MUTANT_KINDS, each_node
from harness.evaluate.sql.mutants import mutants as product_mutants

REWRITE_KINDS = ("equal_to_in", "and_terms_reordered", "aliases", "column_order", "operands_swapped")


@dataclass(frozen=True)
class Variant:
    kind: str
    sql: str
    equivalent: bool = False  # the schema proves it means the same as the gold (mutants only)


def _sql(tree: exp.Expr) -> str:
    return tree.sql(dialect="sqlite")


def mutants(gold: str, schema: str | Path) -> list[Variant]:
    """Every single-edit mutant of `gold` (`harness.evaluate.sql.mutants`), each marked
    `equivalent` where the schema proves it; `schema` is a database file or CREATE TABLE text."""
    tree = sqlglot.parse_one(gold, read="sqlite")
    facts = _Facts(tree, schema)
    return [Variant(m.kind, m.sql, facts.proves_equivalent(m.kind)) for m in product_mutants(tree)]


class _Facts:
    """What the schema says about the gold: primary keys, one-row results."""

    def __init__(self, tree: exp.Expr, schema: str | Path) -> None:
        self.tree = tree
        if isinstance(schema, Path) or not re.search(r"\bcreate\s+table\b", schema, re.IGNORECASE):
            conn = sqlite3.connect(f"file:{Path(schema).resolve()}?mode=ro", uri=True)
        else:
            conn = sqlite3.connect(":memory:")
            conn.executescript(schema)
        try:
            self.primary_keys = {
                name.lower(): {r[1].lower() for r in conn.execute(f'PRAGMA table_info("{name}")') if r[5]}
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            conn.close()

    def one_row(self) -> bool:
        """An aggregate without GROUP BY returns exactly one row."""
        select = self.tree
        return (
            isinstance(select, exp.Select)
            and not select.args.get("group")
            and all(e.find(exp.AggFunc) is not None for e in select.expressions)
        )

    def rows_already_distinct(self) -> bool:
        """DISTINCT changes nothing: at most one row (aggregate, LIMIT 1), the first table's primary
        key is selected and joins add at most one row each, or every GROUP BY key is selected."""
        select = self.tree
        if not isinstance(select, exp.Select):
            return False
        limit = select.args.get("limit")
        if self.one_row() or (limit is not None and limit.expression.sql() == "1"):
            return True  # at most one row is always distinct
        selected = {c.name.lower() for e in select.expressions for c in [e.unalias()] if isinstance(c, exp.Column)}
        group = select.args.get("group")
        if group is not None:
            keys = {k.name.lower() for k in group.expressions if isinstance(k, exp.Column)}
            return len(keys) == len(group.expressions) and keys <= selected
        source = select.args.get("from_")
        if source is None or not isinstance(source.this, exp.Table) or not self.joins_keep_rows_unique(select):
            return False
        first = source.this
        key = self.primary_keys.get(first.name.lower(), set())
        selected_from_first = {
            c.name.lower()
            for e in select.expressions
            for c in [e.unalias()]
            if isinstance(c, exp.Column) and c.table in ("", first.alias_or_name)
        }
        if any(isinstance(e, exp.Star) for e in select.expressions) and not select.args.get("joins"):
            selected_from_first |= key
        return bool(key) and key <= selected_from_first

    def joins_keep_rows_unique(self, select: exp.Select) -> bool:
        """Every joined table is matched on its own one-column primary key, so it adds at most
        one row per row of the first table (an N:1 join along a foreign key)."""
        for join in select.args.get("joins") or []:
            table, on = join.this, join.args.get("on")
            if not isinstance(table, exp.Table) or on is None or join.side:
                return False
            key = self.primary_keys.get(table.name.lower(), set())
            if len(key) != 1 or not any(
                isinstance(side, exp.Column) and side.table == table.alias_or_name and side.name.lower() in key
                for eq in on.find_all(exp.EQ)
                if eq.parent is None or isinstance(eq.parent, (exp.And, exp.Join, exp.Paren))
                for side in (eq.this, eq.expression)
            ):
                return False
        return True

    def proves_equivalent(self, kind: str) -> bool:
        if kind == "distinct_toggled":
            return self.rows_already_distinct()
        if kind in ("limit_changed", "order_flipped"):
            return self.one_row()
        return False


def rewrites(gold: str) -> list[Variant]:
    """Meaning-preserving rewrites of `gold`; a sound metric accepts every one."""
    tree = sqlglot.parse_one(gold, read="sqlite")
    out: list[Variant] = []

    def add(kind: str, sqls: Iterator[str]) -> None:
        out.extend(Variant(kind, sql) for sql in dict.fromkeys(sqls) if sql != _sql(tree))

    def to_in(node: exp.Expr) -> exp.Expr | None:
        if isinstance(node.expression, exp.Literal) and isinstance(node.this, exp.Column):
            return exp.In(this=node.this, expressions=[node.expression])
        return None

    def reorder(node: exp.Expr) -> exp.Expr | None:
        return type(node)(this=node.expression, expression=node.this) if isinstance(node, exp.And) else None

    add("equal_to_in", each_node(tree, exp.EQ, to_in))
    add("and_terms_reordered", each_node(tree, exp.Connector, reorder))
    add("aliases", _aliased(tree))
    add("column_order", _columns_reversed(tree))
    add("operands_swapped", each_node(tree, tuple(_MIRROR), _mirror))
    return out


_MIRROR = {exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE, exp.EQ: exp.EQ}


def _mirror(node: exp.Expr) -> exp.Expr:
    return _MIRROR[type(node)](this=node.expression, expression=node.this)


def _aliased(tree: exp.Expr) -> Iterator[str]:
    """Output columns renamed (`AS out_i`) and table aliases renamed (`AS a` -> `AS a_x`)."""
    plain = isinstance(tree, exp.Select) and not tree.find(exp.Star)
    if plain and not tree.args.get("order") and not tree.args.get("group"):
        copy = tree.copy()
        copy.set("expressions", [exp.alias_(e.unalias(), f"out_{i}") for i, e in enumerate(copy.expressions)])
        yield _sql(copy)
    copy = tree.copy()
    renamed = {}
    for table in copy.find_all(exp.Table):
        if table.alias:
            renamed[table.alias] = table.alias + "_x"
            table.set("alias", exp.TableAlias(this=exp.to_identifier(renamed[table.alias])))
    if renamed:
        for column in copy.find_all(exp.Column):
            if column.table in renamed:
                column.set("table", exp.to_identifier(renamed[column.table]))
        yield _sql(copy)


def _columns_reversed(tree: exp.Expr) -> Iterator[str]:
    """The outer SELECT list reversed, unless ORDER BY / GROUP BY refer to positions or it has `*`."""
    if not isinstance(tree, exp.Select) or len(tree.expressions) < 2 or tree.find(exp.Star):
        return
    for clause in ("order", "group"):
        node = tree.args.get(clause)
        if node is not None and any(isinstance(k, exp.Literal) for k in node.find_all(exp.Literal)):
            return
    copy = tree.copy()
    copy.set("expressions", list(reversed(copy.expressions)))
    yield _sql(copy)


@dataclass
class Tally:
    """Counts for one variant kind."""

    variants: int = 0
    equivalent: int = 0  # mutants the schema proves equivalent: set aside
    invalid: int = 0  # mutants that fail on the real database: every metric rejects them (rewrites never set aside)
    judged: int = 0
    rejected_by_suite: int = 0
    rejected_by_single_db: int = 0


@dataclass
class Power:
    mutants: dict[str, Tally]
    rewrites: dict[str, Tally]
    answers_scored: int
    seconds_suite: float  # scoring time with neighbour databases (execution_suite)
    seconds_single_db: float  # the same answers with the real database only

    def kill_rate(self, which: str = "suite") -> float:
        judged = sum(t.judged for t in self.mutants.values())
        field = "rejected_by_suite" if which == "suite" else "rejected_by_single_db"
        return sum(getattr(t, field) for t in self.mutants.values()) / max(judged, 1)

    def false_rejections(self) -> int:
        return sum(t.rejected_by_suite for t in self.rewrites.values())


def measure(pairs: list[dict], *, seed: int = 0) -> Power:
    """Score every mutant and rewrite of each pair's gold with the suite and the single database.

    The two metrics score each answer back to back, so the timing ratio survives a busy machine.
    """
    import time

    from harness.data.records import Example
    from harness.evaluate.sql import SqlMetric

    suite, single = SqlMetric(seed=seed), SqlMetric(seed=seed, n_neighbours=0)
    mutant_tally = {k: Tally() for k in MUTANT_KINDS}
    rewrite_tally = {k: Tally() for k in REWRITE_KINDS}
    answers, seconds = 0, {"suite": 0.0, "single": 0.0}
    for pair in pairs:
        example = Example(pair["id"], pair["question"], pair["sql"], {"db_path": pair["db_path"]})
        for variant, tally in [(v, mutant_tally) for v in mutants(pair["sql"], pair["db_path"])] + [
            (v, rewrite_tally) for v in rewrites(pair["sql"])
        ]:
            t = tally[variant.kind]
            t.variants += 1
            if variant.equivalent:
                t.equivalent += 1
                continue
            scores = {}
            for name, metric in (("suite", suite), ("single", single)):
                start = time.perf_counter()
                scores[name] = metric.score(variant.sql, example)
                seconds[name] += time.perf_counter() - start
            answers += 1
            if scores["suite"]["execution_match"] is None:
                continue  # gold unusable: nothing to judge
            if tally is mutant_tally and not scores["suite"]["executable"]:
                t.invalid += 1  # a broken mutant says nothing about a metric's power
                continue
            t.judged += 1
            t.rejected_by_suite += scores["suite"]["execution_suite"] == 0.0
            t.rejected_by_single_db += scores["single"]["execution_match"] == 0.0
    return Power(mutant_tally, rewrite_tally, answers, seconds["suite"], seconds["single"])

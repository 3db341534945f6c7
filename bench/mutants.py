"""Meaning-changing mutants and meaning-preserving rewrites of gold SQL, to measure a metric's power.

A metric that accepts a mutant of the gold counts wrong SQL as right; one that rejects a
rewrite counts right SQL as wrong. Each mutant kind changes the meaning in general; where the
schema proves a particular mutant equivalent (DISTINCT over a primary key, LIMIT or ORDER BY on
a one-row aggregate, ...) it is set aside as `equivalent` and counted, not scored. A swapped
gold (another question's gold over the same schema) is the wrong answer a model most often
gives; one that is structurally the same query is set aside likewise. `measure` scores them on
the real database, or on the CREATE TABLE text alone (`schema_only`).
Benchmark code: the product never imports it, and tests run `bench.mutation_power` rather than import it.
"""

from __future__ import annotations

import random
import re
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

import sqlglot
from sqlglot import exp

from harness.data.schema import read_tables
from harness.evaluate.sql.mutants import MUTANT_KINDS, each_node
from harness.evaluate.sql.mutants import mutants as product_mutants
from harness.evaluate.sql.structure import structural_match

REWRITE_KINDS = ("equal_to_in", "and_terms_reordered", "aliases", "column_order", "operands_swapped")


@dataclass(frozen=True)
class Variant:
    kind: str
    sql: str
    equivalent: bool = False  # the same query as the gold: proven by the schema (mutants) or by structure (swapped golds)


def _sql(tree: exp.Expr) -> str:
    return tree.sql(dialect="sqlite")


def mutants(gold: str, schema: str | Path) -> list[Variant]:
    """Every single-edit mutant of `gold` (`harness.evaluate.sql.mutants`), each marked
    `equivalent` where the schema proves it; `schema` is a database file or CREATE TABLE text."""
    tree = sqlglot.parse_one(gold, read="sqlite")
    facts = _Facts(tree, schema)
    return [Variant(m.kind, m.sql, facts.proves_equivalent(m.kind)) for m in product_mutants(tree, facts.tables)]


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
            self.tables = read_tables(conn)
        finally:
            conn.close()
        self.primary_keys = {t.name.lower(): {c.name.lower() for c in t.columns if c.primary_key} for t in self.tables}

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


SWAPPED_GOLD = "swapped_gold"  # another question's gold over the same schema
SWAPPED_PER_GOLD = 5


def golds_by_schema(pool: list[dict]) -> dict[str, list[str]]:
    """Each schema's (`db_id`'s) distinct golds, in a fixed order."""
    out: dict[str, set[str]] = {}
    for pair in pool:
        out.setdefault(pair["db_id"], set()).add(pair["sql"])
    return {db_id: sorted(golds) for db_id, golds in out.items()}


def swapped_golds(pair: dict, same_schema: list[str], seed: int) -> list[Variant]:
    """Up to `SWAPPED_PER_GOLD` golds of other questions over `pair`'s schema, drawn with a
    per-gold seed so the draw does not depend on the sample; one that is the same query after
    structural canonicalisation (aliases, operand order, ...) is marked `equivalent`."""
    others = [sql for sql in same_schema if sql != pair["sql"]]
    drawn = random.Random(f"{seed}:{pair['id']}").sample(others, min(SWAPPED_PER_GOLD, len(others)))
    return [Variant(SWAPPED_GOLD, sql, structural_match(sql, pair["sql"])) for sql in drawn]


@dataclass
class Tally:
    """Counts for one variant kind."""

    variants: int = 0
    equivalent: int = 0  # the same query as the gold (`Variant.equivalent`): set aside
    invalid: int = 0  # wrong answers that fail to run: every metric rejects them (rewrites never set aside)
    judged: int = 0
    rejected_by_suite: int = 0
    rejected_by_single_db: int = 0  # the real database alone, or one generated database (schema-only)
    rejected_by_reference: int = 0  # the scorer timed beside the suite (`Power.reference`)

    @classmethod
    def total(cls, tallies: Iterable[Tally]) -> Tally:
        tallies = list(tallies)
        return cls(**{f.name: sum(getattr(t, f.name) for t in tallies) for f in fields(cls)})


@dataclass
class Golds:
    """Each gold scored as its own answer, so that its first scoring builds its databases."""

    scored: int = 0
    uninformative: int = 0  # execution_suite None: no database makes the gold informative
    uninformative_for_reference: int = 0  # the same, for the reference scorer
    rejected: int = 0  # the suite judges the gold wrong against itself: a false rejection


@dataclass
class Timing:
    """Seconds one scorer spent: each gold's first scoring (which builds its databases) apart from
    the answers scored once they are built."""

    builds: int = 0
    build_seconds: float = 0.0
    answers: int = 0
    answer_seconds: float = 0.0

    def add(self, seconds: float, *, build: bool) -> None:
        if build:
            self.builds += 1
            self.build_seconds += seconds
        else:
            self.answers += 1
            self.answer_seconds += seconds

    def per_100_answers(self) -> float | None:
        return 100 * self.answer_seconds / self.answers if self.answers else None

    def per_build(self) -> float | None:
        return self.build_seconds / self.builds if self.builds else None


REAL_DB_ALONE, REAL_DB_SUITE = "real database alone", "real-database suite"
_REJECTED_BY = {"suite": "rejected_by_suite", "single": "rejected_by_single_db", "reference": "rejected_by_reference"}


def _rate(tallies: list[Tally], which: str) -> float | None:
    judged = sum(t.judged for t in tallies)
    return sum(getattr(t, _REJECTED_BY[which]) for t in tallies) / judged if judged else None


@dataclass
class Power:
    """What the suite (real database + neighbours, or the distilled schema-only suite) let through,
    and what it cost beside a reference scorer timed in alternation with it: the real database
    alone (real-database mode), the real-database suite (schema-only mode on pairs that have a
    database) or none (`reference` None)."""

    mutants: dict[str, Tally]
    swapped: Tally
    rewrites: dict[str, Tally]
    golds: Golds
    suite_time: Timing
    reference_time: Timing
    reference: str | None
    survivors: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, gold, wrong answer the suite accepted)

    def kill_rate(self, which: str = "suite") -> float | None:
        """Share of the judged meaning-changing mutants rejected by `which` (suite, single, reference)."""
        return _rate(list(self.mutants.values()), which)  # None: nothing judged

    def swapped_kill_rate(self, which: str = "suite") -> float | None:
        return _rate([self.swapped], which)

    def false_rejections(self) -> int:
        return sum(t.rejected_by_suite for t in self.rewrites.values()) + self.golds.rejected


def example_for(pair: dict, *, schema_only: bool):
    """The pair as the product sees it: with its database file, or with its CREATE TABLE text only."""
    from harness.data.records import Example

    source = {"schema": pair["schema"]} if schema_only else {"db_path": pair["db_path"]}
    return Example(pair["id"], pair["question"], pair["sql"], source)


def measure(
    pairs: list[dict],
    *,
    seed: int = 0,
    schema_only: bool = False,
    pool: list[dict] | None = None,
    kinds: Collection[str] | None = None,
) -> Power:
    """Score each pair's gold, then every mutant, swapped gold and rewrite of it, with the suite
    and the reference scorer (see `Power`) back to back, so the timing ratio survives a busy machine.

    `schema_only`: the suite sees the CREATE TABLE text and no database. `pool`: the pairs other
    questions' golds are drawn from (default `pairs`). `kinds`: score only variants of these kinds
    (mutant kinds, `SWAPPED_GOLD`, rewrite kinds); the golds are scored either way (None: all).
    """
    from harness.evaluate.sql import SqlMetric

    suite = SqlMetric(seed=seed)
    reference: SqlMetric | None
    if not schema_only:
        reference, reference_name = SqlMetric(seed=seed, n_neighbours=0), REAL_DB_ALONE
    elif all(p.get("db_path") for p in pairs):
        reference, reference_name = SqlMetric(seed=seed), REAL_DB_SUITE
    else:
        reference, reference_name = None, None
    power = Power({k: Tally() for k in MUTANT_KINDS}, Tally(), {k: Tally() for k in REWRITE_KINDS}, Golds(),
                  Timing(), Timing(), reference_name)

    def score(answer: str, pair: dict, *, build: bool) -> tuple[dict, dict | None]:
        """The suite's scores and the reference's (None without one), each timed."""
        start = time.perf_counter()
        by_suite = suite.score(answer, example_for(pair, schema_only=schema_only))
        power.suite_time.add(time.perf_counter() - start, build=build)
        if reference is None:
            return by_suite, None
        start = time.perf_counter()
        by_reference = reference.score(answer, example_for(pair, schema_only=False))
        power.reference_time.add(time.perf_counter() - start, build=build)
        return by_suite, by_reference

    same_schema = golds_by_schema(pool or pairs)
    for pair in pairs:
        gold, by_reference = score(pair["sql"], pair, build=True)
        power.golds.scored += 1
        power.golds.uninformative += gold["execution_suite"] is None
        power.golds.rejected += gold["execution_suite"] == 0.0
        power.golds.uninformative_for_reference += by_reference is not None and by_reference["execution_suite"] is None
        if gold["execution_suite"] is None:
            continue  # nothing to judge against
        schema = pair["schema"] if schema_only else pair["db_path"]
        variants = (
            [(v, power.mutants[v.kind], True) for v in mutants(pair["sql"], schema)]
            + [(v, power.swapped, True) for v in swapped_golds(pair, same_schema[pair["db_id"]], seed)]
            + [(v, power.rewrites[v.kind], False) for v in rewrites(pair["sql"])]
        )
        for variant, tally, wrong in variants:
            if kinds is not None and variant.kind not in kinds:
                continue
            tally.variants += 1
            if variant.equivalent:
                tally.equivalent += 1
                continue
            scores, by_reference = score(variant.sql, pair, build=False)
            if scores["execution_suite"] is None:
                continue  # no verdict on this answer: not judged
            if wrong and not scores["executable"]:
                tally.invalid += 1  # a broken wrong answer says nothing about a metric's power
                continue
            tally.judged += 1
            tally.rejected_by_suite += scores["execution_suite"] == 0.0
            if wrong and scores["execution_suite"] != 0.0:
                power.survivors.append((variant.kind, pair["sql"], variant.sql))
            tally.rejected_by_single_db += scores["execution_match"] == 0.0
            tally.rejected_by_reference += by_reference is not None and by_reference["execution_suite"] == 0.0
    return power

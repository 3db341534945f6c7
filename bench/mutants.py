"""Meaning-changing mutants and meaning-preserving rewrites of gold SQL, to measure a metric's power.

A metric that accepts a mutant of the gold counts wrong SQL as right; one that rejects a
rewrite counts right SQL as wrong. Each mutant kind changes the meaning in general; where the
schema proves a particular mutant equivalent (DISTINCT over a primary key, LIMIT or ORDER BY on
a one-row aggregate, ...) it is set aside as `equivalent` and counted, not scored.
Test and benchmark code: the product never imports it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

MUTANT_KINDS = (
    "comparison_boundary",  # > <-> >=, < <-> <=
    "equal_to_not_equal",  # = -> !=
    "like_wildcard",  # a % dropped, or moved to the other end
    "constant_plus_minus_1",
    "distinct_toggled",  # DISTINCT dropped or added
    "order_flipped",  # ASC <-> DESC
    "limit_changed",  # LIMIT n -> n + 1, n - 1
    "and_or_swapped",
    "join_condition_dropped",
)
REWRITE_KINDS = ("equal_to_in", "and_terms_reordered", "aliases", "column_order", "operands_swapped")


@dataclass(frozen=True)
class Variant:
    kind: str
    sql: str
    equivalent: bool = False  # the schema proves it means the same as the gold (mutants only)


def _sql(tree: exp.Expr) -> str:
    return tree.sql(dialect="sqlite")


def _each(tree: exp.Expr, kind: type | tuple, change: Callable[[exp.Expr], exp.Expr | None]) -> Iterator[str]:
    """One variant per node of `kind`: a copy of the tree where only that node is changed."""
    for index in range(len(list(tree.find_all(kind)))):
        copy = tree.copy()
        target = list(copy.find_all(kind))[index]
        replacement = change(target)
        if replacement is not None:
            if replacement is not target:
                target.replace(replacement)
            yield _sql(copy)


_BOUNDARY = {exp.GT: exp.GTE, exp.GTE: exp.GT, exp.LT: exp.LTE, exp.LTE: exp.LT}


def _flip_boundary(node: exp.Expr) -> exp.Expr:
    return _BOUNDARY[type(node)](this=node.this, expression=node.expression)


def _like_variants(pattern: str) -> list[str]:
    core = pattern.strip("%")
    out = set()
    if pattern.startswith("%"):
        out.add(pattern[1:])
    if pattern.endswith("%"):
        out.add(pattern[:-1])
    if pattern.startswith("%") != pattern.endswith("%"):  # one-sided: move the wildcard across
        out.add(core + "%" if pattern.startswith("%") else "%" + core)
    return sorted(v for v in out if v != pattern)


def _like_mutants(tree: exp.Expr) -> Iterator[str]:
    for index, node in enumerate(tree.find_all(exp.Like)):
        if not (isinstance(node.expression, exp.Literal) and node.expression.is_string):
            continue
        for variant in _like_variants(node.expression.this):
            copy = tree.copy()
            list(copy.find_all(exp.Like))[index].expression.replace(exp.Literal.string(variant))
            yield _sql(copy)


def _constant_mutants(tree: exp.Expr) -> Iterator[str]:
    numbers = [n for n in tree.find_all(exp.Literal) if not n.is_string and not n.find_ancestor(exp.Limit, exp.Offset)]
    all_literals = list(tree.find_all(exp.Literal))
    for node in numbers:
        index = all_literals.index(node)
        for delta in (1, -1):
            copy = tree.copy()
            target = list(copy.find_all(exp.Literal))[index]
            value = float(target.this) + delta
            target.replace(exp.Literal.number(int(value) if value.is_integer() and target.is_int else value))
            yield _sql(copy)


def _limit_mutants(tree: exp.Expr) -> Iterator[str]:
    limit = tree.args.get("limit") if isinstance(tree, exp.Select) else None
    if limit is None or not (isinstance(limit.expression, exp.Literal) and limit.expression.is_int):
        return
    n = int(limit.expression.this)
    for m in (n + 1, n - 1):
        if m >= 1:
            copy = tree.copy()
            copy.args["limit"].expression.replace(exp.Literal.number(m))
            yield _sql(copy)


def _connector_swap(node: exp.Expr) -> exp.Expr:
    other = exp.Or if isinstance(node, exp.And) else exp.And
    return exp.paren(other(this=node.this, expression=node.expression), copy=False)


def _join_mutants(tree: exp.Expr) -> Iterator[str]:
    def drop_on(join: exp.Expr) -> exp.Expr | None:
        if join.args.get("on") is None:
            return None
        join.set("on", None)
        return join

    yield from _each(tree, exp.Join, drop_on)


def _distinct_mutants(tree: exp.Expr) -> Iterator[str]:
    if not isinstance(tree, exp.Select):
        return
    copy = tree.copy()
    copy.set("distinct", None if tree.args.get("distinct") else exp.Distinct())
    yield _sql(copy)
    for index, _ in enumerate(tree.find_all(exp.Distinct)):  # COUNT(DISTINCT x) -> COUNT(x)
        copy = tree.copy()
        node = list(copy.find_all(exp.Distinct))[index]
        if isinstance(node.parent, exp.Count) and node.expressions:
            node.replace(node.expressions[0])
            yield _sql(copy)


def _order_mutants(tree: exp.Expr) -> Iterator[str]:
    def flip(node: exp.Expr) -> exp.Expr:
        node.set("desc", not node.args.get("desc"))
        return node

    yield from _each(tree, exp.Ordered, flip)


def mutants(gold: str, db_path: str | Path) -> list[Variant]:
    """Every single-point mutant of `gold`, each marked `equivalent` where the schema proves it."""
    tree = sqlglot.parse_one(gold, read="sqlite")
    facts = _Facts(tree, db_path)
    generated = {
        "comparison_boundary": _each(tree, tuple(_BOUNDARY), _flip_boundary),
        "equal_to_not_equal": _each(tree, exp.EQ, lambda n: exp.NEQ(this=n.this, expression=n.expression)),
        "like_wildcard": _like_mutants(tree),
        "constant_plus_minus_1": _constant_mutants(tree),
        "distinct_toggled": _distinct_mutants(tree),
        "order_flipped": _order_mutants(tree),
        "limit_changed": _limit_mutants(tree),
        "and_or_swapped": _each(tree, exp.Connector, _connector_swap),
        "join_condition_dropped": _join_mutants(tree),
    }
    original = _sql(tree)
    out = []
    for kind, sqls in generated.items():
        for sql in dict.fromkeys(sqls):
            if sql != original:
                out.append(Variant(kind, sql, facts.proves_equivalent(kind)))
    return out


class _Facts:
    """What the schema says about the gold: primary keys, one-row results."""

    def __init__(self, tree: exp.Expr, db_path: str | Path) -> None:
        self.tree = tree
        conn = sqlite3.connect(f"file:{Path(db_path).resolve()}?mode=ro", uri=True)
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

    add("equal_to_in", _each(tree, exp.EQ, to_in))
    add("and_terms_reordered", _each(tree, exp.Connector, reorder))
    add("aliases", _aliased(tree))
    add("column_order", _columns_reversed(tree))
    add("operands_swapped", _each(tree, tuple(_MIRROR), _mirror))
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

"""Single-edit mutants of a gold query: the wrong answers a test suite must tell from the gold.

Each kind changes one node of the gold in a way that changes its meaning in general (`x > 5` ->
`x >= 5`, `= 'Lyon'` -> `LIKE '%Lyon'`, ASC -> DESC, ...). The distilled schema-only suite
(`distill.py`) keeps the databases on which the gold and its mutants disagree; the mutation
benchmark (`bench/mutants.py`) counts how many of them each metric rejects. A particular mutant
can still mean the same as its gold on a given schema (DISTINCT over a primary key): no database
then tells them apart, which is harmless here and set aside by the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from harness.data.schema import Column, Table

MUTANT_KINDS = (
    "comparison_boundary",  # > <-> >=, < <-> <=
    "equal_to_not_equal",  # = -> !=
    "equal_to_like",  # = 'x' -> LIKE '%x' / 'x%' / '%x%'
    "like_wildcard",  # a % dropped, or moved to the other end
    "constant_plus_minus_1",
    "distinct_toggled",  # DISTINCT dropped or added
    "order_flipped",  # ASC <-> DESC
    "limit_changed",  # LIMIT n -> n + 1, n - 1
    "and_or_swapped",
    "join_condition_dropped",
    "aggregate_swapped",  # MIN <-> MAX, SUM <-> AVG, COUNT(x) -> COUNT(DISTINCT x)
    "set_operation_swapped",  # INTERSECT / UNION / EXCEPT into one another
    "column_swapped",  # a column -> another column of its table; COUNT(*) -> COUNT(column) (needs the schema)
)
_SWAPS_PER_COLUMN = 4  # other columns tried in place of one column reference


@dataclass(frozen=True)
class Mutant:
    kind: str
    sql: str


def _sql(tree: exp.Expr) -> str:
    return tree.sql(dialect="sqlite")


def each_node(tree: exp.Expr, kind: type | tuple, change: Callable[[exp.Expr], exp.Expr | None]) -> Iterator[str]:
    """One variant per node of `kind`: a copy of the tree where only that node is changed."""
    for index in range(len(list(tree.find_all(kind)))):
        copy = tree.copy()
        target = list(copy.find_all(kind))[index]
        replacement = change(target)
        if replacement is None:
            continue
        if replacement is not target:
            if target is copy:  # the root itself (a set operation): replace() needs a parent
                copy = replacement
            else:
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


def _equal_to_like_mutants(tree: exp.Expr) -> Iterator[str]:
    for pattern in ("%{}", "{}%", "%{}%"):

        def to_like(node: exp.Expr, pattern: str = pattern) -> exp.Expr | None:
            value = node.expression
            if not (isinstance(value, exp.Literal) and value.is_string):
                return None
            return exp.Like(this=node.this, expression=exp.Literal.string(pattern.format(value.this)))

        yield from each_node(tree, exp.EQ, to_like)


def _constant_mutants(tree: exp.Expr) -> Iterator[str]:
    numbers = [n for n in tree.find_all(exp.Literal) if not n.is_string and not n.find_ancestor(exp.Limit, exp.Offset)]
    all_literals = list(tree.find_all(exp.Literal))
    for node in numbers:
        index = all_literals.index(node)
        for delta in (1, -1):
            copy = tree.copy()
            target = list(copy.find_all(exp.Literal))[index]
            try:
                value = float(target.this) + delta
            except ValueError:  # a hex literal or the like
                continue
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

    yield from each_node(tree, exp.Join, drop_on)


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

    yield from each_node(tree, exp.Ordered, flip)


_AGGREGATE_SWAPS = {exp.Min: exp.Max, exp.Max: exp.Min, exp.Sum: exp.Avg, exp.Avg: exp.Sum}


def _aggregate_mutants(tree: exp.Expr) -> Iterator[str]:
    def swap(node: exp.Expr) -> exp.Expr | None:
        other = _AGGREGATE_SWAPS.get(type(node))
        return None if other is None else other(this=node.this)

    def count_distinct(node: exp.Expr) -> exp.Expr | None:
        argument = node.this
        if not isinstance(argument, exp.Column):
            return None  # COUNT(*) and COUNT(DISTINCT x) stay
        return exp.Count(this=exp.Distinct(expressions=[argument.copy()]))

    yield from each_node(tree, tuple(_AGGREGATE_SWAPS), swap)
    yield from each_node(tree, exp.Count, count_distinct)


_SET_OPERATIONS = (exp.Intersect, exp.Union, exp.Except)


def _set_operation_mutants(tree: exp.Expr) -> Iterator[str]:
    for other in _SET_OPERATIONS:

        def into(node: exp.Expr, other: type = other) -> exp.Expr | None:
            if isinstance(node, other):
                return None
            return other(this=node.this, expression=node.expression, distinct=node.args.get("distinct", True))

        yield from each_node(tree, _SET_OPERATIONS, into)


def _column_mutants(tree: exp.Expr, tables: Sequence[Table]) -> Iterator[str]:
    """Each column reference replaced by other columns of the table it names (or of the only
    table in the query), and COUNT(*) by COUNT(column) for a column that may be NULL there.

    Swaps that cannot change a result are left out: COUNT(x) -> COUNT(y) when neither may be
    NULL, and COUNT(*) -> COUNT(x) when x is NOT NULL or the query compares it with a value."""
    columns = {t.name.lower(): t.columns for t in tables}
    aliases = {t.alias_or_name.lower(): t.name.lower() for t in tree.find_all(exp.Table)}
    only = next(iter(aliases.values())) if len(set(aliases.values())) == 1 else None
    compared = {c.name.lower() for c in tree.find_all(exp.Column) if _compared_with_value(c)}

    def table_of(column: exp.Column) -> tuple[Column, ...]:
        return columns.get((aliases.get(column.table.lower()) if column.table else only) or "", ())

    def nullable(column: exp.Column) -> bool:
        return any(c.nullable for c in table_of(column) if c.name.lower() == column.name.lower())

    for index, column in enumerate(list(tree.find_all(exp.Column))):
        counted = isinstance(column.parent, exp.Count)
        others = [c for c in table_of(column) if c.name.lower() != column.name.lower()]
        if counted:
            others = [c for c in others if c.nullable or nullable(column)]
        for other in others[:_SWAPS_PER_COLUMN]:
            copy = tree.copy()
            list(copy.find_all(exp.Column))[index].set("this", exp.to_identifier(other.name, quoted=True))
            yield _sql(copy)
    if only is not None:
        maybe_null = [c for c in columns.get(only, ()) if c.nullable and c.name.lower() not in compared]
        for column in maybe_null[:_SWAPS_PER_COLUMN]:
            yield from each_node(
                tree,
                exp.Count,
                lambda n, name=column.name: (
                    exp.Count(this=exp.column(name, quoted=True)) if isinstance(n.this, exp.Star) else None
                ),
            )


def _compared_with_value(column: exp.Column) -> bool:
    """`column <op> literal`: rows where it is NULL never pass, so it is not NULL in the result."""
    parent = column.parent
    return isinstance(parent, (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.In, exp.Between)) and any(
        isinstance(a, exp.Literal) for a in parent.args.values()
    )


_GENERATORS: dict[str, Callable[[exp.Expr], Iterator[str]]] = {
    "comparison_boundary": lambda t: each_node(t, tuple(_BOUNDARY), _flip_boundary),
    "equal_to_not_equal": lambda t: each_node(t, exp.EQ, lambda n: exp.NEQ(this=n.this, expression=n.expression)),
    "equal_to_like": _equal_to_like_mutants,
    "like_wildcard": _like_mutants,
    "constant_plus_minus_1": _constant_mutants,
    "distinct_toggled": _distinct_mutants,
    "order_flipped": _order_mutants,
    "limit_changed": _limit_mutants,
    "and_or_swapped": lambda t: each_node(t, exp.Connector, _connector_swap),
    "join_condition_dropped": _join_mutants,
    "aggregate_swapped": _aggregate_mutants,
    "set_operation_swapped": _set_operation_mutants,
}


def mutants(gold: str | exp.Expr, tables: Sequence[Table] = ()) -> list[Mutant]:
    """Every single-edit mutant of `gold` (SQL text or a parsed tree), each once, never the gold
    itself; `column_swapped` ones only where the schema's `tables` are given."""
    tree = sqlglot.parse_one(gold, read="sqlite") if isinstance(gold, str) else gold
    original = _sql(tree)
    out, seen = [], {original}
    generators = {**_GENERATORS, "column_swapped": lambda t: _column_mutants(t, tables)}
    for kind in MUTANT_KINDS:
        for sql in generators[kind](tree):
            if sql not in seen:
                seen.add(sql)
                out.append(Mutant(kind, sql))
    return out

"""Structural match: equality of canonical sqlglot trees (aliases, operand order, ASC, ... removed)."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence

from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope

from harness.evaluate.sql.extract import matches_any_alternative
from harness.evaluate.sql.parse import COMPARISONS, parse_with_values


def _canonical_table_names(tree: exp.Expr) -> None:
    """Replace table aliases by table names so `FROM singer AS T1 ... T1.name` == `singer.name`.

    A table used once is named by itself; a table used k times (self-joins) becomes `name_1`,
    `name_2`, ... in order of appearance. Column qualifiers are resolved through sqlglot scopes
    (so `T1` may mean different tables in different subqueries). In a (sub)query over a single
    table the qualifiers of its own columns carry no information and are dropped.
    """
    tables = list(tree.find_all(exp.Table, bfs=False))
    uses = Counter(t.name for t in tables)
    seen: Counter[str] = Counter()
    canonical: dict[int, str] = {}
    for table in tables:
        seen[table.name] += 1
        canonical[id(table)] = table.name if uses[table.name] == 1 else f"{table.name}_{seen[table.name]}"

    for scope in traverse_scope(tree):
        only_source = next(iter(scope.sources.values())) if len(scope.sources) == 1 else None
        for column in scope.columns:
            table = _resolve_qualifier(scope, column.table) if column.table else None
            if table is not None:
                qualifier = None if table is only_source else exp.to_identifier(canonical[id(table)])
                column.set("table", qualifier)
    for table in tables:
        name = canonical[id(table)]
        table.set("alias", None if name == table.name else exp.TableAlias(this=exp.to_identifier(name)))


def _resolve_qualifier(scope: Scope | None, qualifier: str) -> exp.Table | None:
    """The table a column qualifier names, looked up in its scope, then enclosing scopes."""
    while scope is not None:
        source = scope.sources.get(qualifier)
        if source is not None:
            return source if isinstance(source, exp.Table) else None
        scope = scope.parent
    return None


def _inline_output_aliases(tree: exp.Expr) -> None:
    """Drop output-column aliases of the outermost SELECT (`COUNT(*) AS cnt` == `COUNT(*)`).

    They only rename result columns, which no metric here compares. ORDER BY references to an
    alias are replaced by the aliased expression (SQLite resolves ORDER BY names to aliases
    first). If an alias is referenced anywhere else (WHERE/GROUP BY/HAVING), nothing is changed.
    """
    if not isinstance(tree, exp.Select):
        return
    aliases = {
        a.alias: a.this
        for a in tree.expressions
        if isinstance(a, exp.Alias) and not (isinstance(a.this, exp.Column) and a.this.name == a.alias)
    }  # `name AS name` renames nothing and can be dropped whatever else refers to `name`
    for key, value in tree.args.items():
        if key in ("expressions", "order"):
            continue
        for node in value if isinstance(value, list) else [value]:
            if isinstance(node, exp.Expr) and any(
                not c.table and c.name in aliases for c in node.find_all(exp.Column)
            ):
                return
    order = tree.args.get("order")
    if order is not None:
        for column in list(order.find_all(exp.Column)):
            if not column.table and column.name in aliases:
                column.replace(aliases[column.name].copy())
    tree.set("expressions", [a.this if isinstance(a, exp.Alias) else a for a in tree.expressions])


def _sorted_operands(operands: Sequence[exp.Expr]) -> list[exp.Expr]:
    return sorted(operands, key=lambda e: e.sql(dialect="sqlite"))


def _canonical_node(node: exp.Expr) -> exp.Expr:
    """Local rewrites of one node whose children are already canonical."""
    if isinstance(node, exp.Connector):  # AND / OR chains: flatten and sort operands
        operands = _sorted_operands(list(node.flatten()))
        return functools.reduce(lambda a, b: type(node)(this=a, expression=b), operands)
    if isinstance(node, (exp.EQ, exp.NEQ)):  # `a = b` == `b = a`
        this, other = _sorted_operands([node.this, node.expression])
        return type(node)(this=this, expression=other)
    if isinstance(node, exp.Paren) and isinstance(node.this, (exp.Column, exp.Literal, exp.Func, *COMPARISONS)):
        return node.this  # parentheses around an atom or a comparison change nothing
    if isinstance(node, exp.Ordered) and not node.args.get("desc"):
        node.set("desc", None)  # explicit ASC is the default
    if isinstance(node, exp.Join) and (node.kind == "INNER" or (node.kind == "OUTER" and node.side)):
        node.set("kind", None)  # INNER JOIN == JOIN, LEFT OUTER JOIN == LEFT JOIN
    return node


def _canonicalize(node: exp.Expr) -> exp.Expr:
    """Apply `_canonical_node` bottom-up (children first, so sort keys are canonical too)."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expr):
            node.set(key, _canonicalize(value))
        elif isinstance(value, list):
            node.set(key, [_canonicalize(v) if isinstance(v, exp.Expr) else v for v in value])
    return _canonical_node(node)


@functools.lru_cache(maxsize=8192)
def _structure(sql: str) -> str | None:
    """Canonical form for structural match, or None when sqlglot cannot parse `sql`."""
    tree = parse_with_values(sql)
    if tree is None:
        return None
    try:
        tree = normalize_identifiers(tree, dialect="sqlite")  # SQLite names are case-insensitive
        _canonical_table_names(tree)
        _inline_output_aliases(tree)
        tree = _canonicalize(tree)
        for ident in tree.find_all(exp.Identifier):
            ident.set("quoted", False)
        return tree.sql(dialect="sqlite", comments=False)
    except Exception:  # a canonicalisation step sqlglot cannot do on this tree: compare as-is
        return parse_with_values(sql).sql(dialect="sqlite", comments=False)



def structural_match(pred: str, gold: str) -> bool:
    """`pred` and some gold alternative have the same canonical sqlglot tree (SQLite dialect).

    Considered equal: whitespace, comments, keyword/identifier/function case, identifier
    quoting, `"x"` vs `'x'` string values, a trailing `;`, table aliases (`FROM singer AS T1`
    vs `FROM singer`; qualifiers dropped in single-table queries), output-column aliases of the
    outer SELECT, operand order of AND/OR chains and of `=`/`!=`, redundant parentheses around
    atoms and comparisons, explicit ASC, `INNER JOIN` vs `JOIN`, `LEFT OUTER` vs `LEFT`.

    NOT considered equal (even where results agree): SELECT-list order, JOIN order, `IN` vs
    `EXISTS` vs JOIN, `COUNT(*)` vs `COUNT(col)`, `>` vs `>=`, `1` vs `1.0`, BETWEEN vs two
    comparisons, different LIMIT/DISTINCT, a qualified vs an unqualified column in a multi-table
    query (no schema to resolve it). Unparseable SQL never matches structurally.
    """
    pred_tree = _structure(pred)
    return pred_tree is not None and matches_any_alternative(gold, lambda g: _structure(g) == pred_tree)


"""Whether a gold query's result on a database is fixed by the query itself.

It is not when it depends on unspecified row order: LIMIT without ORDER BY (the result changes
when SQLite scans tables backwards), or ORDER BY with ties that decide which rows are kept or in
what order they come. A correct answer could return another result there, so such a database
cannot judge that gold.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp

from harness.evaluate.sandbox import QueryResult
from harness.evaluate.sql.compare import has_top_level_order_by, results_match
from harness.evaluate.sql.parse import parse_with_values

Runner = Callable[..., QueryResult]  # (sql, *, reverse_unordered=False) -> result


def result_is_determined(sql: str, result: QueryResult, run: Runner) -> bool:
    """`result` (the gold's on the database `run` queries) is the only one the query allows."""
    ordered = has_top_level_order_by(sql)
    return (
        result.ok
        and results_match(result, run(sql, reverse_unordered=True), ordered=ordered)
        and (not ordered or _ties_resolved(sql, run))
    )


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

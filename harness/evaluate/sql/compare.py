"""Whether two query results are the same answer: multisets (or sequences under ORDER BY),
column order and names ignored, numbers within a float tolerance."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from harness.evaluate.sandbox import QueryResult
from harness.evaluate.sql.parse import TOKEN, parse

REL_TOL = 1e-6  # default relative float tolerance for result comparison
ABS_TOL = 1e-9  # default absolute float tolerance (values this close to 0 equal 0)
_MAX_COLUMN_ASSIGNMENTS = 1_000  # column permutations tried before declaring a mismatch


@dataclass(frozen=True)
class Tolerance:
    """How close two numbers must be to count as equal: `math.isclose(a, b, rel_tol, abs_tol)`.

    Integers compare exactly with integers; int and float compare numerically (2 == 2.0).
    """

    rel: float = REL_TOL
    abs: float = ABS_TOL

    def equal(self, a: Any, b: Any) -> bool:
        if _is_number(a) and _is_number(b):
            if isinstance(a, int) and isinstance(b, int):
                return a == b
            return math.isclose(a, b, rel_tol=self.rel, abs_tol=self.abs)
        return type(a) is type(b) and a == b  # '1' != 1, b'x' != 'x', None == None

    def coarse(self, v: Any) -> tuple:
        """Sort key under which values within tolerance (almost always) tie."""
        if _is_number(v):
            digits = 17 if self.rel <= 0 else min(17, max(1, round(-math.log10(self.rel))))
            return (1, 0.0 if abs(v) <= self.abs else float(f"{v:.{digits}g}"))
        return _exact(v)


DEFAULT_TOLERANCE = Tolerance()


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _exact(v: Any) -> tuple:
    """Total order over SQLite values: NULL < numbers < text < blobs."""
    if v is None:
        return (0, 0)
    if _is_number(v):
        return (1, v)
    return (2, v) if isinstance(v, str) else (3, bytes(v))


def _rows_equal(gold: Sequence[tuple], pred: Sequence[tuple], ordered: bool, tol: Tolerance) -> bool:
    """Rows equal as sequences (`ordered`) or multisets, values compared with `tol`.

    For multisets both sides are sorted by the tolerance-rounded values first (exact values only
    break ties), so rows differing by float noise land in the same position.
    """
    if not ordered:

        def key(row: tuple) -> tuple:
            return tuple(tol.coarse(v) for v in row) + tuple(_exact(v) for v in row)

        gold, pred = sorted(gold, key=key), sorted(pred, key=key)
    return all(tol.equal(g, p) for g_row, p_row in zip(gold, pred) for g, p in zip(g_row, p_row))


def _column_assignments(candidates: list[list[int]], used: tuple[int, ...] = ()) -> Iterator[tuple[int, ...]]:
    """Injective maps gold column j -> predicted column, each drawn from `candidates[j]`."""
    j = len(used)
    if j == len(candidates):
        yield used
        return
    for i in candidates[j]:
        if i not in used:
            yield from _column_assignments(candidates, used + (i,))


def results_match(
    gold: QueryResult, pred: QueryResult, *, ordered: bool, subset: bool = False, tol: Tolerance = Tolerance()
) -> bool:
    """Whether `pred` returns the same result as `gold`, ignoring column order and names.

    Rows are multisets (duplicates count) unless `ordered`; an empty prediction matches only an
    empty gold (and then only with as many columns, or more with `subset`). Columns are matched by trying injective gold->pred column maps, restricted to
    pred columns holding the same multiset of values as the gold column; with `subset`, pred may
    have columns no gold column maps to. A failed or truncated result never matches. At most
    `_MAX_COLUMN_ASSIGNMENTS` maps are tried (only reachable with many identical columns).
    """
    if not (gold.ok and pred.ok):
        return False
    k, m = len(gold.columns), len(pred.columns)
    if len(gold.rows) != len(pred.rows) or m < k or (m > k and not subset):
        return False
    gold_columns = list(zip(*gold.rows)) or [()] * k
    pred_columns = list(zip(*pred.rows)) or [()] * m

    def signature(column: Sequence) -> list:  # the column's values as a sorted multiset
        return sorted(column, key=lambda v: (tol.coarse(v), _exact(v)))

    pred_signatures = [signature(c) for c in pred_columns]
    candidates = [
        [i for i, p in enumerate(pred_signatures) if all(map(tol.equal, g, p))]
        for g in map(signature, gold_columns)
    ]
    for assignment in itertools.islice(_column_assignments(candidates), _MAX_COLUMN_ASSIGNMENTS):
        projected = [tuple(row[i] for i in assignment) for row in pred.rows]
        if _rows_equal(gold.rows, projected, ordered, tol):
            return True
    return False


@functools.lru_cache(maxsize=8192)
def has_top_level_order_by(sql: str) -> bool:
    """Whether row order is part of the query's answer (an ORDER BY on the outermost query)."""
    tree = parse(sql)
    if tree is not None:
        return isinstance(tree, exp.Query) and tree.args.get("order") is not None
    depth, previous = 0, ""
    for m in TOKEN.finditer(sql):
        token = m.group().upper()
        if m.lastgroup == "skip":
            continue
        depth += (token == "(") - (token == ")")
        if depth == 0 and previous == "ORDER" and token == "BY":
            return True
        previous = token
    return False


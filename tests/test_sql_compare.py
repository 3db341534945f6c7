"""Result comparison: multisets, ORDER BY, column maps, float tolerance (harness.evaluate.sql.compare)."""

from __future__ import annotations

from harness.evaluate.sandbox import QueryResult
from harness.evaluate.sql.compare import Tolerance, results_match


def result(*rows: tuple, columns: int | None = None) -> QueryResult:
    width = columns if columns is not None else len(rows[0])
    return QueryResult(columns=tuple(f"c{i}" for i in range(width)), rows=tuple(rows))


def test_results_match_column_permutation_must_be_consistent_across_rows() -> None:
    """Each column alone has the same values, but no single column order makes the rows equal."""
    gold, pred = result((1, 2), (2, 1)), result((1, 1), (2, 2))
    assert not results_match(gold, pred, ordered=False)
    assert results_match(gold, result((2, 1), (1, 2)), ordered=False)


def test_results_match_float_noise_does_not_break_multiset_sorting() -> None:
    gold = result((0.1 + 0.2, "b"), (0.3, "a"))
    pred = result((0.3, "b"), (0.1 + 0.2, "a"))
    assert results_match(gold, pred, ordered=False, tol=Tolerance())
    assert not results_match(gold, result((0.3, "b"), (0.4, "a")), ordered=False)


def test_results_match_empty_results_need_compatible_columns() -> None:
    assert results_match(result(columns=1), result(columns=1), ordered=False)
    assert not results_match(result(columns=1), result(columns=2), ordered=False)
    assert results_match(result(columns=1), result(columns=2), ordered=False, subset=True)
    assert not results_match(result(("x",)), result(columns=1), ordered=False)


def test_results_match_truncated_or_failed_never_match() -> None:
    full = result((1,), (2,))
    truncated = QueryResult(columns=("c0",), rows=((1,), (2,)), truncated=True)
    assert not results_match(full, truncated, ordered=False)
    assert not results_match(full, QueryResult(error="boom"), ordered=False)



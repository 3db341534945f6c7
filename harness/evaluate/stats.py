"""Paired bootstrap confidence intervals for base-vs-tuned differences, and latency summaries.

Both models answer the same prompts, so examples are resampled JOINTLY: one bootstrap resample
picks example indices once and applies them to both models. That keeps the per-prompt pairing
(an easy prompt is easy for both) and gives much tighter, honest intervals than resampling the
two models independently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.results import AdjustedInterval, Comparison, Distribution

Statistic = Callable[[np.ndarray], Any]
CONFIDENCE = 0.95  # every interval the harness reports, and the verdict's family-wise level
_MAX_BATCH_ELEMENTS = 4_000_000  # resampled values held at once by vectorised statistics


def vectorized(statistic: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """Mark a statistic that reduces over the example axis of a batch of resamples.

    It receives shape (R, n) for scalar values or (R, n, k) for rows and returns shape (R,).
    Unmarked statistics are called once per resample on shape (n,) / (n, k) — simpler, slower.
    """
    statistic.vectorized = True  # type: ignore[attr-defined]
    return statistic


@vectorized
def mean(values: np.ndarray) -> np.ndarray:
    """Mean over examples (the default: accuracy-style 0/1 scores, token counts, latencies)."""
    return values.mean(axis=-1)


@vectorized
def ratio_of_sums(rows: np.ndarray) -> np.ndarray:
    """sum(column 0) / sum(column 1) over examples, e.g. errors per token."""
    return rows[..., 0].sum(axis=-1) / rows[..., 1].sum(axis=-1)


@vectorized
def perplexity(rows: np.ndarray) -> np.ndarray:
    """Token-weighted perplexity from (nll_sum, n_tokens) rows: exp(sum nll / sum tokens).

    Weighting by tokens (not averaging per-example perplexities) is what "perplexity of the
    evaluation set" means; a long answer counts for as many tokens as it has.
    """
    return np.exp(ratio_of_sums(rows))


def _missing(value: Any) -> bool:
    """None, or a row with a None in it."""
    if value is None:
        return True
    return isinstance(value, (tuple, list)) and any(v is None for v in value)


def _paired_arrays(base: Sequence, tuned: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Float arrays of the examples where both sides have a value (None = not applicable)."""
    if len(base) != len(tuned):
        raise ValueError(f"paired comparison needs equal lengths, got {len(base)} base vs {len(tuned)} tuned")
    keep = [i for i, (b, t) in enumerate(zip(base, tuned)) if not (_missing(b) or _missing(t))]
    return (np.asarray([base[i] for i in keep], dtype=float), np.asarray([tuned[i] for i in keep], dtype=float))


def _resampled_statistics(values: np.ndarray, indices: np.ndarray, statistic: Statistic) -> np.ndarray:
    """statistic(values[resample]) for every row of `indices`, shape (R,)."""
    if getattr(statistic, "vectorized", False):
        row_size = values[0].size if len(values) else 1
        step = max(1, _MAX_BATCH_ELEMENTS // max(1, indices.shape[1] * row_size))
        return np.concatenate([statistic(values[indices[i : i + step]]) for i in range(0, len(indices), step)])
    return np.fromiter((statistic(values[idx]) for idx in indices), dtype=float, count=len(indices))


@dataclass(frozen=True)
class Bootstrap:
    """statistic(base), statistic(tuned) and the resampled differences, for intervals at any level."""

    n: int
    base: float | None
    tuned: float | None
    diffs: np.ndarray  # shape (n_resamples,); empty when n == 0

    def interval(self, confidence: float) -> tuple[float, float]:
        return _percentile_interval(self.diffs, confidence)

    def p_value(self) -> float:
        """Two-sided bootstrap p-value of 'no difference': twice the smaller tail beyond 0."""
        tail = min(np.mean(self.diffs <= 0), np.mean(self.diffs >= 0))
        return float(min(1.0, 2 * tail))


def bootstrap(base: Sequence, tuned: Sequence, *, statistic: Statistic = mean, n_resamples: int = 2000, seed: int = 0) -> Bootstrap:
    """Paired bootstrap of statistic(tuned) - statistic(base).

    `base[i]` and `tuned[i]` are the two models' values on example i: numbers, or rows of k
    numbers (e.g. (nll_sum, n_tokens)) for ratio statistics like `perplexity`. Examples where
    either side is None are dropped, and `n` counts the rest. `statistic` maps a (resampled)
    array of shape (n,) or (n, k) to a number; mark it `@vectorized` to run all resamples in one
    numpy call. Deterministic given `seed`: metrics bootstrapped with the same seed and n share
    their resamples, as a family comparison needs.
    """
    b, t = _paired_arrays(base, tuned)
    n = len(b)
    if n == 0:
        return Bootstrap(0, None, None, np.empty(0))
    indices = _resample_indices(n, n_resamples, seed)
    diffs = _resampled_statistics(t, indices, statistic) - _resampled_statistics(b, indices, statistic)
    return Bootstrap(n, float(statistic(b)), float(statistic(t)), diffs)


@dataclass(frozen=True)
class Estimate:
    """statistic(values) on one set of answers and its resampled values (no base to pair with)."""

    n: int
    value: float | None
    draws: np.ndarray  # shape (n_resamples,); empty when n == 0

    def interval(self, confidence: float) -> tuple[float | None, float | None]:
        return _percentile_interval(self.draws, confidence) if self.n else (None, None)


def estimate(values: Sequence, *, statistic: Statistic = mean, n_resamples: int = 2000, seed: int = 0) -> Estimate:
    """Percentile bootstrap of statistic(values) for one system's scores (e.g. `harness score`).

    Nones are dropped and `n` counts the rest. With the same seed and n it draws the very
    resamples `bootstrap` draws, so its interval sits beside the evaluator's on equal terms.
    """
    present = [v for v in values if not _missing(v)]
    array = np.asarray(present, dtype=float)
    if not present:
        return Estimate(0, None, np.empty(0))
    indices = _resample_indices(len(array), n_resamples, seed)
    return Estimate(len(array), float(statistic(array)), _resampled_statistics(array, indices, statistic))


def _resample_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _percentile_interval(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return float(low), float(high)


def compare(
    base: Sequence,
    tuned: Sequence,
    *,
    statistic: Statistic = mean,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Paired percentile bootstrap interval of statistic(tuned) - statistic(base) (see `bootstrap`)."""
    return comparison(bootstrap(base, tuned, statistic=statistic, n_resamples=n_resamples, seed=seed), confidence, n_resamples)


def comparison(boot: Bootstrap, confidence: float, n_resamples: int) -> Comparison:
    if boot.n == 0:
        return Comparison(
            n=0, base=None, tuned=None, diff=None, rel_change=None, ci_low=None, ci_high=None,
            confidence=confidence, n_resamples=n_resamples,
        )
    diff = boot.tuned - boot.base
    low, high = boot.interval(confidence)
    return Comparison(
        n=boot.n,
        base=boot.base,
        tuned=boot.tuned,
        diff=diff,
        rel_change=diff / abs(boot.base) if boot.base != 0 else None,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        n_resamples=n_resamples,
    )


def holm(family: dict[str, Bootstrap], confidence: float = 0.95) -> dict[str, AdjustedInterval]:
    """Holm's step-down over a family of paired bootstraps, as intervals.

    Sorted by p-value, member k (0-based) of m gets its interval at level 1 - alpha / (m - k); it
    is significant only if that interval excludes 0 and every member before it was significant.
    The family-wise error rate stays at alpha however many metrics are compared, so a run with
    many metrics cannot claim a win by luck. Members without examples are left out.
    """
    alpha = 1 - confidence
    members = sorted(((name, b) for name, b in family.items() if b.n), key=lambda kv: (kv[1].p_value(), kv[0]))
    out, still_rejecting = {}, True
    for rank, (name, boot) in enumerate(members):
        level = 1 - alpha / (len(members) - rank)
        low, high = boot.interval(level)
        still_rejecting = still_rejecting and (low > 0 or high < 0)
        out[name] = AdjustedInterval(
            family_size=len(members), rank=rank, p_value=boot.p_value(), confidence=level, ci_low=low, ci_high=high,
            significant=still_rejecting,
        )
    return out


def distribution(values: Sequence[float | None]) -> Distribution:
    """n, mean, p50 and p95 of a distribution (e.g. per-query latency); Nones are skipped."""
    present = np.asarray([v for v in values if v is not None], dtype=float)
    if present.size == 0:
        return Distribution(n=0, mean=None, p50=None, p95=None)
    p50, p95 = np.percentile(present, [50, 95])
    return Distribution(n=int(present.size), mean=float(present.mean()), p50=float(p50), p95=float(p95))

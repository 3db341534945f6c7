"""Paired bootstrap confidence intervals for base-vs-tuned differences, and latency summaries.

Both models answer the same prompts, so examples are resampled JOINTLY: one bootstrap resample
picks example indices once and applies them to both models. That keeps the per-prompt pairing
(an easy prompt is easy for both) and gives much tighter, honest intervals than resampling the
two models independently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Statistic = Callable[[np.ndarray], Any]
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


@dataclass(frozen=True)
class Comparison:
    """Base vs tuned on `n` paired examples; CI is the percentile bootstrap of tuned - base.

    `rel_change` is diff / |base| (None when base is 0); all values None when n == 0.
    """

    n: int
    base: float | None
    tuned: float | None
    diff: float | None
    rel_change: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    n_resamples: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def compare(
    base: Sequence,
    tuned: Sequence,
    *,
    statistic: Statistic = mean,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Paired percentile bootstrap of statistic(tuned) - statistic(base).

    `base[i]` and `tuned[i]` are the two models' values on example i: numbers, or rows of k
    numbers (e.g. (nll_sum, n_tokens)) for ratio statistics like `perplexity`. Examples where
    either side is None are dropped, and `n` counts the rest. `statistic` maps a (resampled)
    array of shape (n,) or (n, k) to a number; mark it `@vectorized` to run all resamples in one
    numpy call. Deterministic given `seed`.
    """
    b, t = _paired_arrays(base, tuned)
    n = len(b)
    if n == 0:
        return Comparison(0, None, None, None, None, None, None, confidence, n_resamples)
    base_value, tuned_value = float(statistic(b)), float(statistic(t))
    diff = tuned_value - base_value
    indices = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    diffs = _resampled_statistics(t, indices, statistic) - _resampled_statistics(b, indices, statistic)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    return Comparison(
        n=n,
        base=base_value,
        tuned=tuned_value,
        diff=diff,
        rel_change=diff / abs(base_value) if base_value != 0 else None,
        ci_low=float(low),
        ci_high=float(high),
        confidence=confidence,
        n_resamples=n_resamples,
    )


def summarize(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """n, mean, p50 and p95 of a distribution (e.g. per-query latency); Nones are skipped."""
    present = np.asarray([v for v in values if v is not None], dtype=float)
    if present.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p95": None}
    p50, p95 = np.percentile(present, [50, 95])
    return {"n": int(present.size), "mean": float(present.mean()), "p50": float(p50), "p95": float(p95)}

"""Paired bootstrap: intervals that contain the truth, pair examples, and handle ratios and Nones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.evaluate.stats import bootstrap, compare, distribution, estimate, perplexity
from harness.results import Distribution


def test_identical_inputs_give_zero_difference_and_zero_width_interval() -> None:
    scores = [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    c = compare(scores, list(scores))
    assert (c.n, c.base, c.tuned, c.diff) == (6, 4 / 6, 4 / 6, 0.0)
    assert c.ci_low == 0.0 and c.ci_high == 0.0
    assert c.rel_change == 0.0


def test_point_estimates_and_relative_change() -> None:
    c = compare([0, 0, 1, 1], [1, 1, 1, 0])
    assert c.base == 0.5 and c.tuned == 0.75 and c.diff == 0.25
    assert c.rel_change == pytest.approx(0.5)
    assert c.ci_low <= 0.25 <= c.ci_high
    assert compare([0, 0], [1, 0]).rel_change is None  # base 0: relative change undefined


def test_interval_is_paired_not_independent() -> None:
    """Tuned = base + 0.2 + small noise: pairing makes the CI narrow despite large spread in base."""
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, 300)
    tuned = base + 0.2 + rng.normal(0, 0.05, 300)
    c = compare(base.tolist(), tuned.tolist())
    assert c.ci_low < 0.2 < c.ci_high
    assert c.ci_high - c.ci_low < 0.05  # resampling the models independently gives ~0.3


def test_interval_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true_diff, hits, trials = 0.1, 0, 200
    for trial in range(trials):
        base = rng.binomial(1, 0.5, 80).astype(float)
        tuned = np.where(rng.random(80) < 0.3, rng.binomial(1, 0.6, 80), base)  # E[tuned - base] = 0.3 * 0.1
        c = compare(base.tolist(), tuned.tolist(), n_resamples=500, seed=trial)
        hits += c.ci_low <= 0.3 * true_diff <= c.ci_high
    assert 0.88 <= hits / trials <= 0.995


def test_confidence_level_widens_interval() -> None:
    rng = np.random.default_rng(3)
    base, tuned = rng.random(100).tolist(), rng.random(100).tolist()
    narrow, wide = compare(base, tuned, confidence=0.5), compare(base, tuned, confidence=0.99)
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high


def test_none_on_either_side_drops_the_example() -> None:
    c = compare([1.0, None, 0.0, 1.0], [1.0, 1.0, None, 0.0])
    assert c.n == 2 and c.base == 1.0 and c.tuned == 0.5
    empty = compare([None, None], [1.0, None])
    assert empty.n == 0 and empty.diff is None and empty.ci_low is None


def test_unequal_lengths_are_an_error() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        compare([1.0, 0.0], [1.0])


def test_perplexity_is_token_weighted_ratio_of_sums() -> None:
    base = [(2.0, 1), (0.0, 3)]  # per-example perplexities e^2 and 1; token-weighted e^(2/4)
    tuned = [(1.0, 1), (0.0, 3)]
    c = compare(base, tuned, statistic=perplexity, n_resamples=300)
    assert c.base == pytest.approx(math.exp(0.5))
    assert c.tuned == pytest.approx(math.exp(0.25))
    assert c.base != pytest.approx((math.exp(2) + 1) / 2)
    assert c.ci_low <= c.diff <= c.ci_high


def test_plain_per_resample_statistic_matches_vectorised_one() -> None:
    """A statistic written for one (n, k) resample (as the evaluator's) gives the same answer."""
    rng = np.random.default_rng(5)
    base = np.column_stack([rng.random(50) * 10, rng.integers(1, 20, 50)]).tolist()
    tuned = np.column_stack([rng.random(50) * 8, rng.integers(1, 20, 50)]).tolist()

    def plain(rows: np.ndarray) -> float:
        assert rows.shape == (50, 2)
        return math.exp(rows[:, 0].sum() / rows[:, 1].sum())

    vec, loop = compare(base, tuned, statistic=perplexity, seed=2), compare(base, tuned, statistic=plain, seed=2)
    assert (vec.ci_low, vec.ci_high, vec.diff) == pytest.approx((loop.ci_low, loop.ci_high, loop.diff), rel=1e-12)


def test_rows_with_a_none_are_dropped() -> None:
    c = compare([(1.0, 2), (None, 3)], [(1.0, 2), (5.0, 3)], statistic=perplexity)
    assert c.n == 1


def test_seed_makes_it_deterministic() -> None:
    base, tuned = [0, 1, 1, 0, 1], [1, 1, 0, 1, 1]
    assert compare(base, tuned, seed=4) == compare(base, tuned, seed=4)
    assert compare(base, tuned, seed=4).ci_low is not None


def test_as_dict_is_json_ready() -> None:
    d = compare([1, 0], [1, 1]).model_dump()
    assert set(d) >= {"n", "base", "tuned", "diff", "rel_change", "ci_low", "ci_high"}
    assert all(v is None or isinstance(v, (int, float)) for v in d.values())


def test_summarize_latency_distribution() -> None:
    s = distribution([float(v) for v in range(1, 101)] + [None])
    assert (s.n, s.mean, s.p50, s.p95) == (100, 50.5, 50.5, pytest.approx(95.05))
    assert distribution([None]) == Distribution(n=0, mean=None, p50=None, p95=None)


def test_one_sample_estimate_drops_nones_and_draws_the_paired_bootstraps_resamples() -> None:
    rng = np.random.default_rng(3)
    scores = list(rng.integers(0, 2, size=60).astype(float))
    est = estimate(scores + [None, None], n_resamples=500, seed=4)
    assert est.n == 60 and est.value == pytest.approx(np.mean(scores))
    low, high = est.interval(0.95)
    assert low < est.value < high and high - low < 0.4
    # against an all-zero base the paired bootstrap's differences are exactly these draws
    np.testing.assert_array_equal(est.draws, bootstrap([0.0] * 60, scores, n_resamples=500, seed=4).diffs)
    assert estimate([None], n_resamples=100).interval(0.95) == (None, None)


def test_one_sample_interval_covers_the_true_rate_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(11)
    covered = 0
    for trial in range(200):
        low, high = estimate(list(rng.random(80) < 0.3), n_resamples=400, seed=trial).interval(0.95)
        covered += low <= 0.3 <= high
    assert 0.88 <= covered / 200 <= 0.99

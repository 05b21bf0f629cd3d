"""Bootstrap means and paired differences: hand-computed cases, known effects, coverage."""

from __future__ import annotations

import numpy as np
import pytest

from physar_ray.report.statistics import mean_ci, paired_difference


def test_two_values_hand_computed_interval():
    # resampling {0, 1} twice: means 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the 2.5 % and
    # 97.5 % quantiles of the bootstrap means are 0 and 1
    est = mean_ci([0.0, 1.0])
    assert (est.count, est.mean, est.low, est.high) == (2, 0.5, 0.0, 1.0)


def test_constant_values_have_a_zero_width_interval_and_small_counts_none():
    assert mean_ci([2.0, 2.0, 2.0]).as_dict() == {"count": 3, "mean": 2.0, "low": 2.0, "high": 2.0}
    assert mean_ci([0.7]).as_dict() == {"count": 1, "mean": 0.7, "low": None, "high": None}
    assert mean_ci([]).as_dict() == {"count": 0, "mean": None, "low": None, "high": None}


def test_interval_matches_the_normal_approximation_for_many_values():
    x = np.random.default_rng(1).normal(0.0, 1.0, 400)
    est = mean_ci(x)
    assert est.mean == pytest.approx(x.mean())
    # half-width ≈ 1.96 · s / √n = 1.96 · 1 / 20 ≈ 0.098
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert (est.high - est.low) / 2 == pytest.approx(half, rel=0.1)
    assert est.low < est.mean < est.high


def test_seeded_so_the_same_values_give_the_same_interval():
    x = np.random.default_rng(2).normal(size=30)
    assert mean_ci(x) == mean_ci(x)
    assert mean_ci(x, seed=1) != mean_ci(x)  # another seed moves the bounds a little
    assert mean_ci(x, seed=1).low == pytest.approx(mean_ci(x).low, abs=0.1)


def test_coverage_is_close_to_the_nominal_95_percent():
    # 200 samples of 30 standard normals: the interval should hold the true mean 0 about 95 % of the
    # time (percentile bootstrap at n = 30: a little under); too wide or too narrow fails
    rng = np.random.default_rng(3)
    hits = [(e.low <= 0.0 <= e.high) for e in (mean_ci(rng.normal(size=30), resamples=1000) for _ in range(200))]
    assert 0.88 <= np.mean(hits) <= 0.99


def test_paired_difference_hand_computed():
    a, b = [1.0, 2.0, 3.0], [1.5, 2.5, 2.0]  # b − a = 0.5, 0.5, −1 → mean 0; b < a in 1 of 3 pairs
    est = paired_difference(a, b)
    assert (est.count, est.mean_a, est.mean_b, est.diff) == (3, 2.0, 2.0, 0.0)
    assert est.b_lower_fraction == pytest.approx(1 / 3)
    assert est.low < 0.0 < est.high
    one = paired_difference([1.0], [0.5])
    assert (one.count, one.diff, one.low, one.high, one.b_lower_fraction) == (1, -0.5, None, None, 1.0)
    assert paired_difference([], []).count == 0


def test_swapping_the_sides_mirrors_the_interval():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=20), rng.normal(size=20)
    ab, ba = paired_difference(a, b), paired_difference(b, a)
    assert ab.diff == pytest.approx(-ba.diff)
    assert ab.low == pytest.approx(-ba.high) and ab.high == pytest.approx(-ba.low)


def test_known_shift_is_found_only_when_the_pairs_are_kept():
    # 48 conditions whose errors spread widely (σ = 1); b is a − 0.3 plus small noise (σ = 0.2)
    rng = np.random.default_rng(5)
    a = rng.normal(2.0, 1.0, 48)
    b = a - 0.3 + rng.normal(0.0, 0.2, 48)
    est = paired_difference(a, b)
    assert est.high < 0.0  # the interval excludes 0 ...
    assert est.low <= -0.3 <= est.high  # ... and holds the true shift
    assert est.b_lower_fraction > 0.85
    # the same videos compared as two independent means: the intervals overlap, no conclusion
    ea, eb = mean_ci(a), mean_ci(b)
    assert eb.high > ea.low


def test_no_effect_gives_an_interval_around_zero():
    rng = np.random.default_rng(6)
    a = rng.normal(2.0, 1.0, 48)
    est = paired_difference(a, a + rng.normal(0.0, 0.2, 48))
    assert est.low < 0.0 < est.high


def test_refuses_nan_mismatched_pairs_and_bad_confidence():
    with pytest.raises(ValueError, match="non-finite"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="matched pairs"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence=1.5"):
        mean_ci([1.0, 2.0], confidence=1.5)

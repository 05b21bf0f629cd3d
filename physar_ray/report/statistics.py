"""Means with percentile-bootstrap confidence intervals, alone and over matched pairs (numpy only).

Every evaluation cell is a mean over a few dozen videos, so a difference between two models is
only worth stating with its interval. ``mean_ci`` resamples the videos of one cell;
``paired_difference`` resamples matched pairs (the same condition under two models), which
removes the spread between conditions from the comparison. The bootstrap is seeded, so the same
values always give the same interval (Efron & Tibshirani, *An Introduction to the Bootstrap*,
1993, ch. 13: the percentile interval).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

RESAMPLES = 2000
"""Bootstrap resamples per interval: the 2.5 % and 97.5 % quantiles move by < 1 % of the width between seeds."""

SEED = 0
"""Seed of the bootstrap generator: the same values always give the same interval."""

CONFIDENCE = 0.95

_DRAWS = 1 << 22  # indices drawn at once (32 MiB), so a cell of 50k videos resamples in bounded memory


@dataclass(frozen=True)
class Estimate:
    """A mean over ``count`` values with its bootstrap interval [low, high]; None where undefined
    (mean: no values; interval: fewer than 2 values)."""

    count: int
    mean: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairedEstimate:
    """Mean of b − a over ``count`` matched pairs with its bootstrap interval, the two sides'
    means, and the fraction of pairs where b < a (strictly)."""

    count: int
    mean_a: float | None
    mean_b: float | None
    diff: float | None
    low: float | None
    high: float | None
    b_lower_fraction: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def _finite(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape}: expected a 1-D sequence of numbers")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN or inf): leave out the videos "
                         "that were not measured (e.g. untracked ones) and count them separately")
    return arr


def bootstrap_means(values: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """[resamples] means of ``values`` [n] resampled with replacement (n ≥ 1)."""
    if resamples < 1:
        raise ValueError(f"resamples={resamples} must be ≥ 1")
    rng = np.random.default_rng(seed)
    n, out = len(values), np.empty(resamples)
    chunk = max(1, _DRAWS // n)
    for start in range(0, resamples, chunk):
        k = min(chunk, resamples - start)
        out[start: start + k] = values[rng.integers(0, n, size=(k, n))].mean(axis=1)
    return out


def percentile_interval(values: np.ndarray, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                        seed: int = SEED) -> tuple[float, float]:
    """The (1 − c)/2 and (1 + c)/2 quantiles of the bootstrap means of ``values`` [n ≥ 2]."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence} must lie in (0, 1), e.g. 0.95")
    means = bootstrap_means(values, resamples, seed)
    low, high = np.quantile(means, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    return float(low), float(high)


def mean_ci(values, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = SEED) -> Estimate:
    """Count, mean and percentile-bootstrap interval of finite ``values`` [n]."""
    arr = _finite(values, "values")
    if arr.size == 0:
        return Estimate(0, None, None, None)
    if arr.size == 1:
        return Estimate(1, float(arr[0]), None, None)
    low, high = percentile_interval(arr, confidence, resamples, seed)
    return Estimate(int(arr.size), float(arr.mean()), low, high)


def paired_difference(a, b, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                      seed: int = SEED) -> PairedEstimate:
    """Mean of b_i − a_i over matched pairs (a [n], b [n], finite) with its bootstrap interval.

    Negative means b is lower (for an error: b is better). The pairs are resampled together, so
    the interval is that of the mean difference, not of two independent means.
    """
    a_arr, b_arr = _finite(a, "a"), _finite(b, "b")
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"a has {a_arr.size} values and b {b_arr.size}: pass matched pairs, one value each")
    if a_arr.size == 0:
        return PairedEstimate(0, None, None, None, None, None, None)
    diff = b_arr - a_arr
    low, high = percentile_interval(diff, confidence, resamples, seed) if diff.size > 1 else (None, None)
    return PairedEstimate(int(diff.size), float(a_arr.mean()), float(b_arr.mean()), float(diff.mean()), low, high,
                          float(np.mean(b_arr < a_arr)))

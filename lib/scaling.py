"""Power laws: fitting ``y ≈ a · x^slope`` on log-log axes, with bootstrap confidence intervals.

Used for width scaling (Chapter 1: distance to the infinite-width kernel ∝ n^{-1/2}) and data
scaling (Chapter 5: test error ∝ n^{-α}; the *exponent* reported there is ``α = −slope``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PowerLawFit:
    """``y ≈ exp(intercept) · x^slope``, fitted by least squares on ``log y`` vs ``log x``."""

    slope: float
    intercept: float

    def __call__(self, x: np.ndarray | Sequence[float]) -> np.ndarray:
        """The fitted ``y`` at ``x``."""
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope

    def solve(self, y: float) -> float:
        """The ``x`` at which the fitted law reaches ``y`` (an extrapolation outside the fitted range)."""
        if y <= 0 or self.slope == 0:
            raise ValueError(f"Need y > 0 and a non-zero slope to invert a power law; got y={y}, slope={self.slope}.")
        return float(np.exp((np.log(y) - self.intercept) / self.slope))


def crossover(a: PowerLawFit, b: PowerLawFit) -> float:
    """The ``x`` where two fitted power laws cross (``inf`` for parallel laws); an extrapolation."""
    if abs(a.slope - b.slope) < 1e-12:
        return float("inf")
    return float(np.exp((b.intercept - a.intercept) / (a.slope - b.slope)))


def fit_power_law(x: Sequence[float], y: Sequence[float]) -> PowerLawFit:
    """Least-squares line through ``(log x, log y)``; all values must be positive and finite."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise ValueError(f"Need two 1-D arrays of the same length >= 2, got shapes {x.shape} and {y.shape}.")
    if not (np.all(x > 0) and np.all(y > 0) and np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("A power law is fitted on a log-log scale: x and y must be positive and finite.")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return PowerLawFit(float(slope), float(intercept))


@dataclass(frozen=True)
class BootstrapPowerLaw:
    """A power-law fit of mean errors with a percentile bootstrap interval for the slope.

    Attributes:
        fit: the fit to the full data (mean over seeds and test examples).
        slope_low, slope_high: the ``confidence`` percentile interval of the slope.
        slopes: the bootstrap replicates ``[B]`` (replicates with a zero mean error are dropped).
        confidence: e.g. 0.95.
    """

    fit: PowerLawFit
    slope_low: float
    slope_high: float
    slopes: np.ndarray
    confidence: float

    @property
    def exponent(self) -> float:
        """``α = −slope`` (errors that fall with ``x`` have a positive exponent)."""
        return -self.fit.slope

    @property
    def exponent_interval(self) -> tuple[float, float]:
        return -self.slope_high, -self.slope_low


def bootstrap_power_law(x: Sequence[float], per_example: np.ndarray, *, resamples: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> BootstrapPowerLaw:
    """Fit ``mean error ≈ a · x^slope`` and bootstrap the slope.

    Args:
        x: the sizes ``[S]`` (e.g. training-set sizes), positive.
        per_example: losses per test example ``[S, R, T]`` — ``S`` sizes, ``R`` repetitions
            (seeds), ``T`` test examples (e.g. 0/1 errors). The same ``T`` test examples must
            be used at every size, so the bootstrap resamples them *paired* across sizes; when
            ``R > 1`` the repetitions are resampled too.
        resamples: number of bootstrap replicates ``B``.
        confidence: width of the percentile interval.
        seed: seeds the resampling.
    """
    x = np.asarray(x, dtype=float)
    losses = np.asarray(per_example, dtype=float)
    if losses.ndim != 3 or losses.shape[0] != len(x):
        raise ValueError(f"per_example must have shape [len(x)={len(x)}, repetitions, test examples]; "
                         f"got {losses.shape}.")
    if not 0 < confidence < 1 or resamples < 10:
        raise ValueError(f"Need 0 < confidence < 1 and resamples >= 10; got {confidence}, {resamples}.")
    fit = fit_power_law(x, losses.mean(axis=(1, 2)))
    rng = np.random.default_rng(seed)
    _, r, t = losses.shape
    slopes = []
    for _ in range(resamples):
        reps = rng.integers(0, r, size=r) if r > 1 else np.zeros(1, dtype=int)
        tests = rng.integers(0, t, size=t)
        means = losses[:, reps][:, :, tests].mean(axis=(1, 2))
        if np.all(means > 0):
            slopes.append(np.polyfit(np.log(x), np.log(means), 1)[0])
    slopes = np.asarray(slopes)
    if len(slopes) < resamples // 2:
        raise ValueError("Most bootstrap replicates had a zero error at some size; use more test examples.")
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(slopes, [tail, 100 - tail])
    return BootstrapPowerLaw(fit, float(low), float(high), slopes, confidence)


@dataclass(frozen=True)
class ExponentFit:
    """A data-scaling exponent ``α`` (``error ≈ a·n^{−α}``) with a bootstrap interval over repetitions.

    Attributes:
        fit: the power law fitted to the mean curve over all repetitions.
        low, high: percentile interval of ``α``.
        confidence: e.g. 0.95.
        n: number of repetitions; method: how they were resampled.
    """

    fit: PowerLawFit
    low: float
    high: float
    confidence: float
    n: int
    method: str

    @property
    def exponent(self) -> float:
        """``α = −slope``."""
        return -self.fit.slope

    @property
    def interval(self):
        """The exponent as a :class:`lib.stats.Interval` (for verdicts and words)."""
        from lib.stats import Interval

        return Interval(self.exponent, self.low, self.high, self.confidence, self.n, float("nan"), self.method)

    def text(self, fmt: str = ".2f") -> str:
        """``"0.42 [0.38, 0.47]"``."""
        return f"{self.exponent:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


def power_law_exponent(x: Sequence[float], runs: np.ndarray, *, groups: Sequence[int] | None = None,
                       confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> ExponentFit:
    """Fit ``mean error ≈ a·x^{−α}`` over all ``x`` and bootstrap ``α`` over repetitions.

    Args:
        x: ``[X]`` sizes (positive).
        runs: ``[R, X]`` mean test error of each repetition (seed, or seed × data draw) at each size.
        groups: optional ``[R]`` data-draw label of each row: then draws are resampled, and seeds within
            them (:func:`lib.stats.bootstrap_rows`), so the interval covers data-draw variation too.
    """
    from lib.stats import bootstrap_rows

    xs = np.asarray(x, dtype=float)
    y = np.asarray(runs, dtype=float)
    if y.ndim != 2 or y.shape[1] != len(xs):
        raise ValueError(f"runs must have shape [repetitions, len(x)={len(xs)}]; got {y.shape}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}.")
    fit = fit_power_law(xs, y.mean(axis=0))
    index = bootstrap_rows(y.shape[0], groups=groups, resamples=resamples, seed=seed)
    means = y[index].mean(axis=1)  # [B, X]
    keep = np.all(means > 0, axis=1)
    if keep.mean() < 0.5:
        raise ValueError("Most bootstrap replicates had a zero mean error at some size; use more test examples.")
    lx = np.log(xs) - np.log(xs).mean()
    logs = np.log(means[keep])
    slopes = (logs - logs.mean(axis=1, keepdims=True)) @ lx / (lx @ lx)
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(-slopes, [tail, 100 - tail])
    method = "cluster bootstrap over data draws and seeds" if groups is not None else "bootstrap over seeds"
    return ExponentFit(fit, float(lo), float(hi), confidence, y.shape[0], method)

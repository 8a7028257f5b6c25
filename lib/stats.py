"""Statistics every chapter uses: paired comparisons, trends over widths or sizes, many verdicts at once,
and the words the text uses for an interval.

Conventions:

* *runs* are arrays whose first axis indexes independent repetitions (seeds, or seed × data-draw
  pairs); a **paired** comparison needs the same repetitions for both arms (runs that share seeds);
* intervals are two-sided with coverage ``confidence`` (default 0.95);
* a *verdict* is read from an interval, never from two point estimates: an interval for a difference
  that excludes 0 (or a slope's interval that excludes 0) says "larger"/"smaller", otherwise
  "not distinguishable" — which is a statement about our data, not a proof of equality.

References for the methods: Student's paired t-interval (df = n − 1); percentile bootstrap
(Efron & Tibshirani 1993); cluster (two-stage) bootstrap for repetitions nested in data draws
(Davison & Hinkley 1997, §3.8); Holm's step-down correction for a family of tests (Holm 1979).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

from lib.options import Option

__all__ = ["Interval", "Verdict", "TrendMethod", "TrendInterval", "PairedMethod", "paired_difference", "trend",
           "holm", "bootstrap_rows", "verdict_of", "describe", "mean_interval", "BOOTSTRAP_MIN_UNITS"]


class Verdict(Option):
    """What an interval for a difference (or a slope) says about its sign."""

    LARGER = "larger", "the whole interval lies above the null value"
    SMALLER = "smaller", "the whole interval lies below the null value"
    INDISTINGUISHABLE = "not distinguishable", "the interval contains the null value"


class PairedMethod(Option):
    """How :func:`paired_difference` builds its interval."""

    T = "t", "Student t-interval on the differences, n − 1 degrees of freedom"
    BOOTSTRAP = "bootstrap", "percentile bootstrap over the pairs"


class TrendMethod(Option):
    """The x-axis of :func:`trend`."""

    LOG = "log", "fit y = a + b·log10 x (slope per decade)"
    LINEAR = "linear", "fit y = a + b·x (slope per unit)"


class TrendInterval(Option):
    """How :func:`trend` makes its interval."""

    AUTO = "auto", "t over repetitions (or clusters) when there are fewer than 20 of them, else the bootstrap"
    T = "t", ("Student t over the per-repetition slopes (df = n − 1); with groups, over the per-cluster mean slopes "
              "(df = clusters − 1)")
    BOOTSTRAP = "bootstrap", "percentile bootstrap of the mean curve's slope (two-stage with groups)"


#: Below this many independent repetitions (clusters with ``groups``) ``TrendInterval.AUTO`` uses the t-interval:
#: a percentile bootstrap over few repetitions is too narrow (it ignores the t quantile and the n − 1 divisor;
#: over 5 seeds it is about 0.6 of the t-interval's width).
BOOTSTRAP_MIN_UNITS = 20


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided interval.

    Attributes:
        estimate: the estimate from all the data.
        low, high: interval bounds.
        confidence: nominal coverage, e.g. 0.95.
        n: number of independent repetitions behind it.
        p_value: two-sided p-value of "the quantity is 0" where the method gives one, else ``nan``.
        method: how the interval was made (for captions and tables).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n: int
    p_value: float = float("nan")
    method: str = ""

    @property
    def verdict(self) -> Verdict:
        """:func:`verdict_of` this interval against 0."""
        return verdict_of(self)

    def text(self, fmt: str = ".3g", unit: str = "") -> str:
        """``"0.12 [0.05, 0.19]"`` (estimate and interval, with ``unit`` after each number)."""
        return (f"{self.estimate:{fmt}}{unit} [{self.low:{fmt}}{unit}, {self.high:{fmt}}{unit}]")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence!r}.")


def _as_runs(name: str, values: Sequence[float] | np.ndarray, *, ndim: int) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D (repetitions first); got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; drop or fix those runs first.")
    return array


def mean_interval(values: Sequence[float] | np.ndarray, *, confidence: float = 0.95) -> Interval:
    """Mean of independent repetitions ``[n]`` with a Student t-interval (df = n − 1)."""
    _check_confidence(confidence)
    x = _as_runs("values", values, ndim=1)
    n = len(x)
    if n < 2:
        raise ValueError(f"An interval needs at least 2 repetitions; got {n}. Run more seeds.")
    mean, sem = float(x.mean()), float(x.std(ddof=1) / np.sqrt(n))
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, df=n - 1)) * sem
    p = float(2 * scipy_stats.t.sf(abs(mean) / sem, df=n - 1)) if sem > 0 else (0.0 if mean != 0 else 1.0)
    return Interval(mean, mean - half, mean + half, confidence, n, p, "t")


def paired_difference(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                      confidence: float = 0.95, method: PairedMethod | str = PairedMethod.T,
                      resamples: int = 4000, seed: int = 0) -> Interval:
    """Mean of ``a − b`` over shared repetitions, with an interval that respects the pairing.

    Args:
        a, b: ``[n]`` results of two arms on the **same** seeds / data draws, in the same order.
        method: ``"t"`` — paired Student t-interval with ``n − 1`` degrees of freedom (p-value from the
            paired t-test); ``"bootstrap"`` — percentile bootstrap over the pairs (p-value: twice the
            smaller tail fraction of replicates on either side of 0).
        resamples, seed: bootstrap replicates and their RNG seed.

    Returns:
        :class:`Interval` for ``mean(a − b)``.
    """
    method = PairedMethod(method)
    _check_confidence(confidence)
    x, y = _as_runs("a", a, ndim=1), _as_runs("b", b, ndim=1)
    if x.shape != y.shape:
        raise ValueError(f"A paired comparison needs the same repetitions in both arms; got {len(x)} and {len(y)}.")
    d = x - y
    if method is PairedMethod.T:
        result = mean_interval(d, confidence=confidence)
        return Interval(result.estimate, result.low, result.high, confidence, len(d), result.p_value, "paired t")
    if len(d) < 2:
        raise ValueError(f"A bootstrap needs at least 2 pairs; got {len(d)}.")
    rng = np.random.default_rng(seed)
    reps = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(reps, [tail, 1 - tail])
    p = float(min(1.0, 2 * min((reps <= 0).mean(), (reps >= 0).mean())))
    return Interval(float(d.mean()), float(low), float(high), confidence, len(d), p, "paired bootstrap")


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc * xc).sum())


def bootstrap_rows(rows: int, *, groups: Sequence[int] | None = None, resamples: int = 4000,
                   seed: int = 0) -> np.ndarray:
    """Row indices ``[resamples, rows]`` of bootstrap replicates of ``rows`` repetitions.

    Without ``groups`` rows are resampled as independent. With ``groups`` (one cluster label per row,
    e.g. the data draw a seed ran on) the bootstrap is two-stage: clusters are drawn with replacement,
    then rows with replacement within each drawn cluster (Davison & Hinkley 1997, §3.8).
    """
    if rows < 2:
        raise ValueError(f"A bootstrap interval needs at least 2 repetitions; got {rows}. Run more seeds.")
    rng = np.random.default_rng(seed)
    if groups is None:
        return rng.integers(0, rows, size=(resamples, rows))
    labels = np.asarray(groups)
    if labels.shape != (rows,):
        raise ValueError(f"groups must give one label per row ({rows}); got shape {labels.shape}.")
    clusters = [np.flatnonzero(labels == g) for g in np.unique(labels)]
    if len(clusters) < 2:
        raise ValueError("groups has a single cluster; a two-stage bootstrap needs at least 2 (e.g. data draws).")
    index = np.empty((resamples, rows), dtype=int)
    for b in range(resamples):
        picked = rng.integers(0, len(clusters), size=len(clusters))
        drawn = np.concatenate([rng.choice(clusters[c], size=len(clusters[c])) for c in picked])
        index[b] = drawn if len(drawn) == rows else rng.choice(drawn, size=rows)
    return index


def trend(x: Sequence[float], runs: Sequence[Sequence[float]] | np.ndarray, *,
          method: TrendMethod | str = TrendMethod.LOG, groups: Sequence[int] | None = None,
          confidence: float = 0.95, interval: TrendInterval | str = TrendInterval.AUTO, resamples: int = 4000,
          seed: int = 0) -> Interval:
    """Least-squares slope of the mean curve over **all** ``x``, with an interval over repetitions.

    The OLS slope is linear in ``y``, so the slope of the mean curve equals the mean of the per-repetition
    slopes; the t-interval treats those slopes as independent draws (per cluster with ``groups``).

    Args:
        x: ``[X]`` e.g. widths or training-set sizes (positive for ``method="log"``).
        runs: ``[R, X]`` one row per repetition (seed, or seed × data draw), the same ``x`` in each row.
        method: ``"log"`` — slope per decade of ``x`` (``y = a + b·log10 x``); ``"linear"`` — per unit.
        groups: optional ``[R]`` cluster labels (e.g. the data draw of each row), when rows are not
            independent (seeds sharing a data draw): the t-interval is then over clusters, the bootstrap
            two-stage (clusters, then rows within each drawn cluster).
        confidence: interval coverage.
        interval: ``"auto"`` (default: t below :data:`BOOTSTRAP_MIN_UNITS` independent units, else
            bootstrap), ``"t"`` or ``"bootstrap"``.
        resamples, seed: bootstrap replicates and RNG seed.

    Returns:
        :class:`Interval` for the slope ``b`` (p-value of "b = 0": the t-test's, or twice the smaller bootstrap
        tail beyond 0); ``method`` says which interval was used.
    """
    method = TrendMethod(method)
    interval = TrendInterval(interval)
    _check_confidence(confidence)
    xs = _as_runs("x", x, ndim=1)
    y = _as_runs("runs", runs, ndim=2)
    if y.shape[1] != len(xs):
        raise ValueError(f"runs must have shape [repetitions, len(x)={len(xs)}]; got {y.shape}.")
    if len(xs) < 2 or np.ptp(xs) == 0:
        raise ValueError(f"A trend needs at least two distinct x values; got {xs.tolist()}.")
    if method is TrendMethod.LOG:
        if np.any(xs <= 0):
            raise ValueError(f"method='log' needs positive x; got {xs.tolist()}. Use method='linear'.")
        xs = np.log10(xs)
    r = y.shape[0]
    xc = xs - xs.mean()
    per_row = (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)  # [R] slope of each repetition
    if groups is not None:
        labels = np.asarray(groups)
        if labels.shape != (r,):
            raise ValueError(f"groups must have one label per row ({r}); got shape {labels.shape}.")
        units = np.array([per_row[labels == g].mean() for g in np.unique(labels)])
    else:
        units = per_row
    unit_name = "clusters" if groups is not None else "repetitions"
    per = "decade" if method is TrendMethod.LOG else "unit"
    use_t = interval is TrendInterval.T or (interval is TrendInterval.AUTO and len(units) < BOOTSTRAP_MIN_UNITS)
    if use_t:
        if len(units) < 2:
            raise ValueError("groups has a single cluster; an interval needs at least 2 (e.g. data draws)."
                             if groups is not None else f"A trend interval needs at least 2 repetitions; got {r}.")
        t = mean_interval(units, confidence=confidence)  # estimate = slope of the mean curve (of cluster means)
        return Interval(t.estimate, t.low, t.high, confidence, len(units), t.p_value,
                        f"OLS slope per {per}, t over {len(units)} {unit_name}' slopes")
    index = bootstrap_rows(r, groups=groups, resamples=resamples, seed=seed)
    means = y[index].mean(axis=1)  # [B, X]
    slopes = (means - means.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    tail = (1 - confidence) / 2
    low, high = np.quantile(slopes, [tail, 1 - tail])
    p = float(min(1.0, 2 * min((slopes <= 0).mean(), (slopes >= 0).mean())))
    label = "cluster bootstrap" if groups is not None else "bootstrap"
    return Interval(_slope(xs, y.mean(axis=0)), float(low), float(high), confidence, r, p,
                    f"OLS slope per {per}, {label}")


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values ``[m]`` for a family of ``m`` tests (same order as the input).

    Reject test ``i`` at family-wise level ``α`` when ``adjusted[i] <= α``.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1 or np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p_values must be a 1-D array of numbers in [0, 1]; got {p!r}.")
    m = len(p)
    order = np.argsort(p)
    adjusted_sorted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(adjusted_sorted, 1.0)
    return adjusted


def verdict_of(interval: Interval, *, null: float = 0.0) -> Verdict:
    """``LARGER`` if the whole interval is above ``null``, ``SMALLER`` if below, else ``INDISTINGUISHABLE``."""
    if interval.low > null:
        return Verdict.LARGER
    if interval.high < null:
        return Verdict.SMALLER
    return Verdict.INDISTINGUISHABLE


def describe(interval: Interval, *, larger: str, smaller: str, same: str, fmt: str = ".3g", unit: str = "",
             null: float = 0.0, adjusted_p: float | None = None, alpha: float = 0.05, what: str = "") -> str:
    """The words the text uses for an interval, with the numbers behind them.

    Example: ``describe(diff, larger="higher than", smaller="lower than", same="not distinguishable from",
    what="the kernel's")`` gives ``"higher than the kernel's (0.12 [0.05, 0.19], paired t, n = 10)"``.

    With fewer than three repetitions no verdict is given ("not assessed"). With ``adjusted_p`` (from
    :func:`holm`, when the text states many verdicts at once) a verdict whose
    interval excludes ``null`` but whose adjusted p-value exceeds ``alpha`` is reported as ``same`` and the
    sentence says so.
    """
    if interval.n < 3:  # two repetitions give no usable interval: no verdict, whatever the numbers
        tail = f" {what}" if what else ""
        return (f"not assessed against{tail} (estimate {interval.estimate:{fmt}}{unit}; n = {interval.n} repetitions "
                "are too few for a verdict)")
    verdict = verdict_of(interval, null=null)
    words = {Verdict.LARGER: larger, Verdict.SMALLER: smaller, Verdict.INDISTINGUISHABLE: same}[verdict]
    detail = f"{interval.text(fmt, unit)}, {interval.method}, n = {interval.n}" if interval.method else \
        interval.text(fmt, unit)
    tail = f" {what}" if what else ""
    if adjusted_p is not None and verdict is not Verdict.INDISTINGUISHABLE and adjusted_p > alpha:
        return f"{same}{tail} ({detail}; not significant after Holm's correction, adjusted p = {adjusted_p:.2g})"
    return f"{words}{tail} ({detail})"

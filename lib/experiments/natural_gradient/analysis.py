"""Chapter 2's analysis: hyperparameter picks with grid-edge warnings, power-law fits of the stability constant with
bootstrap intervals (and the width at which it would reach 1/2, as a range), per-step contraction of the residual,
and paired comparisons of the optimizers over seeds.

Arrays are ``[S, X]``: one row per seed (the repetition), one column per width, ``N`` or logged point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lib.stats import Interval, TrendMethod, bootstrap_rows, mean_interval, paired_difference, trend

__all__ = ["seed_slopes", "seed_slope", "local_slopes", "Pick", "pick_practical", "pick_learning_rate",
           "picks_table", "PowerFit", "power_fit", "residual_norms", "contraction", "convergence_order",
           "curve_arrays", "value_at_time", "value_at_epoch", "paired"]


@dataclass(frozen=True)
class Pick:
    """One tuned setting: ``method`` with ``values`` (e.g. ``{"learning rate": 0.1}``), its validation score (lower is
    better; ``inf`` if every run diverged) and the grid edges it sits on (a pick on an edge may be better outside)."""

    method: str
    values: dict
    score: float
    score_name: str
    edges: tuple[str, ...]


def _edges(value: float, grid: Sequence[float], name: str) -> list[str]:
    grid = sorted(set(grid))
    if len(grid) < 2:
        return [f"{name} not tuned (one value)"]
    if value == grid[0]:
        return [f"{name} at the grid's low end"]
    if value == grid[-1]:
        return [f"{name} at the grid's high end"]
    return []


def _final(result: Mapping, key: str) -> float:
    value = result[key][-1]
    return math.inf if result["diverged"] or not math.isfinite(value) else float(value)


HYPERPARAMETERS = {"learning_rate": "learning rate", "damping": "damping"}


def pick_practical(records: Sequence[Mapping], configs: Sequence[Mapping]) -> tuple[dict, list[Pick]]:
    """Per method, the grid point with the lowest validation cross-entropy after the last epoch (diverged runs count
    as ``inf``; ties go to the smaller learning rate, then damping).

    Returns:
        ``(picks, table)``: ``picks[method]`` is the dict of hyperparameters for
        :func:`~lib.experiments.natural_gradient.configs.practical_configs`; ``table`` one :class:`Pick` per method.
    """
    picks: dict[str, dict] = {}
    table: list[Pick] = []
    methods = list(dict.fromkeys(c["method"] for c in configs))
    for method in methods:
        rows = [(c, r) for c, r in zip(configs, records, strict=False) if c["method"] == method]
        keys = [k for k in ("learning_rate", "damping", "curvature_every") if k in rows[0][0]]
        score, config = min(((_final(r, "eval_loss"), c) for c, r in rows),
                            key=lambda item: (item[0], item[1]["learning_rate"], item[1].get("damping", 0)))
        if not math.isfinite(score):
            raise RuntimeError(f"Every tuning run of {method} diverged; extend its grid towards smaller steps.")
        picks[method] = {k: config[k] for k in keys}
        edges = [e for k in keys if k in HYPERPARAMETERS
                 for e in _edges(config[k], [c[k] for c, _ in rows], HYPERPARAMETERS[k])]
        table.append(Pick(method, {HYPERPARAMETERS[k]: config[k] for k in keys if k in HYPERPARAMETERS}, score,
                          "validation cross-entropy", tuple(edges)))
    return picks, table


def pick_learning_rate(records: Sequence[Mapping], configs: Sequence[Mapping]) -> tuple[dict, list[Pick]]:
    """Teaching race: per first-order optimizer, the learning rate whose tuning run (tuning seed) ended with the lowest
    training loss; a diverged run counts as ``inf``; ties go to the larger rate."""
    picks: dict[str, float] = {}
    table: list[Pick] = []
    for name in dict.fromkeys(c["optimizer"] for c in configs):
        rows = [(c["learning_rate"], _final(r, "losses")) for c, r in zip(configs, records, strict=True)
                if c["optimizer"] == name]
        lr, score = min(rows, key=lambda item: (item[1], -item[0]))
        if not math.isfinite(score):
            raise RuntimeError(f"Every learning rate of {name} diverged; extend the grid downwards.")
        picks[name] = lr
        table.append(Pick(name, {"learning rate": lr}, score, "training loss",
                          tuple(_edges(lr, [r[0] for r in rows], "learning rate"))))
    return picks, table


def picks_table(picks: Sequence[Pick], names: Mapping[str, str] | None = None) -> str:
    """A Markdown table of the picks, with a warning column."""
    names = names or {}
    lines = ["| method | picked | score | warning |", "|---|---|---:|---|"]
    for p in picks:
        values = ", ".join(f"{k} {v:g}" for k, v in p.values.items())
        lines.append(f"| {names.get(p.method, p.method)} | {values} | {p.score:.3g} ({p.score_name}) | "
                     f"{'; '.join(p.edges) or '—'} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class PowerFit:
    """``C′ ≈ a · x^slope`` fitted to the geometric mean over seeds, with a bootstrap over seeds.

    Attributes:
        slope: :class:`lib.stats.Interval` of the exponent (log10 C′ per decade of x).
        crossing: the ``x`` at which the fitted law reaches ``level`` (an extrapolation), with the percentile
            interval of the same quantity over the bootstrap replicates (``Interval``; no p-value).
        level: the level solved for (1/2 for C′).
    """

    slope: Interval
    crossing: Interval
    level: float
    intercept: float


def power_fit(x: Sequence[float], runs: np.ndarray, *, level: float = 0.5, resamples: int = 4000,
              seed: int = 0) -> PowerFit:
    """Fit ``log10 y = a + b log10 x`` to the mean over rows of ``log10 runs [S, X]`` and bootstrap seeds (rows):
    the slope ``b`` (:func:`lib.stats.trend`) and the ``x`` where the line reaches ``level``."""
    y = np.log10(np.asarray(runs, dtype=float))
    lx = np.log10(np.asarray(x, dtype=float))
    slope = trend(x, y, method=TrendMethod.LOG, resamples=resamples, seed=seed)
    b, a = np.polyfit(lx, y.mean(axis=0), 1)
    index = bootstrap_rows(y.shape[0], resamples=resamples, seed=seed)
    means = y[index].mean(axis=1)                      # [B, X]
    xc = lx - lx.mean()
    slopes = (means - means.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)
    intercepts = means.mean(axis=1) - slopes * lx.mean()
    target = math.log10(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        crossings = np.where(slopes < 0, (target - intercepts) / slopes, np.inf)
    ordered = np.sort(crossings)                      # +inf (never reached) sorts last
    low, high = ordered[int(0.025 * (len(ordered) - 1))], ordered[int(math.ceil(0.975 * (len(ordered) - 1)))]
    estimate = (target - a) / b if b < 0 else np.inf
    crossing = Interval(float(10 ** estimate), float(10 ** low), float(10 ** high), 0.95, y.shape[0], float("nan"),
                        "bootstrap over seeds")
    return PowerFit(slope, crossing, level, float(a))


def seed_slopes(x: Sequence[float], runs: np.ndarray) -> np.ndarray:
    """``[S]`` least-squares slopes of ``log10 y`` on ``log10 x``, one per row (seed) of ``runs [S, X]``."""
    lx = np.log10(np.asarray(x, dtype=float))
    y = np.log10(np.asarray(runs, dtype=float))
    xc = lx - lx.mean()
    return (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)


def seed_slope(x: Sequence[float], runs: np.ndarray) -> Interval:
    """The mean of the per-seed log-log slopes with a Student t-interval over seeds (``S − 1`` degrees of freedom;
    :func:`lib.stats.mean_interval`). With fewer than three ``x`` or two seeds, no interval (``nan`` bounds)."""
    slopes = seed_slopes(x, runs)
    if len(x) < 3 or len(slopes) < 2:
        return Interval(float(slopes.mean()), float("nan"), float("nan"), 0.95, len(slopes), float("nan"),
                        f"{len(x)} points, {len(slopes)} seeds: no interval")
    interval = mean_interval(slopes)
    return Interval(interval.estimate, interval.low, interval.high, 0.95, len(slopes), interval.p_value,
                    "t over seeds of per-seed slopes")


def local_slopes(x: Sequence[float], runs: np.ndarray) -> np.ndarray:
    """``[X − 1]`` slopes of the geometric mean over rows between neighbouring ``x`` (log-log)."""
    lx = np.log10(np.asarray(x, dtype=float))
    y = np.log10(np.asarray(runs, dtype=float)).mean(axis=0)
    return np.diff(y) / np.diff(lx)


def residual_norms(result: Mapping) -> np.ndarray:
    """``‖y − u_k‖₂`` ``[steps + 1]`` of a teaching-race run from its mean losses ``½‖y − u‖² / N``."""
    return np.sqrt(2.0 * result["n"] * np.asarray(result["losses"], dtype=float))


def contraction(result: Mapping) -> np.ndarray:
    """Per-step contraction ``‖r_{k+1}‖ / ‖r_k‖`` ``[steps]`` of a teaching-race run."""
    r = residual_norms(result)
    return r[1:] / r[:-1]


def convergence_order(residuals: np.ndarray, floor: float) -> float:
    """The order ``p`` of ``‖r_{k+1}‖ ≈ c ‖r_k‖^p``: slope of ``log ‖r_{k+1}‖`` on ``log ‖r_k‖`` over the steps whose
    both residuals exceed ``floor`` (1 = linear convergence, 2 = quadratic); ``nan`` with fewer than 2 such steps."""
    r = np.asarray(residuals, dtype=float)
    keep = (r[:-1] > floor) & (r[1:] > floor)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(r[:-1][keep]), np.log(r[1:][keep]), 1)[0])


def curve_arrays(records: Sequence[Mapping], key: str) -> np.ndarray:
    """``[S, T]`` array of one logged quantity over the seeds of one method (runs cut at the shortest)."""
    length = min(len(r[key]) for r in records)
    return np.array([r[key][:length] for r in records], dtype=float)


def value_at_time(record: Mapping, key: str, seconds: float) -> float:
    """The last logged ``key`` at or before ``seconds`` of the optimizer's own time."""
    times = np.asarray(record["seconds"])
    index = int(np.searchsorted(times, seconds, side="right")) - 1
    return float(record[key][max(index, 0)])


def value_at_epoch(record: Mapping, key: str, epoch: float) -> float:
    """The logged ``key`` at ``epoch`` (the last logged point at or before it)."""
    epochs = np.asarray(record["epoch"])
    index = int(np.searchsorted(epochs, epoch + 1e-9, side="right")) - 1
    return float(record[key][max(index, 0)])


def paired(a: Sequence[float], b: Sequence[float]) -> Interval:
    """Mean of ``a − b`` over shared seeds with a paired t-interval (:func:`lib.stats.paired_difference`)."""
    return paired_difference(np.asarray(a, dtype=float), np.asarray(b, dtype=float))

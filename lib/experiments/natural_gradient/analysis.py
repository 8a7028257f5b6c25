"""Chapter 2's analysis: hyperparameter picks with grid-edge warnings, power-law fits of the stability constant with
bootstrap intervals (and the width at which it would reach 1/2, as a range), per-step contraction of the residual,
and paired comparisons of the optimizers over seeds.

Arrays are ``[S, X]``: one row per seed (the repetition), one column per width, ``N`` or logged point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lib.stats import Interval, TrendMethod, bootstrap_rows, mean_interval, paired_difference, trend

__all__ = ["seed_slopes", "seed_slope", "local_slopes", "Pick", "pick_practical", "pick_learning_rate",
           "picks_table", "PowerFit", "power_fit", "residual_norms", "contraction", "convergence_order",
           "curve_arrays", "value_at_time", "value_at_epoch", "paired"]


@dataclass(frozen=True)
class Pick:
    """One tuned setting: ``method`` with ``values`` (e.g. ``{"learning rate": 0.1}``), its score (the mean over the
    tuning seeds, lower is better; a setting with a diverged run scores ``inf``), the grid edges it sits on (a pick
    on an edge may be better outside) and ``searched``, the values tried per hyperparameter, in words."""

    method: str
    values: dict
    score: float
    score_name: str
    edges: tuple[str, ...]
    searched: str = ""
    seeds: int = 1
    runner_up: dict = field(default_factory=dict)
    runner_up_score: float = math.inf


def _edges(value: float, grid: Sequence[float], name: str, *, everywhere: Sequence[float] | None = None) -> list[str]:
    """Edge warnings of a picked ``value`` among the values ``grid`` tried along its line (at the other
    hyperparameters' picks); ``everywhere``: the values tried anywhere (default ``grid``)."""
    grid = sorted(set(grid))
    if len(set(everywhere if everywhere is not None else grid)) < 2:
        return [f"{name} not tuned (one value)"]
    if len(grid) < 2:
        return [f"{name} tried at the grid's low end and high end (only this value at the other picks)"]
    if value == grid[0]:
        return [f"{name} at the grid's low end"]
    if value == grid[-1]:
        return [f"{name} at the grid's high end"]
    return []


def _line(settings: Sequence[tuple], best: tuple, i: int) -> list[float]:
    """Values of hyperparameter ``i`` among ``settings`` that agree with ``best`` in every other position."""
    return [s[i] for s in settings if all(s[j] == best[j] for j in range(len(best)) if j != i)]


def _final(result: Mapping, key: str) -> float:
    value = result[key][-1]
    return math.inf if result["diverged"] or not math.isfinite(value) else float(value)


HYPERPARAMETERS = {"learning_rate": "learning rate", "damping": "damping"}

#: Fixed settings a tuning config may carry (kept in the picks so the reported runs use them too).
FIXED_SETTINGS = ("curvature_every", "momentum", "ema")


def _mean_scores(rows: Sequence[tuple[Mapping, Mapping]], keys: Sequence[str],
                 metric: str) -> dict[tuple, tuple[float, int]]:
    """Per setting (the values of ``keys``), ``(mean of the final ``metric`` over its seeds, seed count)``; a setting
    with a diverged seed scores ``inf`` (a pick must work on every tuning seed)."""
    scores: dict[tuple, list[float]] = {}
    for c, r in rows:
        scores.setdefault(tuple(c[k] for k in keys), []).append(_final(r, metric))
    return {k: (float(np.mean(v)) if all(map(math.isfinite, v)) else math.inf, len(v)) for k, v in scores.items()}


def _searched(settings: Sequence[tuple], keys: Sequence[str]) -> str:
    words = []
    for i, k in enumerate(keys):
        if k in HYPERPARAMETERS:
            values = sorted({s[i] for s in settings})
            words.append(f"{HYPERPARAMETERS[k]} {', '.join(f'{v:g}' for v in values)}")
    return "; ".join(words)


def pick_practical(records: Sequence[Mapping], configs: Sequence[Mapping]) -> tuple[dict, list[Pick]]:
    """Per method, the setting with the lowest validation cross-entropy after the last epoch, averaged over the tuning
    seeds (a setting that diverged on any seed counts as ``inf``; ties go to the smaller learning rate, then damping).

    Returns:
        ``(picks, table)``: ``picks[method]`` is the dict of settings for
        :func:`~lib.experiments.natural_gradient.configs.practical_configs`; ``table`` one :class:`Pick` per method.
    """
    picks: dict[str, dict] = {}
    table: list[Pick] = []
    methods = list(dict.fromkeys(c["method"] for c in configs))
    for method in methods:
        rows = [(c, r) for c, r in zip(configs, records, strict=False) if c["method"] == method]
        keys = [k for k in ("learning_rate", "damping", *FIXED_SETTINGS) if k in rows[0][0]]
        scores = _mean_scores(rows, keys, "eval_loss")
        best = min(scores, key=lambda k: (scores[k][0], *k))
        score, seeds = scores[best]
        if not math.isfinite(score):
            raise RuntimeError(f"Every tuning setting of {method} diverged on some seed; extend its grid towards "
                               "smaller steps.")
        picks[method] = dict(zip(keys, best, strict=True))
        edges = [e for i, k in enumerate(keys) if k in HYPERPARAMETERS
                 for e in _edges(best[i], _line(list(scores), best, i), HYPERPARAMETERS[k],
                                 everywhere=[s[i] for s in scores])]
        ranked = sorted(scores, key=lambda k: (scores[k][0], *k))
        runner = ranked[1] if len(ranked) > 1 else None
        table.append(Pick(method, {HYPERPARAMETERS[k]: v for k, v in picks[method].items() if k in HYPERPARAMETERS},
                          score, "validation cross-entropy", tuple(edges), _searched(list(scores), keys), seeds,
                          {HYPERPARAMETERS[k]: v for k, v in zip(keys, runner, strict=True) if k in HYPERPARAMETERS}
                          if runner else {}, scores[runner][0] if runner else math.inf))
    return picks, table


def pick_learning_rate(records: Sequence[Mapping], configs: Sequence[Mapping]) -> tuple[dict, list[Pick]]:
    """Teaching race: per first-order optimizer, the learning rate whose tuning runs (tuning seeds) ended with the
    lowest mean training loss; a rate that diverged on any seed counts as ``inf``; ties go to the larger rate."""
    picks: dict[str, float] = {}
    table: list[Pick] = []
    for name in dict.fromkeys(c["optimizer"] for c in configs):
        rows = [(c, r) for c, r in zip(configs, records, strict=True) if c["optimizer"] == name]
        scores = _mean_scores(rows, ["learning_rate"], "losses")
        best = min(scores, key=lambda k: (scores[k][0], -k[0]))
        score, seeds = scores[best]
        if not math.isfinite(score):
            raise RuntimeError(f"Every learning rate of {name} diverged on some seed; extend the grid downwards.")
        picks[name] = best[0]
        table.append(Pick(name, {"learning rate": best[0]}, score, "training loss",
                          tuple(_edges(best[0], [k[0] for k in scores], "learning rate")),
                          _searched(list(scores), ["learning_rate"]), seeds))
    return picks, table


def _next_value(values: Sequence[float], high: bool) -> float:
    """The grid value beyond the edge of the sorted ``values``: a decade further where the grid steps by decades,
    else the next value of the 1–3–10 ladder."""
    ratio = values[-1] / values[-2] if high else values[1] / values[0]
    if ratio > 5:
        return float(f"{values[-1] * 10 if high else values[0] / 10:.3g}")
    edge = values[-1] if high else values[0]
    exponent = math.floor(math.log10(edge) + 1e-9)
    mantissa = edge / 10 ** exponent
    ladder = [1.0, 3.0, 10.0] if high else [0.3, 1.0, 3.0]
    if high:
        nxt = next((v for v in ladder if v > mantissa * 1.05), 30.0)
    else:
        nxt = next((v for v in reversed(ladder) if v < mantissa / 1.05), 0.1)
    return float(f"{nxt * 10 ** exponent:.3g}")


def extend_grids(settings: Mapping[str, Sequence[Mapping]], table: Sequence[Pick],
                 picks: Mapping[str, Mapping]) -> dict[str, list[dict]] | None:
    """A coordinate search step: for each tuned hyperparameter of each pick, the values tried *along the pick's line*
    (the other settings held at the pick) are checked, and where the pick is the lowest (highest) of them the next
    lower (higher) value is added at the pick's other settings — the next value of the whole grid, or one past its
    edge. For a full product grid this is "extend past the edge"; for a cross-shaped grid it also re-searches one
    hyperparameter when the pick has moved along the other. ``None`` when nothing is added (one-value grids stay).

    Args:
        settings: per method, the settings searched so far (dicts of config fields).
        table: the :class:`Pick` rows of :func:`pick_practical` or :func:`pick_learning_rate` (their methods are
            extended).
        picks: per method, the picked setting as a dict of config fields.
    """
    out = {m: [dict(s) for s in grid] for m, grid in settings.items()}
    changed = False
    for pick in table:
        chosen = picks[pick.method]
        for key in (k for k in HYPERPARAMETERS if k in chosen):
            everywhere = sorted({s[key] for s in out[pick.method]})
            if len(everywhere) < 2:
                continue
            line = sorted({s[key] for s in out[pick.method]
                           if all(s.get(k) == v for k, v in chosen.items() if k != key)})
            value = chosen[key]
            for high in (False, True):
                if value != (line[-1] if high else line[0]):
                    continue
                beyond = [v for v in everywhere if (v > value if high else v < value)]
                new = (min(beyond) if high else max(beyond)) if beyond else _next_value(everywhere, high)
                candidate = dict(chosen, **{key: new})
                if candidate not in out[pick.method]:
                    out[pick.method].append(candidate)
                    changed = True
    return out if changed else None


def picks_table(picks: Sequence[Pick], names: Mapping[str, str] | None = None) -> str:
    """A Markdown table of the picks, with a warning column."""
    names = names or {}
    lines = ["| method | searched | picked | score | warning |", "|---|---|---|---:|---|"]
    for p in picks:
        values = ", ".join(f"{k} {v:g}" for k, v in p.values.items())
        seeds = f"mean of {p.seeds} tuning seeds" if p.seeds > 1 else "1 tuning seed"
        lines.append(f"| {names.get(p.method, p.method)} | {p.searched or '—'} | {values} | {p.score:.3g} "
                     f"({p.score_name}, {seeds}) | {'; '.join(p.edges) or '—'} |")
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

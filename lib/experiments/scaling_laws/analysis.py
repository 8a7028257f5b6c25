"""Chapter 5's analysis: hyperparameter picks (with grid-edge warnings), error arrays per learner, exponents
with intervals over data draws and seeds, fit-range sensitivity, and paired comparisons.

Arrays follow :mod:`lib.records`: runs are ``[R, X]`` with one row per (data draw, seed) and one column per
training-set size; ``groups [R]`` holds each row's data draw, so bootstraps resample draws, then seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lib.experiments.scaling_laws.configs import Kernel, Recipe
from lib.records import stack
from lib.scaling import ExponentFit
from lib.stats import Interval, holm, mean_interval, paired_difference

__all__ = ["Pick", "pick_network_schedules", "pick_ridges", "LearnerRuns", "learner_runs", "exponents",
           "fit_range_sensitivity", "paired_by_draw", "picks_table", "exponent_difference", "exponent_fit"]


@dataclass(frozen=True)
class Pick:
    """One tuned setting: ``learner`` at size ``n`` with ``values`` (e.g. ``{"lr": 1e-3, "epochs": 40}``), its
    validation error, and the grid edges it sits on (a pick on an edge may be better outside the grid)."""

    learner: str
    n: int
    values: dict
    validation_error: float
    edges: tuple[str, ...]


def _edges(value: float, grid: Sequence[float], name: str) -> list[str]:
    if len(grid) < 2:
        return []
    if value == min(grid):
        return [f"{name} at the grid's low end"]
    if value == max(grid):
        return [f"{name} at the grid's high end"]
    return []


def pick_network_schedules(records: Sequence[Mapping], configs: Sequence[Mapping]) -> tuple[dict, list[Pick]]:
    """Per recipe and size, the (learning rate, step count) with the lowest validation error (early stopping).

    Args:
        records, configs: the tuning sweep (:func:`~lib.experiments.scaling_laws.configs.network_tuning_configs`):
            one run per recipe and learning rate, with the validation error at every checkpoint step.

    Returns:
        ``(schedules, picks)``: ``schedules[recipe]`` is a list of ``[n, lr, steps]`` for
        :func:`~lib.experiments.scaling_laws.configs.network_evaluation_configs`; ``picks`` one :class:`Pick` per
        recipe and size. Ties go to fewer steps, then the smaller learning rate; diverged runs are never picked.
    """
    schedules: dict[str, list[list]] = {}
    picks: list[Pick] = []
    for recipe in Recipe:
        rows = [(c, r) for c, r in zip(configs, records) if c["recipe"] == recipe.value]
        if not rows:
            continue
        lrs = sorted({c["schedule"][0][1] for c, _ in rows})
        steps = rows[0][1]["checkpoints"]
        sizes = rows[0][1]["sizes"]
        schedules[recipe.value] = []
        for i, n in enumerate(sizes):
            candidates = [(r["checkpoint_error"][i][j], step, c["schedule"][i][1]) for c, r in rows
                          for j, step in enumerate(steps) if np.isfinite(r["checkpoint_error"][i][j])]
            if not candidates:
                raise RuntimeError(f"Every tuning run of the {recipe.value} network diverged at n = {n}; "
                                   "lower the learning-rate grid.")
            error, step, lr = min(candidates)
            schedules[recipe.value].append([n, lr, step])
            edges = tuple(_edges(lr, lrs, "learning rate") + _edges(step, steps, "steps"))
            picks.append(Pick(f"network ({recipe.value})", n, {"learning rate": lr, "steps": step}, error, edges))
    return schedules, picks


def pick_ridges(records: Sequence[Mapping], configs: Sequence[Mapping]) -> tuple[dict, list[Pick]]:
    """Per kernel and size, the relative ridge with the lowest validation error (ties: the smaller ridge).

    Returns ``(ridges, picks)`` with ``ridges[kernel][n]`` the picked ridge.
    """
    ridges: dict[str, dict[int, float]] = {}
    picks: list[Pick] = []
    for config, record in zip(configs, records):
        kernel = config["kernel"]
        grid = record["ridges"]
        ridges[kernel] = {}
        for i, n in enumerate(record["sizes"]):
            errors = [record["eval_error"][j][i] for j in range(len(grid))]
            valid = [k for k in range(len(grid)) if np.isfinite(errors[k])]
            if not valid:
                raise RuntimeError(f"Kernel regression with {kernel} failed at every ridge for n = {n}; "
                                   "add larger ridges to the grid.")
            j = min(valid, key=lambda k: (errors[k], grid[k]))
            ridges[kernel][n] = grid[j]
            picks.append(Pick(kernel, n, {"ridge": grid[j]}, errors[j], tuple(_edges(grid[j], grid, "ridge"))))
    return ridges, picks


def picks_table(picks: Sequence[Pick]) -> str:
    """A Markdown table of the picks, with a warning column."""
    lines = ["| learner | n | picked | validation error | warning |", "|---|---:|---|---:|---|"]
    for p in picks:
        values = ", ".join(f"{k} {v:g}" for k, v in p.values.items())
        lines.append(f"| {p.learner} | {p.n} | {values} | {100 * p.validation_error:.1f} % | "
                     f"{'; '.join(p.edges) or '—'} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class LearnerRuns:
    """Errors of one learner on the evaluation draws: ``[R, X]`` arrays and the data draw of each row."""

    label: str
    test_error: np.ndarray
    test_mse: np.ndarray
    train_error: np.ndarray
    groups: np.ndarray

    def by_draw(self, metric: str = "test_error") -> np.ndarray:
        """``[D, X]``: the metric averaged over the seeds of each data draw (the unit of a paired comparison)."""
        values = getattr(self, metric)
        return np.stack([values[self.groups == d].mean(axis=0) for d in np.unique(self.groups)])


def learner_runs(network_records: Sequence[Mapping], network_configs: Sequence[Mapping],
                 kernel_records: Sequence[Mapping], kernel_configs: Sequence[Mapping],
                 ridges: Mapping[str, Mapping[int, float]]) -> dict[str, LearnerRuns]:
    """The four learners' errors: ``"network (uncentred)"``, ``"network (centred)"``, ``"empirical_ntk"`` and
    ``"infinite_ntk"`` (kernels at the ridge picked on the tuning draw for each size)."""
    out: dict[str, LearnerRuns] = {}
    for recipe in Recipe:
        rows = [(c, r) for c, r in zip(network_configs, network_records) if c["recipe"] == recipe.value]
        records = [r for _, r in rows]
        out[f"network ({recipe.value})"] = LearnerRuns(
            f"network ({recipe.value})", stack(records, "eval_error"), stack(records, "eval_mse"),
            stack(records, "train_error"), np.array([c["data_seed"] for c, _ in rows]))
    for kernel in Kernel:
        rows = [(c, r) for c, r in zip(kernel_configs, kernel_records) if c["kernel"] == kernel.value]
        sizes = rows[0][1]["sizes"]
        grid = rows[0][1]["ridges"]
        chosen = [grid.index(ridges[kernel.value][n]) for n in sizes]

        def at_ridge(key: str, rows=rows, chosen=chosen) -> np.ndarray:
            return np.array([[r[key][chosen[i]][i] for i in range(len(chosen))] for _, r in rows])

        out[kernel.value] = LearnerRuns(kernel.value, at_ridge("eval_error"), at_ridge("eval_mse"),
                                        at_ridge("train_error"), np.array([c["data_seed"] for c, _ in rows]))
    return out


def _draw_fits(x: Sequence[float], runs: LearnerRuns, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per data draw: slope and intercept of the power law fitted to the seed-averaged curve."""
    curves = runs.by_draw(metric)
    if np.any(curves <= 0):
        raise ValueError(f"{runs.label}: a zero mean {metric} at some size; a power law needs positive errors.")
    lx = np.log(np.asarray(x, dtype=float))
    fits = np.array([np.polyfit(lx, np.log(c), 1) for c in curves])
    return fits[:, 0], fits[:, 1]


def exponent_fit(x: Sequence[float], runs: LearnerRuns, *, metric: str = "test_error",
                 confidence: float = 0.95) -> ExponentFit:
    """A learner's exponent: one fit per data draw (seeds averaged within it), Student t-interval over draws
    (``D − 1`` degrees of freedom). The draw is the independent unit, so the interval covers data-draw and seed
    variation; a percentile bootstrap over as few as five draws would under-cover."""
    from lib.scaling import PowerLawFit

    slopes, intercepts = _draw_fits(x, runs, metric)
    interval = mean_interval(-slopes, confidence=confidence)
    fit = PowerLawFit(float(slopes.mean()), float(intercepts.mean()))
    return ExponentFit(fit, interval.low, interval.high, confidence, len(slopes),
                       f"t-interval over {len(slopes)} data draws")


def exponents(x: Sequence[float], learners: Mapping[str, LearnerRuns], *, metric: str = "test_error"
              ) -> dict[str, ExponentFit]:
    """:func:`exponent_fit` of every learner over all sizes."""
    return {name: exponent_fit(x, runs, metric=metric) for name, runs in learners.items()}


def fit_range_sensitivity(x: Sequence[float], runs: LearnerRuns, *, metric: str = "test_error"
                          ) -> dict[str, ExponentFit]:
    """The exponent fitted over sub-ranges of sizes: all, without the smallest, without the largest, the
    lower and the upper part (at least three sizes each where possible)."""
    x = np.asarray(x)
    k = len(x)
    part = max(3, (k + 1) // 2)
    windows = {"all": slice(0, k), "drop smallest": slice(1, k), "drop largest": slice(0, k - 1),
               "lower part": slice(0, part), "upper part": slice(k - part, k)}
    out = {}
    for name, window in windows.items():
        if len(x[window]) >= 2:
            sub = LearnerRuns(runs.label, runs.test_error[:, window], runs.test_mse[:, window],
                              runs.train_error[:, window], runs.groups)
            out[f"{name} (n = {x[window][0]}–{x[window][-1]})"] = exponent_fit(x[window], sub, metric=metric)
    return out


def paired_by_draw(a: LearnerRuns, b: LearnerRuns, *, metric: str = "test_error") -> list[tuple[Interval, float]]:
    """At each size: the paired difference ``a − b`` over data draws (seeds averaged within a draw, t-interval
    with ``draws − 1`` degrees of freedom) and its Holm-adjusted p-value across the sizes."""
    da, db = a.by_draw(metric), b.by_draw(metric)
    if da.shape != db.shape:
        raise ValueError(f"The two learners ran on different draws or sizes: {da.shape} vs {db.shape}.")
    intervals = [paired_difference(da[:, i], db[:, i]) for i in range(da.shape[1])]
    adjusted = holm([iv.p_value for iv in intervals])
    return list(zip(intervals, adjusted.tolist()))


def exponent_difference(x: Sequence[float], a: LearnerRuns, b: LearnerRuns, *, metric: str = "test_error",
                        confidence: float = 0.95, unit: str = "data draws") -> Interval:
    """``α_a − α_b``: per data draw, both exponents fitted on the seed-averaged curves; a paired t-interval over
    the draws (``D − 1`` degrees of freedom) — the draws are shared, so variation common to both cancels."""
    slopes_a, _ = _draw_fits(x, a, metric)
    slopes_b, _ = _draw_fits(x, b, metric)
    if slopes_a.shape != slopes_b.shape:
        raise ValueError(f"The two learners ran on different draws: {len(slopes_a)} vs {len(slopes_b)}.")
    result = paired_difference(-slopes_a, -slopes_b, confidence=confidence)
    return Interval(result.estimate, result.low, result.high, confidence, result.n, result.p_value,
                    f"paired t over {unit}")

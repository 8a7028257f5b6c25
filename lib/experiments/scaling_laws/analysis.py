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
from lib.scaling import ExponentFit, power_law_exponent
from lib.stats import Interval, bootstrap_rows, holm, paired_difference

__all__ = ["Pick", "pick_network_schedules", "pick_ridges", "LearnerRuns", "learner_runs", "exponents",
           "fit_range_sensitivity", "paired_by_draw", "picks_table", "exponent_difference"]


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
    """Per recipe and size, the (learning rate, epochs) with the lowest validation error.

    Args:
        records, configs: the tuning sweep (:func:`~lib.experiments.scaling_laws.configs.network_tuning_configs`).

    Returns:
        ``(schedules, picks)``: ``schedules[recipe]`` is a list of ``[n, lr, epochs]`` for
        :func:`~lib.experiments.scaling_laws.configs.network_evaluation_configs`; ``picks`` one :class:`Pick` per
        recipe and size. Ties go to fewer epochs, then the smaller learning rate; diverged runs are never picked.
    """
    schedules: dict[str, list[list]] = {}
    picks: list[Pick] = []
    for recipe in Recipe:
        rows = [(c, r) for c, r in zip(configs, records) if c["recipe"] == recipe.value]
        if not rows:
            continue
        lrs = sorted({c["schedule"][0][1] for c, _ in rows})
        epochs = sorted({c["schedule"][0][2] for c, _ in rows})
        sizes = rows[0][1]["sizes"]
        schedules[recipe.value] = []
        for i, n in enumerate(sizes):
            candidates = [(r["eval_error"][i], c["schedule"][i][2], c["schedule"][i][1])
                          for c, r in rows if not r["diverged"][i] and np.isfinite(r["eval_error"][i])]
            if not candidates:
                raise RuntimeError(f"Every tuning run of the {recipe.value} network diverged at n = {n}; "
                                   "lower the learning-rate grid.")
            error, ep, lr = min(candidates)
            schedules[recipe.value].append([n, lr, ep])
            edges = tuple(_edges(lr, lrs, "learning rate") + _edges(ep, epochs, "epochs"))
            picks.append(Pick(f"network ({recipe.value})", n, {"learning rate": lr, "epochs": ep}, error, edges))
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


def exponents(x: Sequence[float], learners: Mapping[str, LearnerRuns], *, metric: str = "test_error",
              resamples: int = 2000, seed: int = 0) -> dict[str, ExponentFit]:
    """Data-scaling exponent of each learner over all sizes, bootstrapped over draws and seeds."""
    return {name: power_law_exponent(x, getattr(runs, metric), groups=runs.groups if len(set(runs.groups)) > 1
                                     else None, resamples=resamples, seed=seed)
            for name, runs in learners.items()}


def fit_range_sensitivity(x: Sequence[float], runs: LearnerRuns, *, metric: str = "test_error",
                          resamples: int = 1000, seed: int = 0) -> dict[str, ExponentFit]:
    """The exponent fitted over sub-ranges of sizes: all, without the smallest, without the largest, the
    lower and the upper half (each with at least three sizes where possible)."""
    x = np.asarray(x)
    k = len(x)
    half = max(3, (k + 1) // 2)
    windows = {"all sizes": slice(0, k), "without the smallest": slice(1, k), "without the largest": slice(0, k - 1),
               "smaller sizes": slice(0, half), "larger sizes": slice(k - half, k)}
    values = getattr(runs, metric)
    groups = runs.groups if len(set(runs.groups)) > 1 else None
    out = {}
    for name, window in windows.items():
        if len(x[window]) >= 2:
            out[f"{name} (n = {x[window][0]}–{x[window][-1]})"] = power_law_exponent(
                x[window], values[:, window], groups=groups, resamples=resamples, seed=seed)
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
                        confidence: float = 0.95, resamples: int = 4000, seed: int = 0) -> Interval:
    """``α_a − α_b`` with a paired percentile bootstrap over data draws (seeds averaged within a draw; the
    same resampled draws for both learners, so draw-to-draw variation common to both cancels)."""
    da, db = a.by_draw(metric), b.by_draw(metric)
    if da.shape != db.shape:
        raise ValueError(f"The two learners ran on different draws or sizes: {da.shape} vs {db.shape}.")
    lx = np.log(np.asarray(x, dtype=float))
    lx = lx - lx.mean()

    def slopes(values: np.ndarray) -> np.ndarray:  # [..., X] mean curves -> fitted slopes
        logs = np.log(values)
        return (logs - logs.mean(axis=-1, keepdims=True)) @ lx / (lx @ lx)

    index = bootstrap_rows(da.shape[0], resamples=resamples, seed=seed)
    diffs = -slopes(da[index].mean(axis=1)) + slopes(db[index].mean(axis=1))
    diffs = diffs[np.isfinite(diffs)]
    tail = (1 - confidence) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    estimate = float(-slopes(da.mean(axis=0)) + slopes(db.mean(axis=0)))
    p = float(min(1.0, 2 * min((diffs <= 0).mean(), (diffs >= 0).mean())))
    return Interval(estimate, float(low), float(high), confidence, da.shape[0], p, "paired bootstrap over draws")

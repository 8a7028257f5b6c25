"""Chapter 4's analysis: learning-rate picks that match a target learning accuracy (with grid-edge warnings),
``[seeds, widths]`` arrays of the measured summaries, steps to a training-accuracy target, the kernel baseline
at a matched learning accuracy, and the overlap–forgetting correlation over task pairs.

Arrays are ``[S, W]``: one row per evaluation seed (each with its own data draw, so rows are independent), one
column per width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

__all__ = ["Pick", "pick_learning_rates", "by_width", "steps_to_target", "interpolate_at", "pair_correlation",
           "upper_pairs", "slope_interval", "correlation_interval", "pearson_pairs"]


@dataclass(frozen=True)
class Pick:
    """A tuned learning rate: ``arm`` at ``width`` (``None``: one rate for every width), the learning accuracy the
    tuning runs predict for it, and a warning when the target was not bracketed by the grid."""

    arm: str
    width: int | None
    learning_rate: float
    learning_accuracy: float
    warning: str
    bracket: tuple = ()      # (lr below, its measured LA, lr above, its measured LA) when the target was bracketed


def _interpolate(lrs: np.ndarray, accuracy: np.ndarray, target: float) -> tuple[float, float, str, tuple]:
    """The learning rate at which ``accuracy(lr)`` (measured on the grid ``lrs``, ascending) first reaches
    ``target``, by linear interpolation in ``log lr``; warnings at the grid's edges."""
    finite = np.isfinite(accuracy)
    if not finite.any():
        return float("nan"), float("nan"), "every tuning run diverged", ()
    lrs, accuracy = lrs[finite], accuracy[finite]
    above = np.flatnonzero(accuracy >= target)
    if not len(above):
        best = int(np.argmax(accuracy))
        return float(lrs[best]), float(accuracy[best]), (f"target not reached on the grid (best {accuracy[best]:.1%}"
                                                         f" at lr {lrs[best]:g}); picked the best"), ()
    k = int(above[0])
    if k == 0:
        return float(lrs[0]), float(accuracy[0]), ("at the grid's low end: the smallest learning rate already "
                                                   f"exceeds the target ({accuracy[0]:.1%})"), ()
    a0, a1 = accuracy[k - 1], accuracy[k]
    w = (target - a0) / (a1 - a0) if a1 > a0 else 1.0
    lr = float(np.exp((1 - w) * np.log(lrs[k - 1]) + w * np.log(lrs[k])))
    return lr, float(target), "", (float(lrs[k - 1]), float(a0), float(lrs[k]), float(a1))


def pick_learning_rates(records: Sequence[Mapping], configs: Sequence[Mapping], target: float, *,
                        shared: bool) -> tuple[dict[int, float], list[Pick]]:
    """Learning rates that give learning accuracy ``target`` on the tuning runs (mean over tuning seeds).

    Args:
        records, configs: one tuning arm (:func:`~lib.experiments.forgetting.configs.tuning_configs`).
        shared: one rate for every width (the learning accuracy averaged over widths), else one per width.

    Returns:
        ``(rates, picks)``: ``rates[width]`` for the evaluation configs, one :class:`Pick` per decision.
    """
    if not configs:
        raise ValueError("No tuning runs were given.")
    arm = configs[0]["arm"]
    widths = sorted({c["width"] for c in configs})
    lrs = np.array(sorted({c["learning_rate"] for c in configs}))
    table = np.full((len(widths), len(lrs)), np.nan)
    for w_index, width in enumerate(widths):
        for l_index, lr in enumerate(lrs):
            values = [r["learning_accuracy"] if not r["diverged"] else np.nan
                      for c, r in zip(configs, records, strict=True)
                      if c["width"] == width and c["learning_rate"] == lr]
            table[w_index, l_index] = np.mean(values) if values else np.nan
    if shared:
        lr, accuracy, warning, bracket = _interpolate(lrs, table.mean(axis=0), target)
        if not np.isfinite(lr):
            raise RuntimeError(f"Every tuning run of the {arm} arm diverged; lower its learning-rate grid.")
        return {w: lr for w in widths}, [Pick(arm, None, lr, accuracy, warning, bracket)]
    rates, picks = {}, []
    for w_index, width in enumerate(widths):
        lr, accuracy, warning, bracket = _interpolate(lrs, table[w_index], target)
        if not np.isfinite(lr):
            raise RuntimeError(f"Every tuning run of the {arm} arm at width {width} diverged; lower its grid.")
        rates[width] = lr
        picks.append(Pick(arm, width, lr, accuracy, warning, bracket))
    return rates, picks


def by_width(records: Sequence[Mapping], configs: Sequence[Mapping], key: str, *, epochs: int,
             widths: Sequence[int]) -> np.ndarray:
    """``[S, W]`` of a scalar result ``key`` for the runs with ``epochs`` epochs per task (seeds in config order);
    diverged runs give ``nan``."""
    columns = []
    for width in widths:
        column = [np.nan if r.get("diverged") else float(r[key]) for c, r in zip(configs, records, strict=True)
                  if c["width"] == width and c["epochs"] == epochs]
        columns.append(column)
    if len({len(c) for c in columns}) != 1:
        raise ValueError("Every width needs the same number of seeds.")
    return np.array(columns).T


def steps_to_target(record: Mapping, target: float) -> tuple[list[int | None], int]:
    """Per task, the optimizer steps after which the training accuracy (checked after every epoch) first reached
    ``target`` (``None``: never within the budget), and the number of tasks that reached it."""
    steps: list[int | None] = []
    for curve in record["train_curve"]:
        hit = next((e for e, a in enumerate(curve) if a >= target), None)
        steps.append(None if hit is None else (hit + 1) * int(record["steps_per_epoch"]))
    return steps, sum(s is not None for s in steps)


def interpolate_at(x: Sequence[float], y: Sequence[float], target: float) -> float:
    """``y`` at the first crossing of ``x = target`` along the curve (linear interpolation; ``nan`` if ``x`` never
    reaches ``target``)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    above = np.flatnonzero(x >= target)
    if not len(above):
        return float("nan")
    k = int(above[0])
    if k == 0:
        return float(y[0])
    w = (target - x[k - 1]) / (x[k] - x[k - 1]) if x[k] > x[k - 1] else 1.0
    return float((1 - w) * y[k - 1] + w * y[k])


def upper_pairs(matrix) -> np.ndarray:
    """The entries ``(i, j)``, ``i < j``, of a ``[T, T]`` matrix, row by row: ``[T (T − 1) / 2]``."""
    m = np.asarray(matrix, dtype=float)
    i, j = np.triu_indices(m.shape[0], k=1)
    return m[i, j]


def pair_correlation(overlap, forgetting) -> float:
    """Spearman rank correlation, over task pairs ``i < j``, of the cross-task overlap ``ρ_ij`` and the per-pair
    forgetting ``p_ij`` (:func:`lib.continual.pair_forgetting`)."""
    a, b = upper_pairs(overlap), upper_pairs(forgetting)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(scipy_stats.spearmanr(a, b).statistic)


def slope_interval(widths: Sequence[float], runs: np.ndarray, *, log_values: bool = False):
    """Mean over seeds of the per-seed least-squares slope of ``runs [S, W]`` against ``log10`` width, with a Student
    t-interval (df = S − 1; rows with a non-finite value are dropped). ``log_values``: slope of ``ln runs`` (the
    relative change per decade; rows with a value ≤ 0 are dropped). ``None`` with fewer than two usable rows."""
    from lib.stats import Interval, mean_interval

    values = np.asarray(runs, dtype=float)
    if log_values:   # seeds with F ≤ 0 somewhere (no forgetting, or backward transfer) have no log and are dropped
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)
    rows = values[np.isfinite(values).all(axis=1)]
    if len(rows) < 2:
        return None
    x = np.log10(np.asarray(widths, dtype=float))
    slopes = [np.polyfit(x, row, 1)[0] for row in rows]
    t = mean_interval(slopes)
    return Interval(t.estimate, t.low, t.high, t.confidence, t.n, t.p_value, "t over per-seed OLS slopes")


def correlation_interval(values: Sequence[float], *, confidence: float = 0.95):
    """Mean correlation over independent draws with an interval inside ``[−1, 1]``: a t-interval on Fisher's
    ``z = artanh r``, transformed back. ``None`` with fewer than two finite values."""
    from lib.stats import Interval, mean_interval

    r = np.clip(np.asarray([v for v in values if np.isfinite(v)], dtype=float), -0.999999, 0.999999)
    if len(r) < 2:
        return None
    z = mean_interval(np.arctanh(r), confidence=confidence)
    return Interval(float(np.tanh(z.estimate)), float(np.tanh(z.low)), float(np.tanh(z.high)), confidence, z.n,
                    z.p_value, "t on Fisher z over draws")


def pearson_pairs(a, b) -> float:
    """Pearson correlation, over task pairs ``i < j``, of two per-pair matrices (e.g. kernel and network)."""
    x, y = upper_pairs(a), upper_pairs(b)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def block_overlap(kernel, tasks: int) -> np.ndarray:
    """``[T, T]`` centred cross-task overlaps ``ρ_ij`` (the formula of :func:`lib.continual.cross_task_overlap`) of
    a kernel matrix ``[M, M]`` on a probe made of ``tasks`` equal blocks, one per task, in task order."""
    k = np.asarray(kernel, dtype=float)
    n = k.shape[0] // tasks
    if n * tasks != k.shape[0] or n < 2:
        raise ValueError(f"A probe kernel of shape {k.shape} cannot be split into {tasks} task blocks of >= 2 inputs.")
    norms = np.zeros((tasks, tasks))
    for i in range(tasks):
        for j in range(tasks):
            b = k[i * n:(i + 1) * n, j * n:(j + 1) * n]
            b = b - b.mean(axis=0, keepdims=True) - b.mean(axis=1, keepdims=True) + b.mean()
            norms[i, j] = np.linalg.norm(b)
    d = np.sqrt(np.diag(norms))
    return norms / np.outer(d, d)


def overlap_during(probe_kernels, tasks: int) -> np.ndarray:
    """``[T, T]`` with ``[i, j]`` (``i < j``) the centred overlap of tasks ``i`` and ``j`` in the empirical kernel at
    the start of task ``j`` (``probe_kernels[j]``: the kernel after task ``j − 1``, or at initialization); ``nan``
    elsewhere. This is the kernel through which training on task ``j`` first moves the outputs on task ``i``."""
    out = np.full((tasks, tasks), np.nan)
    for j in range(1, tasks):
        rho = block_overlap(probe_kernels[j], tasks)
        out[:j, j] = rho[:j, j]
    return out


def drift_share(drift) -> float:
    """Of the mean squared output change that training a task causes, the share that lands on earlier tasks:
    ``mean_{i<j} d[j][i] / mean_j d[j][j]`` for an output-drift matrix ``d [T][T]`` (row: task trained). Free of
    the outputs' scale, so networks, their widths and the kernel model can be compared."""
    d = np.asarray(drift, dtype=float)
    i, j = np.tril_indices(d.shape[0], k=-1)
    own = np.mean(np.diag(d))
    return float(np.mean(d[i, j]) / own) if own > 0 else float("nan")


def drift_pairs(drift) -> np.ndarray:
    """``[T, T]`` with ``[i, j]`` (``i < j``) the output drift on task ``i`` while task ``j`` trains, relative to the
    drift on task ``j`` itself (``d[j][i] / d[j][j]``); ``nan`` elsewhere — laid out like
    :func:`lib.continual.pair_forgetting`, so :func:`upper_pairs` reads both alike."""
    d = np.asarray(drift, dtype=float)
    out = np.full(d.shape, np.nan)
    for j in range(1, d.shape[0]):
        out[:j, j] = d[j, :j] / d[j, j] if d[j, j] > 0 else np.nan
    return out

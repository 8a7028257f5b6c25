"""Continual-learning metrics from an accuracy matrix.

``A[t, i]`` (``[T, T]``, values in ``[0, 1]``) is the test accuracy on task ``i`` after training
on tasks ``0..t``. With ``T`` tasks (0-based indices in code, 1-based in the formulas):

* average accuracy ``A_T = (1/T) Σ_i a_{T,i}`` — the last row's mean;
* **max-based forgetting** of task ``j < T``: ``f_j = max_{l < T} a_{l,j} − a_{T,j}`` and average forgetting
  ``F_T = 1/(T−1) Σ_{j<T} f_j`` (Chaudhry et al. 2018, "Riemannian walk"). As in their
  definition the maximum runs over *all* earlier rows ``l < T``, including rows before task
  ``j`` was trained (there the accuracy is that of an untrained head — near chance in the task- and
  class-incremental settings, but possibly high in the domain-incremental one, where earlier tasks
  transfer forward);
* **learned-minus-final forgetting** ``g_j = a_{j,j} − a_{T,j}`` and its mean ``G_T`` (the definition of
  Avalanche and of many papers): the loss since the task was learned. It is ``−BWT``;
* **backward transfer** ``BWT = 1/(T−1) Σ_{j<T} (a_{T,j} − a_{j,j})`` (Lopez-Paz & Ranzato 2017);
  ``F_T ≥ G_T`` always, and the two differ when a task's accuracy rises after it was trained (backward
  transfer) or was higher before it was trained (forward transfer);
* learning accuracy ``(1/T) Σ_i a_{i,i}`` — how well each task was learned when it was current;
* **per-pair forgetting** ``p_{i,j} = a_{j−1,i} − a_{j,i}`` for ``i < j``: the drop on task ``i`` while task
  ``j`` was trained (the quantity Doan et al. 2021 relate to the cross-task NTK).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def check_accuracy_matrix(accuracy) -> np.ndarray:
    """``accuracy`` as a float ``[T, T]`` array with finite values in ``[0, 1]``, else ``ValueError``."""
    a = np.asarray(accuracy, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise ValueError(f"An accuracy matrix must be square [T, T] with T >= 1, got shape {a.shape}.")
    if not np.isfinite(a).all() or (a < 0).any() or (a > 1).any():
        raise ValueError("Accuracies must be finite fractions in [0, 1] (not percentages).")
    return a


def _at_least_two(a: np.ndarray) -> np.ndarray:
    if a.shape[0] < 2:
        raise ValueError("Forgetting needs at least two tasks.")
    return a


def average_accuracy(accuracy) -> float:
    """``A_T``: mean test accuracy over all tasks after the last task."""
    return float(check_accuracy_matrix(accuracy)[-1].mean())


def forgetting_per_task(accuracy) -> np.ndarray:
    """``[T − 1]``: ``f_j = max_{l < T} a_{l,j} − a_{T,j}`` for every task ``j`` but the last."""
    a = _at_least_two(check_accuracy_matrix(accuracy))
    return a[:-1, :-1].max(axis=0) - a[-1, :-1]


def average_forgetting(accuracy) -> float:
    """``F_T``: mean of :func:`forgetting_per_task` (Chaudhry et al. 2018)."""
    return float(forgetting_per_task(accuracy).mean())


def learned_minus_final(accuracy) -> np.ndarray:
    """``[T − 1]``: ``g_j = a_{j,j} − a_{T,j}`` for every task ``j`` but the last."""
    a = _at_least_two(check_accuracy_matrix(accuracy))
    return np.diag(a)[:-1] - a[-1, :-1]


def average_learned_minus_final(accuracy) -> float:
    """``G_T``: mean of :func:`learned_minus_final` (``= −BWT``)."""
    return float(learned_minus_final(accuracy).mean())


def backward_transfer(accuracy) -> float:
    """``BWT = 1/(T−1) Σ_{j<T} (a_{T,j} − a_{j,j})`` (Lopez-Paz & Ranzato 2017); negative when tasks are forgotten."""
    return -average_learned_minus_final(accuracy)


def learning_accuracy(accuracy) -> float:
    """Mean of the diagonal ``a_{i,i}``: accuracy on each task right after training on it."""
    return float(np.diag(check_accuracy_matrix(accuracy)).mean())


def pair_forgetting(accuracy) -> np.ndarray:
    """``[T, T]`` with ``p[i, j] = a_{j−1,i} − a_{j,i}`` for ``i < j`` (drop on task ``i`` while task ``j`` trained),
    ``nan`` elsewhere."""
    a = _at_least_two(check_accuracy_matrix(accuracy))
    t = a.shape[0]
    out = np.full((t, t), np.nan)
    for j in range(1, t):
        out[:j, j] = a[j - 1, :j] - a[j, :j]
    return out


@dataclass(frozen=True)
class ContinualMetrics:
    """The summaries of one accuracy matrix (fractions in ``[0, 1]``)."""

    average_accuracy: float
    average_forgetting: float
    learning_accuracy: float
    learned_minus_final: float = float("nan")
    backward_transfer: float = float("nan")

    @classmethod
    def from_matrix(cls, accuracy) -> ContinualMetrics:
        """All summaries of ``accuracy`` (``[T, T]``, ``T >= 2``)."""
        return cls(average_accuracy(accuracy), average_forgetting(accuracy), learning_accuracy(accuracy),
                   average_learned_minus_final(accuracy), backward_transfer(accuracy))

    def as_dict(self) -> dict[str, float]:
        """The summaries as a plain dict."""
        return asdict(self)

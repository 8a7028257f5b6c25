"""Continual-learning metrics from an accuracy matrix.

``A[t, i]`` (``[T, T]``, values in ``[0, 1]``) is the test accuracy on task ``i`` after training
on tasks ``0..t``. With ``T`` tasks (0-based indices in code, 1-based in the formulas):

* average accuracy ``A_T = (1/T) Σ_i a_{T,i}`` — the last row's mean;
* forgetting of task ``j < T``: ``f_j = max_{l < T} a_{l,j} − a_{T,j}`` and average forgetting
  ``F_T = 1/(T−1) Σ_{j<T} f_j`` (Chaudhry et al. 2018, "Riemannian walk"). As in their
  definition the maximum runs over *all* earlier rows ``l < T``, including rows before task
  ``j`` was trained (there the accuracy is that of an untrained head, usually near chance);
* learning accuracy ``(1/T) Σ_i a_{i,i}`` — how well each task was learned when it was current.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def check_accuracy_matrix(accuracy) -> np.ndarray:
    """``accuracy`` as a float ``[T, T]`` array with finite values in ``[0, 1]``, else ``ValueError``."""
    a = np.asarray(accuracy, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise ValueError(f"An accuracy matrix must be square [T, T] with T >= 1, got shape {a.shape}.")
    if not np.isfinite(a).all() or (a < 0).any() or (a > 1).any():
        raise ValueError("Accuracies must be finite fractions in [0, 1] (not percentages).")
    return a


def average_accuracy(accuracy) -> float:
    """``A_T``: mean test accuracy over all tasks after the last task."""
    return float(check_accuracy_matrix(accuracy)[-1].mean())


def forgetting_per_task(accuracy) -> np.ndarray:
    """``[T − 1]``: ``f_j = max_{l < T} a_{l,j} − a_{T,j}`` for every task ``j`` but the last."""
    a = check_accuracy_matrix(accuracy)
    if a.shape[0] < 2:
        raise ValueError("Forgetting needs at least two tasks.")
    return a[:-1, :-1].max(axis=0) - a[-1, :-1]


def average_forgetting(accuracy) -> float:
    """``F_T``: mean of :func:`forgetting_per_task` (Chaudhry et al. 2018)."""
    return float(forgetting_per_task(accuracy).mean())


def learning_accuracy(accuracy) -> float:
    """Mean of the diagonal ``a_{i,i}``: accuracy on each task right after training on it."""
    return float(np.diag(check_accuracy_matrix(accuracy)).mean())


@dataclass(frozen=True)
class ContinualMetrics:
    """The three summaries of one accuracy matrix (fractions in ``[0, 1]``)."""

    average_accuracy: float
    average_forgetting: float
    learning_accuracy: float

    @classmethod
    def from_matrix(cls, accuracy) -> ContinualMetrics:
        return cls(average_accuracy(accuracy), average_forgetting(accuracy), learning_accuracy(accuracy))

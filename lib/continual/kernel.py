"""The kernel baseline of continual learning: sequential kernel regression and the cross-task kernel overlap.

**Sequential kernel regression.** A linearized network ``f(x; θ) = f(x; θ_{j−1}) + J(x)(θ − θ_{j−1})`` with a
fixed kernel ``Θ(x, x') = J(x)J(x')ᵀ`` (the infinite-width NTK: the same kernel on every task) trained by gradient
flow on task ``j``'s mean squared loss ``(1/2n_j) Σ ‖f(x) − y‖²`` for a time ``τ = η t`` moves its outputs
everywhere by (Lee et al. 2019, Eq. (4)–(6), started from the previous task's function)

    f_j(x) = f_{j−1}(x) − Θ(x, X_j) Θ_jj⁻¹ (I − e^{−τ Θ_jj / n_j}) (f_{j−1}(X_j) − Y_j),      Θ_jj = Θ(X_j, X_j),

and at ``τ = ∞`` it interpolates task ``j`` with the smallest change in the kernel's norm (``Θ_jj⁻¹`` is then a
pseudo-inverse; eigenvalues below ``1e-10 λ_max`` are dropped). Outputs are independent (one scalar kernel per
output, as in the infinite-width limit); the function starts at ``f_0 = 0`` (the mean of the infinite-width
network's initial function: its random initial function, which the centred network of Chapter 5 removes, is
not modelled). Targets are one-hot vectors minus ``1/C`` (``C`` outputs); in the ``"task"`` setting only the
outputs of the current task's classes are trained (the others get zero residual) and predictions are masked to
the evaluated task's classes, as in :mod:`lib.continual.sequential`.

**Cross-task overlap.** For tasks ``i, j`` with inputs ``X_i [n_i, d]``, ``X_j [n_j, d]``:
``ρ_ij = ‖H Θ_ij H‖_F / (‖H Θ_ii H‖_F ‖H Θ_jj H‖_F)^{1/2}`` with ``H`` the centring matrix of each side
(``"centred"``), or the same without ``H`` (``"uncentred"``): how strongly a gradient step on one task's inputs
moves the outputs on the other's, relative to the moves within each task. Doan et al. (2021) bound forgetting
by the overlap of the tasks' NTK eigenspaces; ``ρ`` is a simpler scalar of the same cross-task kernel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lib.continual.benchmarks import TaskSequence
from lib.continual.sequential import Setting, _check_setting
from lib.validation import check_positive_int

#: A kernel function ``(x1 [N1, d], x2 [N2, d]) -> [N1, N2]`` (float64).
KernelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

_CUTOFF = 1e-10


@dataclass(frozen=True)
class KernelSequence:
    """What :func:`sequential_kernel_regression` measured, one entry per training time.

    Attributes:
        times: ``[M]`` gradient-flow times ``τ = η t`` per task (``inf``: trained to interpolation).
        accuracy: ``[M, T, T]`` test accuracy matrices (``accuracy[m, t, i]``: task ``i`` after task ``t``).
        train_accuracy: ``[M, T]`` accuracy on each task's own training inputs right after training it.
        train_loss: ``[M, T]`` mean squared loss ``(1/2n) Σ ‖f − y‖²`` on them at that moment.
        outputs: ``[M, N, C]`` the outputs after the last task on every input: the tasks' training inputs in task
            order, then their test inputs in task order.
        output_drift: ``[M, T, T]``: ``output_drift[m, t, i]`` is the mean over task ``i``'s test inputs of
            ``‖f_after(x) − f_before(x)‖²`` over the training of task ``t`` (as :class:`SequenceResult`'s).
    """

    times: np.ndarray
    accuracy: np.ndarray
    train_accuracy: np.ndarray
    train_loss: np.ndarray
    outputs: torch.Tensor
    output_drift: np.ndarray


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).to(torch.float64)


def _mask(setting: Setting, classes: Sequence[int], c: int) -> torch.Tensor:
    mask = torch.zeros(c, dtype=torch.bool)
    mask[list(classes)] = True
    return mask if setting is Setting.TASK else torch.ones(c, dtype=torch.bool)


def _accuracy(f: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``f [M, N, C]`` -> ``[M]`` accuracies with the logits outside ``mask`` excluded."""
    masked = f.masked_fill(~mask, -math.inf)
    return (masked.argmax(dim=-1) == labels).double().mean(dim=-1)


def sequential_kernel_regression(kernel: KernelFn, sequence: TaskSequence, setting: str | Setting,
                                 times: Sequence[float], *, chunk: int = 4096) -> KernelSequence:
    """Train the fixed-kernel model on the tasks in order for each time in ``times`` (module docstring).

    Args:
        kernel: ``(x1, x2) -> [N1, N2]`` float64, e.g. ``lambda a, b: relu_ntk(a, b, depth=2)[1]``.
        sequence: the tasks (inputs are flattened).
        setting: ``"domain"``, ``"task"`` or ``"class"`` (as for the networks).
        times: gradient-flow times ``τ ≥ 0`` per task; ``math.inf`` for interpolation.
        chunk: kernel columns computed at once (memory ``O(n_j · chunk)``).

    Returns:
        :class:`KernelSequence`.
    """
    _check_setting(setting, sequence.shared_head)
    setting = Setting.parse(setting)
    chunk = check_positive_int("chunk", chunk, example=4096)
    tau = np.asarray(list(times), dtype=float)
    if tau.ndim != 1 or not len(tau) or np.isnan(tau).any() or (tau < 0).any():
        raise ValueError(f"times must be a non-empty list of gradient-flow times >= 0 (math.inf allowed); got "
                         f"{list(times)!r}.")
    c, tasks = sequence.num_classes, sequence.tasks
    points = [_flat(t.x_train) for t in tasks] + [_flat(t.x_test) for t in tasks]
    offsets = np.cumsum([0] + [p.shape[0] for p in points])
    z = torch.cat(points)
    m, n_total = len(tau), z.shape[0]
    f = torch.zeros(m, n_total, c, dtype=torch.float64)
    t_count = len(tasks)
    accuracy = np.zeros((m, t_count, t_count))
    train_accuracy, train_loss = np.zeros((m, t_count)), np.zeros((m, t_count))
    drift = np.zeros((m, t_count, t_count))
    test_part = slice(offsets[t_count], offsets[-1])
    tau_t = torch.as_tensor(tau, dtype=torch.float64)
    for j, task in enumerate(tasks):
        x_j = points[j]
        n_j = x_j.shape[0]
        mask = _mask(setting, task.classes, c)
        y = torch.nn.functional.one_hot(task.labels_train.long(), c).double() - 1.0 / c
        k_jj = kernel(x_j, x_j).double()
        k_jj = 0.5 * (k_jj + k_jj.T)
        lam, vec = torch.linalg.eigh(k_jj)
        keep = lam > _CUTOFF * lam.max()
        lam_k, vec_k = lam[keep], vec[:, keep]
        # gain[m, k] = (1 − exp(−τ λ_k / n)) / λ_k, the spectral filter of Θ⁻¹(I − e^{−τΘ/n})
        gain = -torch.expm1(-tau_t[:, None] * lam_k[None, :] / n_j) / lam_k[None, :]
        gain = torch.where(torch.isinf(tau_t)[:, None], 1.0 / lam_k[None, :], gain)
        residual = f[:, offsets[j]:offsets[j + 1]] - y                     # [M, n_j, C]
        residual = residual * mask.double()                                   # task setting: only its outputs
        coef = vec_k @ (gain[:, :, None] * (vec_k.T @ residual))            # [M, n_j, C]
        test_before = f[:, test_part].clone()
        for start in range(0, n_total, chunk):
            k_block = kernel(x_j, z[start:start + chunk]).double()           # [n_j, B]
            f[:, start:start + chunk] -= torch.einsum("nb,mnc->mbc", k_block, coef)
        change = (f[:, test_part] - test_before).pow(2).sum(-1)              # [M, n_test_total]
        for i in range(t_count):
            lo, hi = offsets[t_count + i] - offsets[t_count], offsets[t_count + i + 1] - offsets[t_count]
            drift[:, j, i] = change[:, lo:hi].mean(-1).numpy()
        own = f[:, offsets[j]:offsets[j + 1]]
        train_accuracy[:, j] = _accuracy(own, task.labels_train, mask).numpy()
        train_loss[:, j] = (0.5 * ((own - y) * mask.double()).pow(2).sum(-1).mean(-1)).numpy()
        for i, other in enumerate(tasks):
            block = f[:, offsets[t_count + i]:offsets[t_count + i + 1]]
            accuracy[:, j, i] = _accuracy(block, other.labels_test, _mask(setting, other.classes, c)).numpy()
    return KernelSequence(tau, accuracy, train_accuracy, train_loss, f, drift)


def _center_rows_cols(k: torch.Tensor) -> torch.Tensor:
    return k - k.mean(dim=0, keepdim=True) - k.mean(dim=1, keepdim=True) + k.mean()


def cross_task_overlap(kernel: KernelFn, inputs: Sequence[torch.Tensor], *, centred: bool = True) -> np.ndarray:
    """``[T, T]`` overlaps ``ρ_ij`` of the tasks' inputs ``inputs[i] [n_i, ...]`` (module docstring); ``ρ_ii = 1``."""
    if isinstance(inputs, torch.Tensor) or len(inputs) < 2:
        raise ValueError("cross_task_overlap needs a list of at least two input tensors, one per task.")
    xs = [_flat(x) for x in inputs]
    t_count = len(xs)
    norms = np.zeros((t_count, t_count))
    for i in range(t_count):
        for j in range(i, t_count):
            k = kernel(xs[i], xs[j]).double()
            if centred:
                k = _center_rows_cols(k)
            norms[i, j] = norms[j, i] = float(torch.linalg.norm(k))
    diagonal = np.sqrt(np.diag(norms))
    if (diagonal == 0).any():
        raise ValueError("A task's kernel is zero after centring (all its inputs are the same); the overlap is "
                         "undefined.")
    return norms / np.outer(diagonal, diagonal)

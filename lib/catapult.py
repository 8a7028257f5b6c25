"""The largest eigenvalue of the empirical NTK, and the catapult mechanism (Lewkowycz et al. 2020).

Gradient descent on the mean squared error ``L = (1/2N) Σ_n ‖f(x_n) − y_n‖²`` with a constant kernel is
stable iff ``η < 2N / λ_max(Θ)``, with ``Θ`` the ``[NK, NK]`` kernel matrix on the training set. Above that
rate a network need not diverge: in the *catapult* phase the loss first grows, the kernel's top eigenvalue
falls until ``η λ_max / N < 2``, and training then converges in a flatter region (Lewkowycz et al. 2020).

* :func:`top_eigenvalue` — ``λ_max`` of ``Θ(X, X)`` by the Lanczos method on NTK-vector products
  (:func:`lib.ntk.ntk_vp`); no kernel matrix is formed, and a warm start makes tracking along training cheap;
* :func:`uv_model` — gradient descent on the two-layer linear "uv" model of Lewkowycz et al. (2020, §2), whose
  closed-form recursions put the lazy/catapult boundary at ``η = 2/λ₀`` and divergence at ``η = 4/λ₀``
  (large width); it is the independent reference for the mechanism.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lib.ntk import ntk_vp
from lib.validation import check_positive, check_positive_int

__all__ = ["TopEigen", "top_eigenvalue", "UVRun", "uv_model"]


@dataclass(frozen=True)
class TopEigen:
    """``value``: the estimate of ``λ_max``; ``vector [N, K]``: its eigenvector (unit norm); ``iterations`` used;
    ``converged``: whether the relative change of the estimate fell below the tolerance."""

    value: float
    vector: torch.Tensor
    iterations: int
    converged: bool


def top_eigenvalue(model: nn.Module, x: torch.Tensor, *, iterations: int = 60, tolerance: float = 1e-6,
                   start: torch.Tensor | None = None, generator: torch.Generator | None = None) -> TopEigen:
    """``λ_max`` of the empirical NTK matrix ``Θ(X, X)`` (``[NK, NK]``, all outputs) by the Lanczos method.

    Each iteration is one NTK-vector product (:func:`lib.ntk.ntk_vp`); the Krylov basis is fully
    re-orthogonalized (float64). Unlike plain power iteration, Lanczos converges quickly when the top eigenvalue
    is nearly degenerate, as it is for a network with ``K`` outputs whose readout kernel is the same for each.

    Args:
        model: maps ``x [N, ...]`` to ``[N, K]``; its current parameters define ``Θ``.
        x: the inputs ``X``.
        iterations: at most this many NTK-vector products (Krylov dimension).
        tolerance: stop when the largest Ritz value changes by less than this fraction between iterations.
        start: ``[N, K]`` starting vector (e.g. the previous eigenvector when tracking along training); a
            random Gaussian vector from ``generator`` otherwise.

    Returns:
        :class:`TopEigen` with the largest Ritz value (a lower bound on ``λ_max`` that converges to it) and its
        Ritz vector.
    """
    iterations = check_positive_int("iterations", iterations, example=60)
    tolerance = check_positive("tolerance", tolerance, fix="pass a relative tolerance such as 1e-6")
    with torch.no_grad():
        k = model(x[:1]).shape[1]
    shape = (x.shape[0], k)
    if start is None:
        v = torch.randn(*shape, generator=generator, dtype=torch.float64)
    else:
        if tuple(start.shape) != shape:
            raise ValueError(f"start must have shape [N, K] = [{shape[0]}, {shape[1]}], got {tuple(start.shape)}.")
        v = start.detach().to(device="cpu", dtype=torch.float64).clone()
    basis = [(v / torch.linalg.vector_norm(v)).reshape(-1)]
    alphas: list[float] = []
    betas: list[float] = []
    value, vector, converged = 0.0, basis[0], False
    for used in range(1, min(iterations, shape[0] * shape[1]) + 1):
        q = basis[-1]
        w = ntk_vp(model, x, x, q.reshape(shape).to(device=x.device, dtype=x.dtype)).detach()
        w = w.to(device="cpu", dtype=torch.float64).reshape(-1)
        alphas.append(float(q @ w))
        for b in basis:                      # full re-orthogonalization (twice is enough)
            w = w - (b @ w) * b
        for b in basis:
            w = w - (b @ w) * b
        beta = float(torch.linalg.vector_norm(w))
        t = torch.diag(torch.tensor(alphas, dtype=torch.float64))
        if betas:
            off = torch.tensor(betas, dtype=torch.float64)
            t = t + torch.diag(off, 1) + torch.diag(off, -1)
        evals, evecs = torch.linalg.eigh(t)
        new = float(evals[-1])
        vector = torch.stack(basis, dim=1) @ evecs[:, -1]
        if (used > 1 and abs(new - value) <= tolerance * abs(new)) or beta <= 1e-12 * max(abs(new), 1e-300):
            value, converged = new, True
            break
        value = new
        betas.append(beta)
        basis.append(w / beta)
    return TopEigen(value, vector.reshape(shape), used, converged)


@dataclass(frozen=True)
class UVRun:
    """Gradient descent on the uv model: ``loss [T + 1]``, ``curvature [T + 1]`` (``λ_t``), whether it diverged."""

    loss: list
    curvature: list
    diverged: bool


def uv_model(width: int, learning_rate: float, steps: int, *, generator: torch.Generator,
             target: float = 0.0) -> UVRun:
    """Gradient descent on ``f = vᵀu / √n`` (one input ``x = 1``), loss ``½ (f − y)²``.

    The model of Lewkowycz et al. (2020, §2): ``u, v ∈ ℝⁿ`` with ``N(0, 1)`` entries. Its NTK is the scalar
    ``λ = (‖u‖² + ‖v‖²) / n`` (≈ 2 at initialization). With ``y = 0`` the exact recursions are
    ``f_{t+1} = f_t (1 − η λ_t + η² f_t² / n)`` and ``λ_{t+1} = λ_t + η f_t² (η λ_t − 4) / n``: for
    ``η < 2/λ₀`` the loss falls monotonically (lazy), for ``2/λ₀ < η < 4/λ₀`` it grows until ``λ`` has fallen
    below ``2/η`` and then converges (catapult), and for ``η > 4/λ₀`` ``λ`` grows with the loss (divergence).

    Args:
        width: ``n``.
        learning_rate: ``η``.
        steps: gradient-descent steps ``T``.
        generator: the initialization's RNG.
        target: ``y``.
    """
    width = check_positive_int("width", width, example=1000)
    learning_rate = check_positive("learning_rate", learning_rate, fix="pass a step such as 1.0")
    u = torch.randn(width, generator=generator, dtype=torch.float64)
    v = torch.randn(width, generator=generator, dtype=torch.float64)
    scale = 1.0 / math.sqrt(width)
    losses, curvature = [], []
    diverged = False
    for step in range(steps + 1):
        f = float(scale * (u @ v))
        losses.append(0.5 * (f - target) ** 2)
        curvature.append(float((u @ u + v @ v) / width))
        if not math.isfinite(losses[-1]) or losses[-1] > 1e12:
            diverged = True
            break
        if step == steps:
            break
        r = f - target
        u, v = u - learning_rate * r * scale * v, v - learning_rate * r * scale * u
    return UVRun(losses, curvature, diverged)

"""Spectra for the NGD conditions of Zhang, Martens & Grosse (2019): the Gram matrix at
initialization and the spectral norm of a Jacobian *difference*, without P-sized matrices.

* :func:`gram_eigenvalues` — eigenvalues of ``G = J Jᵀ`` (``[NK, NK]``, float64), i.e. of the
  empirical NTK's kernel matrix; ``λ₀ = λ_min(G)`` is condition 1.
* :func:`jacobian_difference_norm` — ``‖J(X; θ) − J(X; θ₀)‖₂`` (largest singular value) by power
  iteration on ``DᵀD`` with ``D = J_θ − J_θ₀``, applied with Jacobian-vector products (``D v``) and
  vector-Jacobian products (``Dᵀ u``); each iteration costs two JVPs and two VJPs over ``X``, and
  only vectors of size ``P`` and ``NK`` are stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import jvp, vjp

from lib.models.parameters import count_parameters
from lib.ntk.checks import check_inputs, check_model
from lib.ntk.empirical import empirical_ntk
from lib.ntk.functional import flatten_params, functional_model, unflatten_params
from lib.ntk.predict import kernel_matrix
from lib.validation import check_positive, check_positive_int, check_tensor


def gram_eigenvalues(model: nn.Module, x: torch.Tensor, *, method: str = "auto") -> torch.Tensor:
    """Ascending eigenvalues ``[NK]`` (float64) of the Gram matrix ``J(X) J(X)ᵀ`` at the current parameters."""
    kernel = kernel_matrix(empirical_ntk(model, x, mode="full", method=method).to(torch.float64))
    return torch.linalg.eigvalsh(0.5 * (kernel + kernel.T))


@dataclass(frozen=True)
class SpectralNormEstimate:
    """``value`` ≈ ``‖D‖₂``; ``iterations`` used; ``converged`` if the relative change fell below ``tol``;
    ``vector``: the last unit iterate ``[P]`` (≈ the top right singular vector), to warm-start a
    later estimate for a nearby ``θ``."""

    value: float
    iterations: int
    converged: bool
    vector: torch.Tensor | None = None


def jacobian_difference_norm(model: nn.Module, reference: nn.Module, x: torch.Tensor, *, iterations: int = 100,
                             tol: float = 1e-6, generator: torch.Generator | None = None,
                             start: torch.Tensor | None = None) -> SpectralNormEstimate:
    """Spectral norm of ``J(x; θ) − J(x; θ₀)`` with ``θ`` from ``model`` and ``θ₀`` from ``reference``.

    Both modules must have the same architecture; ``x`` is ``[N, ...]``; ``J`` is ``[NK, P]``.
    Power iteration on ``DᵀD`` from ``start`` (a flat ``[P]`` vector, e.g. the ``vector`` of an
    earlier estimate along a trajectory) or else from a random vector (``generator``); the
    estimate is a lower bound that increases to ``‖D‖₂`` (stopping when the relative change is
    below ``tol``).
    """
    iterations = check_positive_int("iterations", iterations, example=100)
    tol = check_positive("tol", tol, fix="pass a relative tolerance such as 1e-6")
    for module in (model, reference):
        check_model(module)
        check_inputs(module, x)
    if start is not None:
        check_tensor("start", start, floating=True, finite=True)
    fm, fr = functional_model(model), functional_model(reference)
    if [(k, v.shape) for k, v in fm.params.items()] != [(k, v.shape) for k, v in fr.params.items()]:
        raise ValueError("model and reference must have the same trainable parameters (names and shapes).")
    names = list(fm.params)

    def f_model(*p):
        return fm.apply(dict(zip(names, p)), x)

    def f_ref(*p):
        return fr.apply(dict(zip(names, p)), x)

    theta, theta0 = tuple(fm.params.values()), tuple(fr.params.values())
    _, pull = vjp(f_model, *theta)
    _, pull0 = vjp(f_ref, *theta0)

    def apply_d(v: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return jvp(f_model, theta, v)[1] - jvp(f_ref, theta0, v)[1]

    def apply_dt(u: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(a - b for a, b in zip(pull(u), pull0(u)))

    def norm(v: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return torch.sqrt(sum((t.double() ** 2).sum() for t in v))

    if start is None:
        v = tuple(torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device) for t in theta)
    else:
        total = count_parameters(theta)
        if start.shape != (total,):
            raise ValueError(f"start must be a flat [P] = [{total}] vector, got {tuple(start.shape)}.")
        v = tuple(unflatten_params(start.to(theta[0]), fm.params).values())
    scale = norm(v)
    if scale == 0:
        raise ValueError("start must be a non-zero vector.")
    v = tuple(t / scale for t in v)
    estimate, converged, it = 0.0, False, 0
    for it in range(1, iterations + 1):
        w = apply_dt(apply_d(v))                       # DᵀD v
        w_norm = norm(w).item()
        new = math.sqrt(w_norm) if w_norm > 0 else 0.0  # ‖DᵀD v‖^{1/2} → σ_max for unit v
        if w_norm == 0:
            return SpectralNormEstimate(0.0, it, True, None)
        v = tuple(t / w_norm for t in w)
        if abs(new - estimate) <= tol * max(new, 1e-300):
            estimate, converged = new, True
            break
        estimate = new
    return SpectralNormEstimate(estimate, it, converged, flatten_params(dict(zip(names, v))).detach())

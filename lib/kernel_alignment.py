"""How two kernel matrices differ in shape and in scale.

All functions take symmetric kernel matrices ``[N, N]`` on the same inputs and work in float64.

* :func:`centered_alignment` — centred kernel alignment, CKA (Cortes, Mohri & Rostamizadeh 2012;
  Kornblith et al. 2019): ``⟨HK₁H, HK₂H⟩_F / (‖HK₁H‖_F ‖HK₂H‖_F)`` with ``H = I − 11ᵀ/N``. It is 1 for
  kernels equal up to scale and a constant offset, so it measures *shape* only.
* :func:`target_alignment` — CKA between ``K`` and the target kernel ``YYᵀ`` (kernel–target alignment).
* :func:`eigenspace_overlap` — ``‖U₁ᵀU₂‖_F² / k`` for the top-``k`` eigenvectors: 1 when the two kernels
  share their top-``k`` eigenspace, 0 when those spaces are orthogonal.
* :func:`scale_ratio` — ``‖K₂‖_F / ‖K₁‖_F``: the *scale* change that the shape measures ignore.
* :func:`scale_and_shape` — the decomposition ``HK₂H = s·HK₁H + R`` with ``R ⟂ HK₁H``: the centred scale
  ``s`` and the relative shape change ``‖R‖_F / ‖s·HK₁H‖_F``. Both are first order in a small change
  (``1 − CKA`` is second order: ``1 − CKA ≈ ½ (‖R‖/‖s·HK₁H‖)²``), so ``|log s|`` and the shape change can be
  compared on one scale.

The kernel distance of Fort et al. (2020), :func:`lib.ntk.compare.kernel_distance`, is
``1 − ⟨K₁, K₂⟩_F/(‖K₁‖_F‖K₂‖_F)`` without centring: on inputs whose kernel has a large constant
component (non-negative pixels, ReLU features) that component dominates both norms, so it
understates changes of shape; it is also quadratic in small changes (``d ≈ ½‖ΔK_⊥‖²/‖K‖²``).
"""

from __future__ import annotations

import torch

__all__ = ["centered_alignment", "target_alignment", "eigenspace_overlap", "scale_ratio", "scale_and_shape"]


def _square(name: str, k: torch.Tensor) -> torch.Tensor:
    if k.dim() != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be a square kernel matrix [N, N]; got {tuple(k.shape)}.")
    k = k.detach().to(torch.float64)
    if not torch.isfinite(k).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return 0.5 * (k + k.T)


def _pair(k1: torch.Tensor, k2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _square("k1", k1), _square("k2", k2).to(k1.device)
    if a.shape != b.shape:
        raise ValueError(f"Kernels on different inputs: {tuple(a.shape)} vs {tuple(b.shape)}.")
    return a, b


def _center(k: torch.Tensor) -> torch.Tensor:
    return k - k.mean(dim=0, keepdim=True) - k.mean(dim=1, keepdim=True) + k.mean()


def centered_alignment(k1: torch.Tensor, k2: torch.Tensor) -> float:
    """CKA of ``k1`` and ``k2`` (module docstring); in ``[−1, 1]``, 1 for the same shape."""
    a, b = _pair(k1, k2)
    a, b = _center(a), _center(b)
    denominator = torch.linalg.norm(a) * torch.linalg.norm(b)
    if denominator == 0:
        raise ValueError("A centred kernel is zero (a constant kernel has no shape to align).")
    return float((a * b).sum() / denominator)


def target_alignment(k: torch.Tensor, targets: torch.Tensor) -> float:
    """CKA between ``k [N, N]`` and ``targets [N, C] @ targets.T``."""
    if targets.dim() != 2 or targets.shape[0] != k.shape[0]:
        raise ValueError(f"targets must be [N={k.shape[0]}, C]; got {tuple(targets.shape)}.")
    y = targets.detach().to(dtype=torch.float64, device=k.device)
    return centered_alignment(k, y @ y.T)


def eigenspace_overlap(k1: torch.Tensor, k2: torch.Tensor, k: int) -> float:
    """Overlap ``‖U₁ᵀU₂‖_F² / k`` of the top-``k`` eigenspaces, in ``[0, 1]``."""
    a, b = _pair(k1, k2)
    if not 1 <= k < a.shape[0]:
        raise ValueError(f"k must be in 1..N−1 = {a.shape[0] - 1}; got {k}.")
    u1 = torch.linalg.eigh(a).eigenvectors[:, -k:]
    u2 = torch.linalg.eigh(b).eigenvectors[:, -k:]
    return float((u1.T @ u2).pow(2).sum() / k)


def scale_ratio(k1: torch.Tensor, k2: torch.Tensor) -> float:
    """``‖k2‖_F / ‖k1‖_F``."""
    a, b = _pair(k1, k2)
    return float(torch.linalg.norm(b) / torch.linalg.norm(a))


def scale_and_shape(k1: torch.Tensor, k2: torch.Tensor) -> tuple[float, float]:
    """``(s, ‖R‖_F / ‖s·HK₁H‖_F)`` for ``HK₂H = s·HK₁H + R`` with ``⟨R, HK₁H⟩_F = 0`` (module docstring)."""
    a, b = _pair(k1, k2)
    a, b = _center(a), _center(b)
    norm2 = (a * a).sum()
    if norm2 == 0:
        raise ValueError("The centred reference kernel is zero (a constant kernel has no shape).")
    s = float((a * b).sum() / norm2)
    residual = b - s * a
    if s == 0:
        raise ValueError("The second kernel is orthogonal to the first after centring; the scale is undefined.")
    return s, float(torch.linalg.norm(residual) / (abs(s) * torch.sqrt(norm2)))

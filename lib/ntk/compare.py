"""Comparing kernels: relative Frobenius error and the kernel distance of Fort et al. (2020).

Both accept kernels of any shape (``[N1, N2]``, ``[N1, N2, K]``, ``[N1, N2, K, K]``); they are
compared entry by entry in float64.
"""

from __future__ import annotations

import torch


def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if a.shape != b.shape:
        raise ValueError(f"Kernels must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    return a.detach().to(torch.float64).flatten(), b.detach().to(device=a.device, dtype=torch.float64).flatten()


def relative_frobenius_error(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    """``‖estimate − reference‖_F / ‖reference‖_F``."""
    a, b = _pair(estimate, reference)
    norm = torch.linalg.vector_norm(b)
    if norm == 0:
        raise ValueError("The reference kernel is zero; a relative error is undefined.")
    return (torch.linalg.vector_norm(a - b) / norm).item()


def kernel_distance(k1: torch.Tensor, k2: torch.Tensor) -> float:
    """``d(K₁, K₂) = 1 − ⟨K₁, K₂⟩_F / (‖K₁‖_F ‖K₂‖_F)`` (Fort et al. 2020): 0 for kernels that are
    equal up to a positive scale, insensitive to the overall scale, at most 2."""
    a, b = _pair(k1, k2)
    norms = torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)
    if norms == 0:
        raise ValueError("A zero kernel has no direction; the kernel distance is undefined.")
    return (1.0 - torch.dot(a, b) / norms).clamp(min=0.0).item()

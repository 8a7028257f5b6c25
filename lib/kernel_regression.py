"""Kernel (ridge) regression in float64, and infinite-width kernel matrices computed in tiles.

Predictor, for a scalar kernel ``k`` shared by all ``K`` outputs:

    f(x*) = k(x*, X) (k(X, X) + λ I)⁻¹ Y,     λ = ridge · tr k(X, X) / N,

i.e. the ridge is stated *relative to the mean diagonal* of the kernel, so one value means the
same for kernels of different scale (an empirical NTK and its infinite-width limit, say). It is
the ``t → ∞`` limit of gradient flow on the squared loss with an ``L2`` penalty in function
space, and with ``ridge = 0`` the interpolating kernel "regression" of the NTK (Lee et al. 2019).
The linear system is solved by a Cholesky factorization in float64.
"""

from __future__ import annotations

import torch

from lib.ntk import relu_ntk
from lib.ntk.tiling import fill_kernel_tiles


def absolute_ridge(k_train: torch.Tensor, ridge: float) -> float:
    """``λ = ridge · tr k(X, X) / N`` (module docstring)."""
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}.")
    return ridge * k_train.diagonal().to(torch.float64).mean().item()


def kernel_regression(k_train: torch.Tensor, y_train: torch.Tensor, k_test_train: torch.Tensor, *,
                      ridge: float) -> torch.Tensor:
    """Kernel ridge regression predictions ``[M, K]`` (float64).

    Args:
        k_train: ``k(X, X) [N, N]``; k_test_train: ``k(x*, X) [M, N]``; y_train: ``[N, K]``.
        ridge: relative ridge (module docstring); 0 is allowed when ``k(X, X)`` is positive definite.

    Raises:
        ValueError: shapes do not match, or the regularized kernel is not positive definite
            (the message says to raise ``ridge``).
    """
    n = k_train.shape[0]
    if k_train.shape != (n, n) or k_test_train.dim() != 2 or k_test_train.shape[1] != n:
        raise ValueError(f"Expected k_train [N, N] and k_test_train [M, N]; got {tuple(k_train.shape)} and "
                         f"{tuple(k_test_train.shape)}.")
    if y_train.dim() != 2 or y_train.shape[0] != n:
        raise ValueError(f"y_train must have shape [{n}, K], got {tuple(y_train.shape)}.")
    k = k_train.to(torch.float64)
    k = 0.5 * (k + k.T)
    lam = absolute_ridge(k, ridge)
    factor, info = torch.linalg.cholesky_ex(k + lam * torch.eye(n, dtype=torch.float64, device=k.device))
    if int(info) != 0:
        raise ValueError(f"The kernel matrix plus ridge {ridge} (λ = {lam:.3g}) is not positive definite; "
                         "increase ridge (e.g. 1e-6 relative to the mean diagonal).")
    alpha = torch.cholesky_solve(y_train.to(device=k.device, dtype=torch.float64), factor)
    return k_test_train.to(device=k.device, dtype=torch.float64) @ alpha


def relu_ntk_matrix(x1: torch.Tensor, x2: torch.Tensor | None = None, *, depth: int, sigma_w: float = 2**0.5,
                    sigma_b: float = 0.0, tile: int = 2048) -> torch.Tensor:
    """The infinite-width ReLU NTK (:func:`lib.ntk.relu_ntk`, NTK parametrization) as ``[N1, N2]`` float64,
    built in ``tile × tile`` blocks so that the temporaries of the recursion stay small.

    With ``x2 = None`` the matrix is symmetric by construction (lower blocks mirrored, diagonal
    blocks computed with their exact diagonal; :func:`lib.ntk.tiling.fill_kernel_tiles`).
    ``tile`` must be an integer ``>= 1`` (``ValueError`` otherwise).
    """
    symmetric = x2 is None
    x1 = x1.reshape(x1.shape[0], -1)
    x2 = x1 if symmetric else x2.reshape(x2.shape[0], -1)
    out = torch.empty(x1.shape[0], x2.shape[0], dtype=torch.float64, device=x1.device)

    def block(rows: slice, cols: slice) -> torch.Tensor:
        b = None if symmetric and rows == cols else x2[cols]
        return relu_ntk(x1[rows], b, depth=depth, sigma_w=sigma_w, sigma_b=sigma_b)[1]

    return fill_kernel_tiles(out, block, tile=tile, symmetric=symmetric)

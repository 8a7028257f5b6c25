"""Closed-form training dynamics of a linearized network under squared loss.

Convention: loss ``L(θ) = ½ Σ_n ‖f(x_n) − y_n‖²`` (a **sum** over samples and outputs),
trained by gradient flow ``dθ/dt = −η ∇L`` or by gradient descent with step ``η``. For a
linearized network (constant NTK ``Θ``) the training outputs follow

    flow: f_t = y + e^{−η Θ t} (f_0 − y),     GD: f_k = y + (I − η Θ)^k (f_0 − y),

and the outputs on test points are (Lee et al. 2019, eq. 9)

    f_t(x*) = f_0(x*) − Θ(x*, X) Θ⁻¹ (I − e^{−η Θ t}) (f_0 − y).

The kernel matrix is ``Θ`` of shape ``[N K, N K]``; :func:`kernel_matrix` flattens an
``[N1, N2, K, K]`` kernel with row index ``n K + a``. A kernel given in trace or scalar form
(``[N1, N2]``) is used for every output independently. ``Θ⁻¹(I − e^{−ηΘt})`` is evaluated in
the eigenbasis of ``Θ`` in float64, with the limit ``η t`` for zero eigenvalues, so singular
kernels are fine (their null space is never trained).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def kernel_matrix(kernel: torch.Tensor) -> torch.Tensor:
    """``[N1, N2, K, K]`` → ``[N1 K, N2 K]`` with index ``n K + a``; ``[N1, N2]`` is returned as is."""
    if kernel.dim() == 2:
        return kernel
    if kernel.dim() != 4 or kernel.shape[2] != kernel.shape[3]:
        raise ValueError(f"Expected a kernel [N1, N2, K, K] or [N1, N2], got {tuple(kernel.shape)}.")
    n1, n2, k, _ = kernel.shape
    return kernel.permute(0, 2, 1, 3).reshape(n1 * k, n2 * k)


@dataclass(frozen=True)
class MSEDynamics:
    """Predictions of a linearized network trained on ``(X, y)`` with squared loss.

    Build with :func:`gradient_descent_mse`; call :meth:`train` / :meth:`test`.
    """

    eigenvalues: torch.Tensor   # [M], M = N K (or N for a scalar kernel)
    eigenvectors: torch.Tensor  # [M, M]
    y: torch.Tensor             # [N, K]
    learning_rate: float
    scalar_kernel: bool

    def _flat(self, f: torch.Tensor) -> torch.Tensor:
        return f.reshape(f.shape[0], -1) if self.scalar_kernel else f.reshape(-1, 1)

    def _null(self) -> torch.Tensor:
        """Eigenvalues treated as zero (relative to the largest): directions training never moves."""
        lam = self.eigenvalues.abs()
        return lam <= 1e-12 * lam.max().clamp_min(1e-300)

    def _decay(self, t: float, steps: bool) -> torch.Tensor:
        """Diagonal of ``e^{−ηΘt}`` (flow) or ``(I − ηΘ)^t`` (steps) in the eigenbasis; at ``t = ∞``, 1 on the null space."""
        if math.isinf(t):
            return self._null().to(self.eigenvalues.dtype)
        lam, eta = self.eigenvalues, self.learning_rate
        return (1 - eta * lam) ** t if steps else torch.exp(-eta * lam * t)

    def _solve_factor(self, t: float, steps: bool) -> torch.Tensor:
        """Diagonal of ``Θ⁻¹ (I − decay)``; on the null space ``η t`` (finite t) or 0 (``t = ∞``, pseudo-inverse)."""
        lam, null = self.eigenvalues, self._null()
        safe = torch.where(null, torch.ones_like(lam), lam)
        on_null = torch.zeros_like(lam) if math.isinf(t) else torch.full_like(lam, self.learning_rate * t)
        return torch.where(null, on_null, (1 - self._decay(t, steps)) / safe)

    def train(self, f0: torch.Tensor, t: float = math.inf, *, steps: bool = False) -> torch.Tensor:
        """Training outputs ``[N, K]`` after time ``t`` (flow) or ``t`` steps (``steps=True``)."""
        residual = self._flat(f0.to(torch.float64) - self.y)
        v = self.eigenvectors
        out = v @ (self._decay(t, steps)[:, None] * (v.T @ residual))
        return self.y + out.reshape(self.y.shape)

    def test(self, f0_test: torch.Tensor, kernel_test_train: torch.Tensor, f0_train: torch.Tensor,
             t: float = math.inf, *, steps: bool = False) -> torch.Tensor:
        """Test outputs ``[N*, K]`` given ``f_0`` on test and train points and ``Θ(x*, X)``.

        On the null space of ``Θ`` the factor does not matter: ``Θ(x*, X)`` vanishes there for
        ``Θ = J Jᵀ``, so ``t = ∞`` uses the pseudo-inverse.
        """
        residual = self._flat(f0_train.to(torch.float64) - self.y)
        v = self.eigenvectors
        weights = v @ (self._solve_factor(t, steps)[:, None] * (v.T @ residual))
        update = kernel_matrix(kernel_test_train.to(torch.float64)) @ weights
        return f0_test.to(torch.float64) - update.reshape(f0_test.shape)


def gradient_descent_mse(kernel_train_train: torch.Tensor, y_train: torch.Tensor, *,
                         learning_rate: float = 1.0) -> MSEDynamics:
    """Closed-form squared-loss dynamics of a linearized network (module docstring).

    Args:
        kernel_train_train: ``Θ(X, X)`` as ``[N, N, K, K]`` or ``[N, N]`` (same kernel for
            every output); converted to float64.
        y_train: targets ``[N, K]``.
        learning_rate: ``η``. Gradient descent converges iff ``η < 2 / λ_max(Θ)``.

    Returns:
        An :class:`MSEDynamics` whose ``train``/``test`` methods give predictions at any
        time ``t`` (``math.inf`` for the end point, the kernel-regression solution).
    """
    if y_train.dim() != 2:
        raise ValueError(f"y_train must have shape [N, K], got {tuple(y_train.shape)}.")
    matrix = kernel_matrix(kernel_train_train.to(torch.float64))
    n, k = y_train.shape
    scalar = kernel_train_train.dim() == 2
    expected = n if scalar else n * k
    if matrix.shape != (expected, expected):
        raise ValueError(f"Kernel of shape {tuple(kernel_train_train.shape)} does not match y_train [{n}, {k}].")
    eigenvalues, eigenvectors = torch.linalg.eigh(0.5 * (matrix + matrix.T))
    return MSEDynamics(eigenvalues, eigenvectors, y_train.to(torch.float64), float(learning_rate), scalar)

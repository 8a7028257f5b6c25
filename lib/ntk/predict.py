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

from lib.validation import check_finite, check_nonnegative, check_positive, check_tensor


def kernel_matrix(kernel: torch.Tensor) -> torch.Tensor:
    """``[N1, N2, K, K]`` → ``[N1 K, N2 K]`` with index ``n K + a``; ``[N1, N2]`` is returned as is."""
    check_tensor("kernel", kernel, floating=True)
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
        """Diagonal of ``e^{−ηΘt}`` (flow) or ``(I − ηΘ)^t`` (steps) in the eigenbasis.

        At ``t = ∞`` it is 1 on the null space and 0 elsewhere."""
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

    def _check_time(self, t: float, steps: bool) -> float:
        t = check_finite("t", t, minimum=0.0, allow_inf=True,
                         fix="pass a training time t >= 0 (math.inf for the converged solution)")
        if steps and math.isfinite(t) and t != int(t):
            raise ValueError(f"With steps=True, t counts gradient-descent steps and must be a whole number, got {t}.")
        return t

    def _check_outputs(self, name: str, f: torch.Tensor, rows: int | None) -> None:
        k = self.y.shape[1]
        check_tensor(name, f, floating=True, finite=True)
        if f.dim() != 2 or f.shape[1] != k or (rows is not None and f.shape[0] != rows):
            want = f"[{rows if rows is not None else 'N*'}, {k}]"
            raise ValueError(f"{name} must be the network outputs of shape {want}, got {tuple(f.shape)}.")

    def train(self, f0: torch.Tensor, t: float = math.inf, *, steps: bool = False) -> torch.Tensor:
        """Training outputs ``[N, K]`` after time ``t`` (flow) or ``t`` steps (``steps=True``)."""
        t = self._check_time(t, steps)
        self._check_outputs("f0", f0, self.y.shape[0])
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
        t = self._check_time(t, steps)
        n, k = self.y.shape
        self._check_outputs("f0_train", f0_train, n)
        self._check_outputs("f0_test", f0_test, None)
        m = f0_test.shape[0]
        check_tensor("kernel_test_train", kernel_test_train, floating=True, finite=True)
        want = (m, n) if self.scalar_kernel else (m, n, k, k)
        if tuple(kernel_test_train.shape) != want:
            raise ValueError(
                f"kernel_test_train must be Θ(x*, X) of shape {list(want)} (test points × training points"
                f"{'' if self.scalar_kernel else ' × outputs × outputs'}, like the training kernel), got "
                f"{tuple(kernel_test_train.shape)}.")
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
    check_tensor("y_train", y_train, floating=True, finite=True)
    check_tensor("kernel_train_train", kernel_train_train, floating=True, finite=True)
    learning_rate = check_positive("learning_rate", learning_rate, fix="pass a step size η > 0 such as 1.0")
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


@dataclass(frozen=True)
class NTKGaussianProcess:
    """Distribution of the outputs of infinitely wide networks trained to convergence (t = ∞).

    ``mean [M, K]`` and ``covariance [M, M]`` (the same for every output, which are independent).
    """

    mean: torch.Tensor
    covariance: torch.Tensor

    @property
    def std(self) -> torch.Tensor:
        """Marginal standard deviations ``[M]``."""
        return self.covariance.diagonal().clamp(min=0).sqrt()


def ntk_gp_posterior(ntk: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                     nngp: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                     y_train: torch.Tensor, *, t: float = math.inf, learning_rate: float = 1.0,
                     steps: bool = False, ridge: float = 0.0) -> NTKGaussianProcess:
    """The "NTK-GP": outputs at test points of an ensemble of infinitely wide networks trained
    by gradient flow / descent on squared loss (Lee et al. 2019, eqs. 15–16).

    With ``f₀ ~ GP(0, K)`` (the NNGP), a constant NTK ``Θ`` and the sum loss ``½ Σ ‖f − y‖²``,
    ``f_t(x*) = f₀(x*) − A_t (f₀(X) − y)`` with ``A_t = Θ(x*, X) Θ⁻¹ (I − e^{−ηΘt})``
    (``(I − ηΘ)^t`` for ``t`` steps of gradient descent; ``A_∞ = Θ(x*, X) Θ⁻¹``), hence

        mean = A_t y,     cov = K(x*, x*) − A_t K(X, x*) − K(x*, X) A_tᵀ + A_t K(X, X) A_tᵀ.

    At ``t = ∞`` this is a Gaussian process, but not the Bayesian posterior of the NNGP prior
    (that one has ``A = K(x*, X) K⁻¹``); the two coincide when ``Θ = K``.

    Args:
        ntk, nngp: scalar kernels as ``(train-train [N, N], test-train [M, N], test-test [M, M])``.
        y_train: targets ``[N, K]``.
        t, learning_rate, steps: training time ``t`` of gradient flow with rate ``η``, or ``t``
            steps of gradient descent with step ``η`` (``steps=True``); ``math.inf`` = converged.
        ridge: added to the diagonal of ``Θ(X, X)`` (0 = exact; use a small value when
            ``Θ(X, X)`` is ill-conditioned and say so).

    Returns:
        :class:`NTKGaussianProcess` in float64.
    """
    for label, group in (("ntk", ntk), ("nngp", nngp)):
        if not isinstance(group, (tuple, list)) or len(group) != 3:
            raise TypeError(f"{label} must be a tuple (train-train, test-train, test-test) of kernels, got "
                            f"{type(group).__name__}.")
        for part, matrix in zip(("train-train", "test-train", "test-test"), group):
            check_tensor(f"{label} {part} kernel", matrix, floating=True, finite=True)
    check_tensor("y_train", y_train, floating=True, finite=True)
    ridge = check_nonnegative("ridge", ridge, fix="pass ridge >= 0 (0 = exact)")
    learning_rate = check_positive("learning_rate", learning_rate, fix="pass a step size η > 0 such as 1.0")
    t = check_finite("t", t, minimum=0.0, allow_inf=True, fix="pass t >= 0 or math.inf")
    if steps and math.isfinite(t) and t != int(t):
        raise ValueError(f"With steps=True, t counts gradient-descent steps and must be a whole number, got {t}.")
    (t_xx, t_sx, t_ss), (k_xx, k_sx, k_ss) = ([m.to(torch.float64) for m in ntk], [m.to(torch.float64) for m in nngp])
    n, m = t_xx.shape[0], t_sx.shape[0]
    for name, a, shape in (("ntk train-train", t_xx, (n, n)), ("ntk test-train", t_sx, (m, n)),
                           ("ntk test-test", t_ss, (m, m)), ("nngp train-train", k_xx, (n, n)),
                           ("nngp test-train", k_sx, (m, n)), ("nngp test-test", k_ss, (m, m))):
        if tuple(a.shape) != shape:
            raise ValueError(f"{name} kernel has shape {tuple(a.shape)}, expected {shape}.")
    if y_train.dim() != 2 or y_train.shape[0] != n:
        raise ValueError(f"y_train must have shape [{n}, K], got {tuple(y_train.shape)}.")
    if ridge < 0 or not t >= 0:
        raise ValueError(f"Need ridge >= 0 and t >= 0, got ridge={ridge}, t={t}.")
    regularized = 0.5 * (t_xx + t_xx.T) + ridge * torch.eye(n, dtype=torch.float64, device=t_xx.device)
    dynamics = MSEDynamics(*torch.linalg.eigh(regularized), y_train.to(torch.float64), float(learning_rate), True)
    if math.isinf(t) and bool(dynamics._null().any()):
        raise ValueError("Θ(X, X) is singular (duplicate inputs?); pass ridge > 0 or a finite t.")
    v = dynamics.eigenvectors
    a = t_sx @ v @ (dynamics._solve_factor(t, steps)[:, None] * v.T)   # [M, N] = A_t
    mean = a @ y_train.to(torch.float64)
    cross = a @ k_sx.T                                                   # A_t K(X, x*)
    covariance = k_ss - cross - cross.T + a @ k_xx @ a.T
    return NTKGaussianProcess(mean, 0.5 * (covariance + covariance.T))

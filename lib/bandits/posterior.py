"""Gaussian posteriors over the reward function, updated one observation at a time.

Every exploration bonus of the book's neural bandits is a posterior standard deviation of the
same form. With a positive semi-definite kernel ``k`` on arm contexts, past contexts
``X = (x_1 .. x_n)``, kernel matrix ``K = k(X, X)`` ``[n, n]`` and a ridge ``c > 0``,

    s²(x) = k(x, x) − k(x, X) (K + c I)⁻¹ k(X, x).                                  (★)

* **NeuralUCB's Z** (Zhou et al. 2020): ``Z_n = λ I + Σ_i φ_i φ_iᵀ`` with features
  ``φ_i = g(x_i; θ_i)/√m`` (the network gradient at the time ``x_i`` was played). By the
  Woodbury identity ``φᵀ Z_n⁻¹ φ = s²/λ`` with ``k(x, x') = φ(x)ᵀφ(x')`` and ``c = λ`` —
  :class:`FeaturePrecision` (exact, function space) and :class:`DiagonalPrecision` (``Z``'s
  diagonal only, what the official code keeps).
* **Linearized Laplace** (MacKay 1992; Immer et al. 2021): prior ``θ ~ N(θ₀, α⁻¹ I)``, Gaussian
  noise ``σ²``, the network linearized at the trained ``θ*``: the predictive variance of ``f(x)``
  is (★)/α with ``k`` the empirical NTK at ``θ*`` and ``c = ασ²`` — :class:`KernelPosterior`.

:class:`IncrementalCholesky` keeps the Cholesky factor of ``K + c I`` and appends one row per
observation (``O(n²)``), so no round re-factorises. Everything is float64 by default.
"""

from __future__ import annotations

import math

import torch


class IncrementalCholesky:
    """Lower-triangular ``L`` with ``L Lᵀ = K + c I`` for a growing set of points.

    Storage is preallocated for ``capacity`` points and doubled when full.
    """

    def __init__(self, ridge: float, *, capacity: int = 256, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu") -> None:
        if ridge <= 0:
            raise ValueError(f"The ridge c must be positive, got {ridge}.")
        self.ridge = float(ridge)
        self._factor = torch.zeros(capacity, capacity, dtype=dtype, device=device)
        self.size = 0

    @property
    def factor(self) -> torch.Tensor:
        """``L`` ``[n, n]``."""
        return self._factor[:self.size, :self.size]

    def append(self, cross: torch.Tensor, diagonal: float | torch.Tensor) -> None:
        """Add a point with ``cross = k(X, x)`` ``[n]`` and ``diagonal = k(x, x)``."""
        n = self.size
        if cross.shape != (n,):
            raise ValueError(f"cross must have shape [{n}], got {tuple(cross.shape)}.")
        if n == self._factor.shape[0]:
            grown = self._factor.new_zeros(2 * n, 2 * n)
            grown[:n, :n] = self._factor
            self._factor = grown
        row = self.solve_lower(cross.to(self._factor)[:, None])[:, 0] if n else cross.new_zeros(0)
        pivot = float(diagonal) + self.ridge - float(row @ row) if n else float(diagonal) + self.ridge
        # K + cI is positive definite; rounding can only make the pivot slightly smaller than c.
        pivot = max(pivot, self.ridge * 1e-12)
        self._factor[n, :n] = row
        self._factor[n, n] = math.sqrt(pivot)
        self.size = n + 1

    def solve_lower(self, rhs: torch.Tensor) -> torch.Tensor:
        """``L⁻¹ rhs`` for ``rhs`` ``[n, q]``."""
        return torch.linalg.solve_triangular(self.factor, rhs, upper=False)

    def reduced_variance(self, cross: torch.Tensor, diagonal: torch.Tensor) -> torch.Tensor:
        """(★) for ``q`` queries: ``cross = k(X, x_j)`` ``[n, q]``, ``diagonal = k(x_j, x_j)`` ``[q]`` → ``[q]``."""
        if self.size == 0:
            return diagonal.clone()
        v = self.solve_lower(cross.to(self._factor))
        return (diagonal.to(self._factor) - (v * v).sum(0)).clamp_min(0.0)

    def logdet_ratio(self) -> float:
        """``log det(I + K/c) = log det(K + cI) − n log c``."""
        if self.size == 0:
            return 0.0
        return float(2.0 * torch.log(self.factor.diagonal()).sum()) - self.size * math.log(self.ridge)


class DiagonalPrecision:
    """The diagonal of ``Z_n = λ I + Σ_i φ_i φ_iᵀ`` ``[p]`` (the official code's approximation)."""

    def __init__(self, dim: int, lam: float, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu") -> None:
        if lam <= 0:
            raise ValueError(f"λ must be positive, got {lam}.")
        self.lam = float(lam)
        self.diagonal = torch.full((dim,), float(lam), dtype=dtype, device=device)

    def add(self, phi: torch.Tensor) -> None:
        """``Z += diag(φ φᵀ)`` for one feature vector ``φ`` ``[p]``."""
        self.diagonal += phi.to(self.diagonal) ** 2

    def quadratic(self, phi: torch.Tensor) -> torch.Tensor:
        """``φ_jᵀ diag(Z)⁻¹ φ_j`` for ``φ`` ``[q, p]`` → ``[q]``."""
        return (phi.to(self.diagonal) ** 2 / self.diagonal).sum(-1)

    def logdet_ratio(self) -> float:
        """``log det(diag Z / λ)``."""
        return float(torch.log(self.diagonal / self.lam).sum())


class FeaturePrecision:
    """The full ``Z_n = λ I + Σ_i φ_i φ_iᵀ`` held in function space (stores the ``φ_i``, ``[n, p]``).

    ``φᵀ Z⁻¹ φ`` costs ``O(n p + n²)`` per query and ``p × p`` is never formed.
    """

    def __init__(self, dim: int, lam: float, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu", capacity: int = 256) -> None:
        self.lam = float(lam)
        self.cholesky = IncrementalCholesky(lam, capacity=capacity, dtype=dtype, device=device)
        self._features = torch.zeros(capacity, dim, dtype=dtype, device=device)

    @property
    def features(self) -> torch.Tensor:
        return self._features[:self.cholesky.size]

    def add(self, phi: torch.Tensor) -> None:
        phi = phi.to(self._features)
        n = self.cholesky.size
        self.cholesky.append(self.features @ phi, phi @ phi)
        if n == self._features.shape[0]:
            self._features = torch.cat([self._features, torch.zeros_like(self._features)])
        self._features[n] = phi

    def quadratic(self, phi: torch.Tensor) -> torch.Tensor:
        """``φ_jᵀ Z⁻¹ φ_j`` for ``φ`` ``[q, p]`` → ``[q]`` (Woodbury, module doc)."""
        phi = phi.to(self._features)
        return self.cholesky.reduced_variance(self.features @ phi.T, (phi * phi).sum(-1)) / self.lam

    def logdet_ratio(self) -> float:
        """``log det(Z / λ) = log det(I + ΦΦᵀ/λ)`` (Sylvester)."""
        return self.cholesky.logdet_ratio()


class KernelPosterior:
    """The linearized-Laplace predictive variance (★)/α for a fixed kernel and hyperparameters.

    Attributes:
        prior_precision: ``α``; noise: ``σ²``.
    """

    def __init__(self, prior_precision: float, noise: float, *, dtype: torch.dtype = torch.float64,
                 device: torch.device | str = "cpu", capacity: int = 256) -> None:
        if prior_precision <= 0 or noise <= 0:
            raise ValueError(f"Need α > 0 and σ² > 0, got α={prior_precision}, σ²={noise}.")
        self.prior_precision, self.noise = float(prior_precision), float(noise)
        self.cholesky = IncrementalCholesky(prior_precision * noise, capacity=capacity, dtype=dtype, device=device)

    @classmethod
    def from_kernel(cls, kernel: torch.Tensor, prior_precision: float, noise: float) -> KernelPosterior:
        """Condition on ``n`` points with kernel matrix ``kernel`` ``[n, n]`` at once."""
        post = cls(prior_precision, noise, dtype=kernel.dtype, device=kernel.device,
                   capacity=max(256, 2 * kernel.shape[0]))
        n = kernel.shape[0]
        if n:
            ridge = prior_precision * noise
            factor = torch.linalg.cholesky(kernel + ridge * torch.eye(n, dtype=kernel.dtype, device=kernel.device))
            post.cholesky._factor[:n, :n] = factor
            post.cholesky.size = n
        return post

    def add(self, cross: torch.Tensor, diagonal: float | torch.Tensor) -> None:
        """Condition on one more point (``cross = k(X, x)`` ``[n]``, ``diagonal = k(x, x)``)."""
        self.cholesky.append(cross, diagonal)

    def variance(self, cross: torch.Tensor, diagonal: torch.Tensor) -> torch.Tensor:
        """Predictive variance of ``f`` at ``q`` queries: ``cross`` ``[n, q]``, ``diagonal`` ``[q]`` → ``[q]``."""
        return self.cholesky.reduced_variance(cross, diagonal) / self.prior_precision


def maximize_evidence(eigenvalues: torch.Tensor, residual_ss: float, distance_ss: float, n: int, *,
                      prior_precision: float = 1.0, noise: float = 1.0, iterations: int = 200,
                      bounds: tuple[float, float] = (1e-6, 1e6)) -> tuple[float, float, float]:
    """Maximize the linearized-Laplace evidence over ``α`` (prior precision) and ``σ²`` (noise).

    With ``s_j`` the eigenvalues of the empirical NTK ``JJᵀ`` ``[n, n]`` on the data at ``θ*``,
    ``RSS = Σ (r_i − f(x_i; θ*))²`` and ``D = ‖θ* − θ₀‖²``, the Laplace approximation of the log
    evidence (MacKay 1992; Immer et al. 2021; the ``P log α`` terms cancel by Sylvester) is

        log Z(α, σ²) = −RSS/(2σ²) − n/2 · log(2πσ²) − α D/2 − ½ Σ_j log(1 + s_j/(ασ²)).

    Its stationary points satisfy MacKay's fixed point with ``γ = Σ_j s_j/(s_j + ασ²)``:
    ``α = γ / D`` and ``σ² = RSS/(n − γ)``, iterated here from the given start and clipped to
    ``bounds``. Returns ``(α, σ², log Z)``.
    """
    s = eigenvalues.clamp_min(0.0).to(torch.float64)
    lo, hi = bounds
    alpha, sigma2 = float(prior_precision), float(noise)
    for _ in range(iterations):
        gamma = float((s / (s + alpha * sigma2)).sum())
        alpha_new = min(max(gamma / max(distance_ss, 1e-300), lo), hi)
        sigma2_new = min(max(residual_ss / max(n - gamma, 1e-12), lo), hi)
        converged = abs(math.log(alpha_new / alpha)) < 1e-10 and abs(math.log(sigma2_new / sigma2)) < 1e-10
        alpha, sigma2 = alpha_new, sigma2_new
        if converged:
            break
    return alpha, sigma2, log_evidence(s, residual_ss, distance_ss, n, alpha, sigma2)


def log_evidence(eigenvalues: torch.Tensor, residual_ss: float, distance_ss: float, n: int,
                 prior_precision: float, noise: float) -> float:
    """The Laplace log evidence of :func:`maximize_evidence` at ``(α, σ²)``."""
    s = eigenvalues.clamp_min(0.0).to(torch.float64)
    a, v = prior_precision, noise
    return float(-residual_ss / (2 * v) - n / 2 * math.log(2 * math.pi * v) - a * distance_ss / 2
                 - 0.5 * torch.log1p(s / (a * v)).sum())

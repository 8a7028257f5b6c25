"""Infinite-width NNGP and NTK of ReLU MLPs in closed form (float64).

Network: ``depth`` hidden layers ``Dense -> ReLU`` and a linear ``Dense`` readout, all with
the same ``(sigma_w, sigma_b)``, in the convention of neural-tangents' ``stax``
(``Dense(W_std=sigma_w, b_std=sigma_b)``; Novak et al. 2020). Input covariance
``Σ⁰(x, x') = x·x' / d``. Recursion (Jacot et al. 2018; Lee et al. 2019; Arora et al. 2019):

    Σ¹ = σ_w² Σ⁰ + σ_b²,                         Θ¹ = Σ¹
    Σ̃ˡ = κ₁(Σˡ),   Σ̇ˡ = κ₀(Σˡ)                  (ReLU arc-cosine kernels, Cho & Saul 2009)
    Σˡ⁺¹ = σ_w² Σ̃ˡ + σ_b²,                       Θˡ⁺¹ = σ_w² Σ̇ˡ Θˡ + Σˡ⁺¹

with, for ``cos θ = Σ(x,x') / √(Σ(x,x) Σ(x',x'))``,

    κ₁ = √(Σ(x,x) Σ(x',x')) (sin θ + (π − θ) cos θ) / (2π),    κ₀ = (π − θ) / (2π).

The angle is computed as ``atan2(√(Σ Σ' − Σ_xx'²), Σ_xx')``, and on the diagonal of
``k(x, x)`` it is exactly 0 — no ``√eps`` error from ``arccos`` near 1.

Closed-form check: with ``σ_w² = 2, σ_b = 0``, ``Σˡ(x, x) = 2|x|²/d`` for all ``l`` and
``Θ(x, x) = (L + 1) · 2|x|²/d``.

**Standard parametrization** (``W ~ N(0, σ_w²/fan_in)``, ``b ~ N(0, σ_b²)``, gradients taken
with respect to these ``W`` and ``b``): the NNGP is the same; the NTK is the large-width
expected kernel for hidden width ``width``,

    Θ_std = Σ_{l=1}^{L+1} [ n_{l−1} Σ̃^{l−1} + β ] · Π_{j=l}^{L} σ_w² Σ̇^j,

with ``n_0 = d`` (so ``n_0 Σ̃⁰ = x·x'``), ``n_l = width`` for hidden layers, ``β = 1`` if the
layers have trainable biases else 0, and ``Σ̃⁰ = Σ⁰``. It grows linearly with ``width``: in
the standard parametrization the NTK has no finite infinite-width limit without rescaling
the learning rate (Sohl-Dickstein et al. 2020).
"""

from __future__ import annotations

import math

import torch

from lib.validation import check_nonnegative, check_nonnegative_int, check_positive, check_positive_int, check_tensor


def _relu_expectations(cov12: torch.Tensor, var1: torch.Tensor, var2: torch.Tensor,
                       exact_diagonal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(κ₁, κ₀)`` for pre-activation covariance ``cov12 [N1, N2]`` and variances ``var1 [N1]``, ``var2 [N2]``."""
    norms = torch.sqrt(var1[:, None] * var2[None, :])
    sine = torch.sqrt(torch.clamp(norms**2 - cov12**2, min=0.0))
    theta = torch.atan2(sine, cov12)
    if exact_diagonal:
        theta.diagonal().zero_()
        sine.diagonal().zero_()
    kappa1 = (sine + (math.pi - theta) * cov12) / (2 * math.pi)
    kappa0 = (math.pi - theta) / (2 * math.pi)
    return kappa1, kappa0


def relu_ntk(
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    depth: int,
    sigma_w: float = math.sqrt(2.0),
    sigma_b: float = 0.0,
    parametrization: str = "ntk",
    width: int | None = None,
    bias: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """NNGP and NTK of an infinitely wide ReLU MLP (see the module docstring).

    Args:
        x1: ``[N1, d]`` inputs (images are flattened). x2: ``[N2, d]`` or ``None`` (= x1; then
            the diagonal is exact and both kernels are exactly symmetric).
        depth: number of hidden layers ``L >= 0``.
        sigma_w, sigma_b: weight and bias standard deviations.
        parametrization: ``"ntk"`` or ``"standard"`` (then ``width`` is required).
        width: hidden width, for the standard parametrization only.
        bias: whether the layers have trainable biases (standard parametrization only;
            in the NTK parametrization bias gradients are scaled by ``sigma_b``).

    Returns:
        ``(nngp, ntk)``, each ``[N1, N2]`` float64 on the inputs' device, for a scalar output
        (the kernel of each output; outputs are independent in the limit).
    """
    depth = check_nonnegative_int("depth", depth, example=2)
    sigma_w = check_positive("sigma_w", sigma_w, fix="pass a weight standard deviation such as 2 ** 0.5")
    sigma_b = check_nonnegative("sigma_b", sigma_b, fix="pass a bias standard deviation >= 0 such as 0.0")
    if width is not None:
        width = check_positive_int("width", width, example=512)
    check_tensor("x1", x1, floating=True, nonempty=True)
    if x2 is not None:
        check_tensor("x2", x2, floating=True, nonempty=True)
    if parametrization not in ("ntk", "standard"):
        raise ValueError(f"Unknown parametrization {parametrization!r}; use 'ntk' or 'standard'.")
    if parametrization == "standard" and (width is None or width < 1):
        raise ValueError("parametrization='standard' needs the hidden width (width=...), since that NTK grows with it.")
    symmetric = x2 is None
    x1 = x1.reshape(x1.shape[0], -1).to(torch.float64)
    x2 = x1 if symmetric else x2.reshape(x2.shape[0], -1).to(device=x1.device, dtype=torch.float64)
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must have the same dimension; got {x1.shape[1]} and {x2.shape[1]}.")
    for name, x in (("x1", x1), ("x2", x2)):
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values.")
    d = x1.shape[1]
    sw2, sb2 = sigma_w**2, sigma_b**2

    cov = x1 @ x2.T / d                      # Σ̃⁰ = Σ⁰
    var1 = (x1 * x1).sum(1) / d
    var2 = (x2 * x2).sum(1) / d
    post, post_v1, post_v2 = cov, var1, var2  # post-activation covariances Σ̃^{l}
    layer_inputs = [cov]                      # Σ̃^{l-1}, l = 1..L+1
    derivatives = []                          # Σ̇^{l}, l = 1..L
    nngp = sw2 * cov + sb2
    ntk = nngp.clone()
    for _ in range(depth):
        v1, v2 = sw2 * post_v1 + sb2, sw2 * post_v2 + sb2
        kappa1, kappa0 = _relu_expectations(nngp, v1, v2, exact_diagonal=symmetric)
        post, post_v1, post_v2 = kappa1, v1 / 2, v2 / 2
        layer_inputs.append(post)
        derivatives.append(kappa0)
        nngp = sw2 * post + sb2
        ntk = sw2 * kappa0 * ntk + nngp
    if symmetric:
        nngp = 0.5 * (nngp + nngp.T)
        ntk = 0.5 * (ntk + ntk.T)
    if parametrization == "ntk":
        return nngp, ntk

    beta = 1.0 if bias else 0.0
    ntk_std = torch.zeros_like(ntk)
    for l in range(depth + 1):              # layer l+1 takes Σ̃^{l} as input
        fan_in = d if l == 0 else width
        term = fan_in * layer_inputs[l] + beta
        for j in range(l, depth):
            term = term * sw2 * derivatives[j]
        ntk_std = ntk_std + term
    if symmetric:
        ntk_std = 0.5 * (ntk_std + ntk_std.T)
    return nngp, ntk_std

"""How far training moves a network: parameters, Jacobian and empirical NTK.

In the kernel ("lazy") regime all three relative changes vanish as the width grows (Jacot et
al. 2018; Lee et al. 2019; Chizat et al. 2019). Each measurement compares a trained model
with a copy of itself at initialisation (same architecture, same parameter order):

* parameters: ``‖θ_T − θ_0‖₂ / ‖θ_0‖₂`` over all trainable parameters, flattened;
* Jacobian: ``‖J_T − J_0‖_F / ‖J_0‖_F`` with ``J [N, K, P]`` on probe inputs;
* kernel: ``‖Θ_T − Θ_0‖_F / ‖Θ_0‖_F`` with the full ``[N, N, K, K]`` empirical NTK.

The Jacobian difference is accumulated over chunks of probe inputs, so a Jacobian of
``N K P`` entries is never held at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lib.ntk import empirical_ntk, jacobian
from lib.ntk.checks import trainable_parameters
from lib.ntk.compare import kernel_distance, relative_frobenius_error


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """All trainable parameters of ``model`` as one detached vector ``[P]`` (float64)."""
    return torch.cat([p.detach().reshape(-1).to(torch.float64) for _, p in trainable_parameters(model)])


def _check_same_architecture(model: nn.Module, reference: nn.Module) -> None:
    a = [(n, p.shape) for n, p in trainable_parameters(model)]
    b = [(n, p.shape) for n, p in trainable_parameters(reference)]
    if a != b:
        raise ValueError("The two models must have the same trainable parameters (names and shapes); "
                         "compare a trained model with a deep copy of itself taken at initialisation.")


def parameter_change(model: nn.Module, initial: nn.Module) -> float:
    """``‖θ − θ_0‖₂ / ‖θ_0‖₂``."""
    _check_same_architecture(model, initial)
    theta, theta0 = flat_parameters(model), flat_parameters(initial)
    return (torch.linalg.vector_norm(theta - theta0) / torch.linalg.vector_norm(theta0)).item()


def jacobian_change(model: nn.Module, initial: nn.Module, x: torch.Tensor, *, chunk_size: int = 8) -> float:
    """``‖J(x; θ) − J(x; θ_0)‖_F / ‖J(x; θ_0)‖_F`` over probe inputs ``x [N, ...]``, in chunks of samples."""
    _check_same_architecture(model, initial)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    diff2 = torch.zeros((), dtype=torch.float64)
    ref2 = torch.zeros((), dtype=torch.float64)
    for start in range(0, x.shape[0], chunk_size):
        xb = x[start:start + chunk_size]
        j, j0 = jacobian(model, xb), jacobian(initial, xb)
        diff2 += (j - j0).to(torch.float64).pow(2).sum().cpu()
        ref2 += j0.to(torch.float64).pow(2).sum().cpu()
    return math.sqrt(diff2.item() / ref2.item())


@dataclass(frozen=True)
class KernelRegimeChange:
    """Relative changes between initialisation and the end of training (module docstring)."""

    parameters: float
    jacobian: float
    kernel: float
    kernel_distance: float  # Fort et al. 2020: 1 − cosine similarity of Θ_0 and Θ_T

    def as_dict(self) -> dict[str, float]:
        return dict(parameters=self.parameters, jacobian=self.jacobian, kernel=self.kernel,
                    kernel_distance=self.kernel_distance)


def measure_change(model: nn.Module, initial: nn.Module, probe: torch.Tensor, *, chunk_size: int = 8,
                   kernel_method: str = "auto") -> KernelRegimeChange:
    """All relative changes of ``model`` against ``initial`` on ``probe [N, ...]`` inputs.

    Models with BatchNorm must be in eval mode (the kernel is that of the deployed network).
    """
    k_t = empirical_ntk(model, probe, mode="full", method=kernel_method)
    k_0 = empirical_ntk(initial, probe, mode="full", method=kernel_method)
    return KernelRegimeChange(
        parameters=parameter_change(model, initial),
        jacobian=jacobian_change(model, initial, probe, chunk_size=chunk_size),
        kernel=relative_frobenius_error(k_t, k_0),
        kernel_distance=kernel_distance(k_t, k_0),
    )


@torch.no_grad()
def calibrate_batchnorm(model: nn.Module, x: torch.Tensor, *, batch_size: int = 256) -> None:
    """Set every BatchNorm layer's running statistics from the data ``x``.

    The statistics are the average over batches of ``batch_size`` of the batch mean and
    (unbiased) batch variance — exact for the mean, and for the variance when ``x`` fits in
    one batch.

    Used before measuring the kernel of a BatchNorm network in eval mode at initialisation,
    where the running statistics (0 and 1) do not describe the data yet. The model is left in
    eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        model.eval()
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    for start in range(0, x.shape[0], batch_size):
        model(x[start:start + batch_size])
    for m, momentum in zip(norms, saved, strict=False):
        m.momentum = momentum
    model.eval()


def scale_and_shape_change(initial: torch.Tensor, final: torch.Tensor) -> dict[str, float]:
    """How a kernel matrix ``[M, M]`` changed, split into scale and shape.

    * ``scale`` — ``log(‖Θ_T‖_F / ‖Θ₀‖_F)``: 0 when the size is unchanged, ``log 0.06 ≈ −2.8`` when it shrank
      to 6 %;
    * ``shape`` — ``1 − CKA(Θ₀, Θ_T)`` (centred kernel alignment, :func:`lib.kernel_alignment.centered_alignment`):
      0 for kernels equal up to scale and a constant offset, 1 for orthogonal centred kernels;
    * ``relative`` — ``‖Θ_T − Θ₀‖_F / ‖Θ₀‖_F``, which mixes the two (a kernel that only shrinks to 6 % has
      ``relative = 0.94``);
    * ``fort`` — Fort et al.'s (2020) kernel distance ``1 − cos(Θ₀, Θ_T)`` without centring.
    """
    from lib.kernel_alignment import centered_alignment

    a, b = initial.detach().to(torch.float64), final.detach().to(torch.float64)
    if a.dim() != 2 or a.shape != b.shape or a.shape[0] != a.shape[1]:
        raise ValueError(f"Need two square kernel matrices of the same shape; got {tuple(a.shape)} and "
                         f"{tuple(b.shape)} (use empirical_ntk(..., mode='trace') for [M, M]).")
    na, nb = torch.linalg.norm(a), torch.linalg.norm(b)
    if na == 0 or not torch.isfinite(b).all() or nb == 0:
        nan = float("nan")
        return dict(scale=nan, shape=nan, relative=nan, fort=nan)
    return dict(scale=float(torch.log(nb / na)), shape=1.0 - centered_alignment(a, b),
                relative=relative_frobenius_error(b, a), fort=kernel_distance(b, a))

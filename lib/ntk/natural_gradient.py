"""Natural gradient / generalized Gauss-Newton steps solved in function space.

With ``J = ∂f(X)/∂θ`` ``[N K, P]``, ``g = ∂L/∂f`` ``[N K]`` and the output Hessian
``H = ∂²L/∂f²`` (block diagonal, ``[N K, N K]``), the damped Gauss-Newton step

    Δθ = −η (Jᵀ H J + λ I_P)⁻¹ Jᵀ g  =  −η Jᵀ (H Θ + λ I_{NK})⁻¹ g,   Θ = J Jᵀ,

(the push-through identity ``(JᵀHJ + λI)⁻¹Jᵀ = Jᵀ(HJJᵀ + λI)⁻¹``) needs only an
``N K × N K`` solve. For squared loss the GGN equals the Fisher, so this is natural
gradient descent in the form analysed by Zhang, Martens & Grosse (2019).

Loss conventions (sums over samples, matching :mod:`lib.ntk.predict`):

* ``"mse"``: ``L = ½ Σ_n ‖f_n − y_n‖²`` → ``g = f − y``, ``H = I``;
* ``"cross_entropy"``: ``L = −Σ_n log softmax(f_n)[y_n]`` → ``g = p − e_y``,
  ``H = blockdiag(diag(p_n) − p_n p_nᵀ)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import vjp

from lib.device import no_tf32
from lib.ntk.checks import check_inputs, check_model
from lib.ntk.empirical import empirical_ntk
from lib.ntk.functional import flatten_params, functional_model
from lib.ntk.predict import kernel_matrix

LOSSES = ("mse", "cross_entropy")


def output_loss_derivatives(f: torch.Tensor, y: torch.Tensor, loss: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient ``[N K]`` and Hessian ``[N K, N K]`` of the loss with respect to the outputs ``f [N, K]``.

    ``y`` is ``[N, K]`` targets for ``"mse"`` and ``[N]`` class indices for ``"cross_entropy"``.
    """
    n, k = f.shape
    if loss == "mse":
        if y.shape != f.shape:
            raise ValueError(f"For loss='mse' y must have the outputs' shape {tuple(f.shape)}, got {tuple(y.shape)}.")
        return (f - y).reshape(-1), torch.eye(n * k, dtype=f.dtype, device=f.device)
    if loss == "cross_entropy":
        if y.shape != (n,) or y.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"For loss='cross_entropy' y must be integer class indices of shape [{n}], "
                             f"got {tuple(y.shape)} {y.dtype}.")
        p = torch.softmax(f, dim=1)
        grad = p - torch.nn.functional.one_hot(y.long(), k).to(f.dtype)
        blocks = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        return grad.reshape(-1), torch.block_diag(*blocks)
    raise ValueError(f"Unknown loss {loss!r}; use one of {LOSSES}.")


@dataclass(frozen=True)
class GaussNewtonStep:
    """A function-space Gauss-Newton step.

    Attributes:
        direction: ``Δθ`` as a flat ``[P]`` vector (``named_parameters()`` order), already
            multiplied by ``−η``.
        function_space: ``(HΘ + λI)⁻¹ g`` ``[N K]``, the coefficients of ``Jᵀ``.
        kernel: ``Θ`` ``[N K, N K]`` used for the solve.
    """

    direction: torch.Tensor
    function_space: torch.Tensor
    kernel: torch.Tensor


def gauss_newton_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss: str = "mse",
                      learning_rate: float = 1.0, damping: float = 0.0,
                      kernel: torch.Tensor | None = None) -> GaussNewtonStep:
    """``Δθ = −η Jᵀ (H Θ + λ I)⁻¹ g`` at the model's current parameters (module docstring).

    Args:
        model: maps ``[N, ...]`` to ``[N, K]`` sample by sample.
        x: inputs ``[N, ...]``; y: targets (see :func:`output_loss_derivatives`).
        loss: ``"mse"`` or ``"cross_entropy"``.
        learning_rate: ``η``. damping: ``λ >= 0``; ``λ = 0`` needs ``HΘ`` invertible.
        kernel: optionally a precomputed ``empirical_ntk(model, x)`` ``[N, N, K, K]``.

    Returns:
        A :class:`GaussNewtonStep`; apply it with :func:`apply_step`.
    """
    check_model(model)
    check_inputs(model, x)
    if damping < 0:
        raise ValueError(f"damping must be >= 0, got {damping}.")
    fmodel = functional_model(model)
    with no_tf32():
        f, vjp_fn = vjp(lambda p: fmodel.apply(p, x), fmodel.params)
        grad, hessian = output_loss_derivatives(f.detach(), y, loss)
        theta = kernel_matrix(kernel if kernel is not None else empirical_ntk(model, x))
        system = hessian @ theta + damping * torch.eye(theta.shape[0], dtype=theta.dtype, device=theta.device)
        coeffs = torch.linalg.solve(system, grad)
        (direction,) = vjp_fn(coeffs.reshape(f.shape))
    return GaussNewtonStep(direction=-learning_rate * flatten_params(direction), function_space=coeffs,
                           kernel=theta)


def apply_step(model: nn.Module, direction: torch.Tensor) -> None:
    """Add a flat ``[P]`` step to the model's trainable parameters in place."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = sum(p.numel() for p in params)
    if direction.shape != (total,):
        raise ValueError(f"Step must have shape [{total}] (the trainable parameters), got {tuple(direction.shape)}.")
    with torch.no_grad():
        start = 0
        for p in params:
            p.add_(direction[start:start + p.numel()].view_as(p))
            start += p.numel()

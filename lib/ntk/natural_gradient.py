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
from lib.models.parameters import count_parameters
from lib.ntk.checks import check_inputs, check_model
from lib.ntk.empirical import empirical_ntk
from lib.ntk.functional import flatten_params, functional_model
from lib.ntk.predict import kernel_matrix
from lib.options import Loss
from lib.validation import check_all_finite, check_finite, check_nonnegative, check_tensor

#: The valid loss strings (alias of :meth:`lib.options.Loss.values`).
LOSSES: tuple[str, ...] = Loss.values()


def output_loss_derivatives(f: torch.Tensor, y: torch.Tensor, loss: str | Loss) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient ``[N K]`` and Hessian ``[N K, N K]`` of the loss with respect to the outputs ``f [N, K]``.

    ``y`` is ``[N, K]`` targets for ``"mse"`` and ``[N]`` class indices for ``"cross_entropy"``.
    """
    check_tensor("f", f, ndim=2, floating=True)
    check_tensor("y", y)
    loss = Loss.parse(loss)
    n, k = f.shape
    if loss == "mse":
        if not y.is_floating_point():
            raise TypeError(f"For loss='mse' y must be float targets [N, K], got dtype {y.dtype}; one-hot encode "
                            "class labels (or use loss='cross_entropy').")
        check_all_finite("y", y)
        if y.shape != f.shape:
            raise ValueError(f"For loss='mse' y must have the outputs' shape {tuple(f.shape)}, got {tuple(y.shape)}.")
        return (f - y).reshape(-1), torch.eye(n * k, dtype=f.dtype, device=f.device)
    if loss == "cross_entropy":
        if y.shape != (n,) or y.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"For loss='cross_entropy' y must be integer class indices of shape [{n}], "
                             f"got {tuple(y.shape)} {y.dtype}.")
        if n and (int(y.min()) < 0 or int(y.max()) >= k):
            raise ValueError(f"For loss='cross_entropy' y must hold class indices in 0..{k - 1} (K = {k} outputs), "
                             f"got values in {int(y.min())}..{int(y.max())}.")
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


def gauss_newton_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss: str | Loss = "mse",
                      learning_rate: float = 1.0, damping: float = 0.0,
                      kernel: torch.Tensor | None = None) -> GaussNewtonStep:
    """``Δθ = −η Jᵀ (H Θ + λ I)⁻¹ g`` at the model's current parameters (module docstring).

    Args:
        model: maps ``[N, ...]`` to ``[N, K]`` sample by sample.
        x: inputs ``[N, ...]``; y: targets (see :func:`output_loss_derivatives`).
        loss: ``"mse"`` or ``"cross_entropy"``.
        learning_rate: ``η`` (finite). damping: ``λ >= 0``; ``λ = 0`` needs ``HΘ`` invertible.
        kernel: optionally a precomputed ``empirical_ntk(model, x)`` ``[N, N, K, K]``.

    Returns:
        A :class:`GaussNewtonStep`; apply it with :func:`apply_step`.

    Raises:
        ValueError: non-finite ``learning_rate``/``damping``, or a system ``HΘ + λI`` that is singular or too
            ill-conditioned to solve (always the case for ``"cross_entropy"`` with ``damping=0``: every softmax
            Hessian block annihilates the all-ones vector) — the message says to raise ``damping``.
    """
    check_model(model)
    check_inputs(model, x)
    learning_rate = check_finite("learning_rate", learning_rate, fix="pass a finite step size such as 1.0")
    damping = check_nonnegative("damping", damping, fix="pass a damping λ >= 0 such as 1e-6")
    loss = Loss.parse(loss)
    if loss == "cross_entropy" and damping == 0:
        raise ValueError(
            "gauss_newton_step(loss='cross_entropy', damping=0) solves a singular system: the softmax Hessian "
            "H = diag(p) - p pᵀ of every sample has the all-ones vector in its null space, so HΘ is never "
            "invertible. Pass damping > 0 (e.g. 1e-6 × the mean diagonal of Θ)."
        )
    check_tensor("y", y, device=x.device)
    fmodel = functional_model(model)
    with no_tf32():
        f, vjp_fn = vjp(lambda p: fmodel.apply(p, x), fmodel.params)
        grad, hessian = output_loss_derivatives(f.detach(), y, loss)
        if kernel is not None:
            n, k = f.shape
            check_tensor("kernel", kernel, floating=True, finite=True, device=x.device)
            if tuple(kernel.shape) != (n, n, k, k):
                raise ValueError(f"kernel must be empirical_ntk(model, x) of shape [N, N, K, K] = [{n}, {n}, {k}, "
                                 f"{k}], got {tuple(kernel.shape)}.")
        theta = kernel_matrix(kernel if kernel is not None else empirical_ntk(model, x)).to(grad.dtype)
        system = _hessian_times(hessian, theta, f.shape) + damping * torch.eye(theta.shape[0], dtype=theta.dtype,
                                                                                device=theta.device)
        coeffs = _solve_checked(system, grad, damping)
        (direction,) = vjp_fn(coeffs.reshape(f.shape))
    return GaussNewtonStep(direction=-learning_rate * flatten_params(direction), function_space=coeffs,
                           kernel=theta)


def _hessian_times(hessian: torch.Tensor, theta: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``H Θ`` ``[NK, NK]`` for the block-diagonal ``H`` (``K × K`` blocks), block by block: ``O(N² K³)`` work instead
    of the ``O(N³ K³)`` of a dense product."""
    n, k = shape
    blocks = torch.stack([hessian[i * k:(i + 1) * k, i * k:(i + 1) * k] for i in range(n)]) if n else hessian
    return (blocks @ theta.reshape(n, k, n * k)).reshape(n * k, n * k)


def _solve_checked(system: torch.Tensor, rhs: torch.Tensor, damping: float) -> torch.Tensor:
    """``system⁻¹ rhs`` ``[M]``; raise ``ValueError`` when the solution cannot be trusted (singular or
    ill-conditioned ``system``, non-finite result)."""
    if not bool(torch.isfinite(system).all()) or not bool(torch.isfinite(rhs).all()):
        raise ValueError("The Gauss-Newton system contains NaN or infinite values (kernel or loss gradient); "
                         "check the model's outputs and targets.")
    size = system.shape[0]
    # With λ > 0 the system is invertible (HΘ is similar to the PSD H^½ΘH^½); with λ = 0 check its conditioning.
    singular = torch.linalg.svdvals(system.to(torch.float64)) if damping == 0 else None
    eps = torch.finfo(system.dtype).eps
    if singular is not None and singular[-1] <= size * eps * singular[0]:
        raise ValueError(
            f"The Gauss-Newton system HΘ + λI (λ = damping = {damping:g}) is singular to working precision "
            f"(condition number {(singular[0] / singular[-1].clamp_min(1e-300)).item():.3g}): Θ = J Jᵀ is rank "
            "deficient (N K > P, duplicate inputs, or dead units). Pass damping > 0, e.g. 1e-6 × the mean "
            "diagonal of Θ."
        )
    coeffs = torch.linalg.solve(system, rhs)
    if not bool(torch.isfinite(coeffs).all()):
        raise ValueError(f"Solving the Gauss-Newton system gave non-finite values (λ = {damping:g}); increase damping.")
    return coeffs


def apply_step(model: nn.Module, direction: torch.Tensor) -> None:
    """Add a flat ``[P]`` step to the model's trainable parameters in place (finite steps only)."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = count_parameters(params)
    check_tensor("direction", direction, floating=True)
    check_all_finite("direction", direction, fix="the step is unusable; increase damping or lower the learning rate")
    if direction.shape != (total,):
        raise ValueError(f"Step must have shape [{total}] (the trainable parameters), got {tuple(direction.shape)}.")
    with torch.no_grad():
        start = 0
        for p in params:
            p.add_(direction[start:start + p.numel()].view_as(p))
            start += p.numel()

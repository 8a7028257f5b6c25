"""K-FAC steps from curvlinops (Dangel et al.'s ``curvlinops-for-pytorch``), not a hand-written K-FAC.

K-FAC (Martens & Grosse 2015) approximates the Fisher / generalized Gauss-Newton matrix of a network by a
block-diagonal matrix, one block per layer, each block a Kronecker product ``A_{l} ⊗ B_{l}`` of the
covariance of the layer's inputs ``A = E[a aᵀ]`` and of the loss gradients with respect to its outputs
``B = E[g gᵀ]``. :class:`curvlinops.KFACLinearOperator` builds the factors on a batch with hooks;
:class:`curvlinops.KFACInverseLinearOperator` applies ``(A ⊗ B + λ I)⁻¹`` ("exact" damping, through
eigendecompositions of the factors). A layer's weight and bias form one block (the bias as the weight of a constant
input 1, Martens & Grosse's homogeneous coordinates). :class:`KFAC` adds their running averages of the factors
and heavy-ball momentum. Conventions: the loss is the **mean** over the batch
(``nn.CrossEntropyLoss()`` or ``nn.MSELoss()`` defaults), so the curvature is that of the mean loss and the
damping ``λ`` is on the same scale as in :func:`lib.ntk.gauss_newton_step` divided by the batch size.
"""

from __future__ import annotations

import warnings

import torch
from curvlinops import KFACInverseLinearOperator, KFACLinearOperator
from torch import nn

from lib.options import Option
from lib.validation import check_nonnegative, check_positive, check_positive_int

__all__ = ["FisherType", "KFAC", "kfac_direction", "kfac_operator", "kfac_step"]


class FisherType(Option):
    """Which curvature the Kronecker factors approximate (curvlinops' ``fisher_type``)."""

    MC = "mc", "the Fisher, with one label sampled from the model's predictive distribution per input"
    TYPE2 = "type-2", "the generalized Gauss-Newton matrix (exact output Hessian; K backward passes)"
    EMPIRICAL = "empirical", "the empirical Fisher (gradients at the observed labels)"


def _loss_function(loss: str) -> nn.Module:
    if loss == "cross_entropy":
        return nn.CrossEntropyLoss()
    if loss == "mse":
        return nn.MSELoss()
    raise ValueError(f"Unknown loss {loss!r}; use 'cross_entropy' or 'mse'.")


def kfac_operator(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss: str = "cross_entropy",
                  fisher_type: str | FisherType = "mc", seed: int = 0) -> KFACLinearOperator:
    """curvlinops' K-FAC approximation ``[P, P]`` of the curvature of the mean loss on the batch ``(x, y)``.

    ``x [B, d]``; ``y [B]`` class indices (cross-entropy) or ``[B, K]`` targets (mse). ``seed`` seeds the label
    sampling of ``fisher_type="mc"``. The Kronecker factors are computed at once.
    """
    fisher_type = FisherType.parse(fisher_type, name="fisher_type")
    params = [p for p in model.parameters() if p.requires_grad]
    operator = KFACLinearOperator(model, _loss_function(loss), params, [(x, y)], check_deterministic=False,
                                  fisher_type=fisher_type.value, seed=seed, separate_weight_and_bias=False)
    operator.compute_kronecker_factors()
    return operator


#: The Kronecker factors in curvlinops' ``KFACLinearOperator.state_dict()``.
_FACTORS = ("input_covariances", "gradient_covariances")


def _check_unit(name: str, value: float, *, example: float) -> float:
    """``value`` as a float in ``[0, 1)`` (a momentum or a decay), else a ValueError naming the fix."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}; pass e.g. {name}={example}.")
    return float(value)


def _inverse(operator: KFACLinearOperator, damping: float) -> KFACInverseLinearOperator:
    return KFACInverseLinearOperator(operator, damping=damping, use_exact_damping=True)


def kfac_direction(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, damping: float,
                   loss: str = "cross_entropy", fisher_type: str | FisherType = "mc",
                   seed: int = 0) -> tuple[list[torch.Tensor], float]:
    """``((K-FAC + λ I)⁻¹ ∇L, L)``: the preconditioned gradient of the mean loss ``L`` on the batch, one tensor per
    trainable parameter (shapes as the parameters), with "exact" damping ``λ = damping > 0``."""
    damping = check_positive("damping", damping, fix="pass a damping λ > 0 such as 1e-3")
    params = [p for p in model.parameters() if p.requires_grad]
    value = _loss_function(loss)(model(x), y)
    grads = torch.autograd.grad(value, params)
    inverse = _inverse(kfac_operator(model, x, y, loss=loss, fisher_type=fisher_type, seed=seed), damping)
    return inverse @ [g.detach() for g in grads], value.item()


def kfac_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, learning_rate: float, damping: float,
              loss: str = "cross_entropy", fisher_type: str | FisherType = "mc", seed: int = 0) -> float:
    """One K-FAC step ``θ ← θ − η (K-FAC + λI)⁻¹ ∇L`` in place, K-FAC recomputed on this batch; returns the batch
    loss before the step."""
    learning_rate = check_nonnegative("learning_rate", learning_rate, fix="pass a step size such as 1.0")
    direction, value = kfac_direction(model, x, y, damping=damping, loss=loss, fisher_type=fisher_type, seed=seed)
    with torch.no_grad():
        for p, d in zip([p for p in model.parameters() if p.requires_grad], direction, strict=False):
            p.sub_(learning_rate * d)
    return value


class KFAC:
    """K-FAC as an optimizer (Martens & Grosse 2015, with curvlinops' factors).

    Every ``update_every`` steps the Kronecker factors ``A_l`` (layer inputs) and ``B_l`` (output gradients, one
    label sampled from the model per input for ``fisher_type="mc"``) are computed on the current batch and blended
    into running averages, ``F ← (1 − w) F + w F_batch`` with ``w = max(1 − ema, 1/k)`` at the ``k``-th update
    (Martens & Grosse's ``min(1 − 1/k, ε)`` rule; ``ema = 0`` keeps the latest batch's factors only); their damped
    inverse ``(A ⊗ B + λI)⁻¹`` ("exact" damping through eigendecompositions) is rebuilt from the averages and reused
    until the next update. Each step then applies heavy-ball momentum to the preconditioned gradient,
    ``v ← μ v + (A ⊗ B + λI)⁻¹ ∇L``, ``θ ← θ − η v``.

    Departures from Martens & Grosse (2015): the step size ``η``, momentum ``μ`` and damping ``λ`` are fixed
    (tuned on held-out data) instead of adapted through the quadratic model, and the damping is exact rather than
    factored Tikhonov; weights and biases of a layer form one Kronecker block (their homogeneous-coordinate form).

    Args:
        model: trained in place (its trainable parameters, in ``parameters()`` order).
        learning_rate: ``η``; damping: ``λ > 0``; update_every: steps between curvature updates (1 = every batch).
        momentum: ``μ ∈ [0, 1)``; ema: decay ``∈ [0, 1)`` of the running averages of the factors.
        loss, fisher_type: as :func:`kfac_operator`; seed: first seed of the label sampling (then ``seed + step``).
    """

    def __init__(self, model: nn.Module, *, learning_rate: float, damping: float, update_every: int = 1,
                 momentum: float = 0.0, ema: float = 0.0, loss: str = "cross_entropy",
                 fisher_type: str | FisherType = "mc", seed: int = 0) -> None:
        self.model = model
        self.learning_rate = check_positive("learning_rate", learning_rate, fix="pass a step size such as 0.1")
        self.damping = check_positive("damping", damping, fix="pass a damping λ > 0 such as 0.1")
        self.update_every = check_positive_int("update_every", update_every, example=10)
        self.momentum = _check_unit("momentum", momentum, example=0.9)
        self.ema = _check_unit("ema", ema, example=0.95)
        self.loss, self.fisher_type, self.seed = loss, FisherType.parse(fisher_type, name="fisher_type"), seed
        self.steps = 0
        self.updates = 0
        self._inverse: KFACInverseLinearOperator | None = None
        self._factors: dict[str, dict[str, torch.Tensor]] | None = None
        self._velocity: list[torch.Tensor] | None = None

    def _update_curvature(self, x: torch.Tensor, y: torch.Tensor) -> None:
        operator = kfac_operator(self.model, x, y, loss=self.loss, fisher_type=self.fisher_type,
                                 seed=self.seed + self.steps)
        self.updates += 1
        state = operator.state_dict()
        if self._factors is not None and self.ema > 0:
            weight = max(1.0 - self.ema, 1.0 / self.updates)
            blended = {key: {name: torch.lerp(self._factors[key][name], new, weight)
                             for name, new in state[key].items()} for key in _FACTORS}
            with warnings.catch_warnings():  # reloads the model's own parameters: harmless
                warnings.filterwarnings("ignore", message="Loading a state dict")
                operator.load_state_dict({**state, **blended})
            state = blended
        self._factors = {key: {name: t.detach().clone() for name, t in state[key].items()} for key in _FACTORS}
        self._inverse = _inverse(operator, self.damping)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One step on the batch ``(x [B, d], y)``; returns the batch's mean loss before it."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        value = _loss_function(self.loss)(self.model(x), y)
        if not torch.isfinite(value):
            raise ValueError(f"The batch loss is {value.item()}; the network has diverged (lower the learning rate "
                             "or raise the damping).")
        grads = torch.autograd.grad(value, params)  # before the curvature update, which reloads the parameters
        if self._inverse is None or self.steps % self.update_every == 0:
            self._update_curvature(x, y)
        direction = self._inverse @ [g.detach() for g in grads]
        if self.momentum > 0:
            if self._velocity is None:
                self._velocity = [d.clone() for d in direction]
            else:
                self._velocity = [self.momentum * v + d for v, d in zip(self._velocity, direction, strict=True)]
            direction = self._velocity
        with torch.no_grad():
            for p, d in zip(params, direction, strict=False):
                p.sub_(self.learning_rate * d)
        self.steps += 1
        return value.item()

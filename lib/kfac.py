"""K-FAC steps from curvlinops (Dangel et al.'s ``curvlinops-for-pytorch``), not a hand-written K-FAC.

K-FAC (Martens & Grosse 2015) approximates the Fisher / generalized Gauss-Newton matrix of a network by a
block-diagonal matrix, one block per layer, each block a Kronecker product ``A_{l} ⊗ B_{l}`` of the
covariance of the layer's inputs ``A = E[a aᵀ]`` and of the loss gradients with respect to its outputs
``B = E[g gᵀ]``. :class:`curvlinops.KFACLinearOperator` builds the factors on a batch with hooks;
:class:`curvlinops.KFACInverseLinearOperator` applies ``(A ⊗ B + λ I)⁻¹`` ("exact" damping, through
eigendecompositions of the factors). Conventions: the loss is the **mean** over the batch
(``nn.CrossEntropyLoss()`` or ``nn.MSELoss()`` defaults), so the curvature is that of the mean loss and the
damping ``λ`` is on the same scale as in :func:`lib.ntk.gauss_newton_step` divided by the batch size.
"""

from __future__ import annotations

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
                                  fisher_type=fisher_type.value, seed=seed)
    operator.compute_kronecker_factors()
    return operator


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
    """K-FAC as an optimizer: ``θ ← θ − η (A ⊗ B + λI)⁻¹ ∇L`` on each batch, the Kronecker factors (and their
    eigendecompositions) recomputed on the current batch every ``update_every`` steps and reused in between — the
    amortization of Martens & Grosse (2015, Sec. 8), here without their running averages of the factors.

    Args:
        model: trained in place (its trainable parameters, in ``parameters()`` order).
        learning_rate: ``η``; damping: ``λ > 0``; update_every: steps between curvature updates (1 = every batch).
        loss, fisher_type: as :func:`kfac_operator`; seed: first seed of the label sampling (then ``seed + step``).
    """

    def __init__(self, model: nn.Module, *, learning_rate: float, damping: float, update_every: int = 1,
                 loss: str = "cross_entropy", fisher_type: str | FisherType = "mc", seed: int = 0) -> None:
        self.model = model
        self.learning_rate = check_positive("learning_rate", learning_rate, fix="pass a step size such as 0.1")
        self.damping = check_positive("damping", damping, fix="pass a damping λ > 0 such as 0.1")
        self.update_every = check_positive_int("update_every", update_every, example=10)
        self.loss, self.fisher_type, self.seed = loss, FisherType.parse(fisher_type, name="fisher_type"), seed
        self.steps = 0
        self._inverse: KFACInverseLinearOperator | None = None

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One step on the batch ``(x [B, d], y)``; returns the batch's mean loss before it."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        value = _loss_function(self.loss)(self.model(x), y)
        if not torch.isfinite(value):
            raise ValueError(f"The batch loss is {value.item()}; the network has diverged (lower the learning rate "
                             "or raise the damping).")
        if self._inverse is None or self.steps % self.update_every == 0:
            operator = kfac_operator(self.model, x, y, loss=self.loss, fisher_type=self.fisher_type,
                                     seed=self.seed + self.steps)
            self._inverse = _inverse(operator, self.damping)
        grads = torch.autograd.grad(value, params)
        direction = self._inverse @ [g.detach() for g in grads]
        with torch.no_grad():
            for p, d in zip(params, direction, strict=False):
                p.sub_(self.learning_rate * d)
        self.steps += 1
        return value.item()

"""Per-sample Jacobians of a network with respect to its parameters."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import jacrev, vmap

from lib.device import no_tf32
from lib.ntk.checks import check_inputs, check_model, check_outputs
from lib.ntk.functional import FunctionalModel, flatten_params, functional_model
from lib.validation import check_optional_positive_int


def jacobian_blocks(fmodel: FunctionalModel, x: torch.Tensor, *,
                    chunk_size: int | None = None) -> dict[str, torch.Tensor]:
    """Per-parameter Jacobians ``{name: [N, K, *param.shape]}`` by ``vmap(jacrev)`` over samples.

    This is the contraction path of the ``torch.func`` NTK tutorial; no input checks.
    """

    def single(params: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return fmodel.apply(params, xi.unsqueeze(0)).squeeze(0)

    return vmap(jacrev(single), in_dims=(None, 0), chunk_size=chunk_size)(fmodel.params, x)


def jacobian(model: nn.Module, x: torch.Tensor, *, chunk_size: int | None = None) -> torch.Tensor:
    """The Jacobian of the network outputs with respect to its trainable parameters.

    Args:
        model: maps ``[N, ...]`` to ``[N, K]``; samples must be processed independently
            (no train-mode BatchNorm or dropout; see :func:`lib.ntk.checks.check_model`).
        x: inputs ``[N, ...]`` with the model's dtype and device.
        chunk_size: samples per vectorised chunk (bounds memory); ``None`` = all at once.

    Returns:
        ``J`` of shape ``[N, K, P]`` with ``J[n, a, p] = ∂f_a(x_n)/∂θ_p``; the columns follow
        ``model.named_parameters()`` order, keeping only parameters with ``requires_grad``.
    """
    check_model(model)
    check_inputs(model, x)
    chunk_size = check_optional_positive_int("chunk_size", chunk_size, example=64)
    with torch.no_grad():
        check_outputs(model(x[:1]), 1)
    with no_tf32():
        blocks = jacobian_blocks(functional_model(model), x, chunk_size=chunk_size)
    return flatten_params(blocks, batch_dims=2)

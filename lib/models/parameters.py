"""Counting a model's parameters: the one place ``lib`` does it.

Convention: ``P`` in the book is the number of **trainable** scalars (parameters with
``requires_grad``), the length of the flat parameter vector θ of :mod:`lib.ntk`. Frozen
parameters (a reference copy, a fixed random feature layer) are not part of θ; buffers
(BatchNorm statistics) never count.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

__all__ = ["count_parameters"]


def count_parameters(model: nn.Module | Iterable[torch.Tensor], *, trainable_only: bool = True) -> int:
    """Number of scalar parameters of ``model``.

    Args:
        model: a module, or an iterable of tensors (e.g. the values of a parameter dict).
        trainable_only: count only parameters with ``requires_grad`` (``P``, the length of θ);
            ``False`` counts every parameter, frozen ones included (never buffers). For an
            iterable of tensors every tensor counts whatever this says.
    """
    if isinstance(model, nn.Module):
        tensors: Iterable[torch.Tensor] = (p for p in model.parameters() if p.requires_grad or not trainable_only)
    else:
        tensors = model
    return sum(t.numel() for t in tensors)

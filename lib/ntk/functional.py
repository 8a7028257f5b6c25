"""A model as a pure function of its trainable parameters (for ``torch.func``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from lib.models.parameters import count_parameters
from lib.ntk.checks import trainable_parameters


@dataclass(frozen=True)
class FunctionalModel:
    """``apply(params, x) -> [N, K]`` with ``params`` a dict of the trainable parameters.

    Attributes:
        apply: the model as a function of ``(params, x)``; buffers and frozen parameters
            are taken from the module.
        params: detached trainable parameters, ``{name: tensor}`` in ``named_parameters()`` order.
    """

    apply: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]
    params: dict[str, torch.Tensor]

    @property
    def num_parameters(self) -> int:
        return count_parameters(self.params.values())


@contextmanager
def preserved_module_state(model: nn.Module) -> Iterator[None]:
    """Restore every submodule's parameter and buffer *objects* on exit.

    ``torch.func.functional_call`` swaps tensors into the module and swaps them back, but
    for a module reachable under two names (a layer used twice, ``nn.Sequential(lin, act, lin)``)
    it restores the *replacement* under the second name: the caller's ``nn.Parameter`` is left
    replaced by a plain tensor (``requires_grad=False`` after a ``no_grad`` call), so the next
    kernel silently drops that layer from θ. Restoring the exact objects, module by module,
    keeps the caller's model (identities, ``requires_grad``, tied weights) unchanged.
    """
    saved = [(m, dict(m._parameters), dict(m._buffers)) for m in model.modules()]
    try:
        yield
    finally:
        for module, params, buffers in saved:
            for name, value in params.items():
                if module._parameters.get(name) is not value:
                    module._parameters[name] = value
            for name, value in buffers.items():
                if module._buffers.get(name) is not value:
                    module._buffers[name] = value


def call_with_parameters(model: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` with ``params`` substituted (``functional_call``), leaving ``model`` exactly as it was."""
    with preserved_module_state(model):
        return functional_call(model, params, (x,), strict=False)


def functional_model(model: nn.Module) -> FunctionalModel:
    """Wrap ``model`` for ``torch.func`` transforms (its own parameters are left untouched)."""
    params = {name: p.detach() for name, p in trainable_parameters(model)}

    def apply(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return call_with_parameters(model, p, x)

    return FunctionalModel(apply=apply, params=params)


def flatten_params(tensors: dict[str, torch.Tensor], *, batch_dims: int = 0) -> torch.Tensor:
    """Concatenate ``{name: [*batch, *shape]}`` into ``[*batch, P]`` (dict order)."""
    return torch.cat([t.reshape(*t.shape[:batch_dims], -1) for t in tensors.values()], dim=batch_dims)


def unflatten_params(vector: torch.Tensor, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Split a ``[P]`` vector into tensors shaped like ``like`` (dict order)."""
    expected = sum(t.numel() for t in like.values())
    if not isinstance(vector, torch.Tensor):
        raise TypeError(f"Expected a parameter vector tensor of shape [{expected}], got {type(vector).__name__}.")
    if vector.shape != (expected,):
        raise ValueError(f"Expected a parameter vector of shape [{expected}], got {tuple(vector.shape)}.")
    out, start = {}, 0
    for name, t in like.items():
        out[name] = vector[start:start + t.numel()].view_as(t)
        start += t.numel()
    return out

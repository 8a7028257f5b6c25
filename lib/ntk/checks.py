"""Input validation shared by the Jacobian and kernel functions.

A kernel is only meaningful when the network maps each sample independently and
deterministically; these checks turn the usual silent failures (BatchNorm or
dropout in training mode, dtype or device mismatches, NaNs) into clear errors.
"""

from __future__ import annotations

import torch
from torch import nn

_RANDOM = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)


def trainable_parameters(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(name, tensor)`` for every parameter with ``requires_grad``, in ``named_parameters()`` order.

    This order defines the columns of every Jacobian ``[N, K, P]`` in ``lib``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected a torch.nn.Module, got {type(model).__name__}.")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not params:
        total = sum(1 for _ in model.parameters())
        raise ValueError(
            f"The model has no parameters with requires_grad=True ({total} parameter tensors, all frozen), so θ is "
            "empty and there is no Jacobian or kernel to take; unfreeze the parameters that should count "
            "(p.requires_grad_(True))."
        )
    return params


def check_model(model: nn.Module) -> None:
    """Reject models whose outputs mix samples or are random.

    Raises:
        ValueError: a BatchNorm layer in training mode (its output for one sample
            depends on the others: call ``model.eval()``), or a dropout layer with
            ``p > 0`` in training mode (call ``model.eval()``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Expected a torch.nn.Module, got {type(model).__name__}.")
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.training:
            raise ValueError(
                f"Module {name or '<root>'!r} ({type(module).__name__}) is in training mode, where it normalises "
                "with batch statistics and mixes samples, so the NTK is not defined per pair of inputs. "
                "Call model.eval() before computing Jacobians or kernels."
            )
        if isinstance(module, _RANDOM) and module.training and module.p > 0:
            raise ValueError(
                f"Module {name or '<root>'!r} ({type(module).__name__}, p={module.p}) is in training mode, so the "
                "network is random and its Jacobian is not a function of the input. Call model.eval() first."
            )
    for name, p in trainable_parameters(model):
        if p.is_floating_point() and not bool(torch.isfinite(p).all()):
            raise ValueError(
                f"Parameter {name!r} of the model contains NaN or infinite values (did training diverge?); "
                "a Jacobian or kernel of it would be meaningless. Re-initialise or restore a checkpoint."
            )


def check_inputs(model: nn.Module, x: torch.Tensor, *, name: str = "x") -> torch.Tensor:
    """Check that ``x`` is a finite batch ``[N, ...]`` on the model's device and dtype."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [N, ...], got {type(x).__name__}.")
    if x.dim() < 1 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape [N, ...] with N >= 1, got {tuple(x.shape)}.")
    param = next(iter(model.parameters()), None)
    if param is not None and param.is_floating_point() and not x.is_floating_point() and not _takes_indices(model):
        raise TypeError(
            f"{name} has dtype {x.dtype} but the model's parameters are {param.dtype}; convert the inputs with "
            f"{name}.to({param.dtype}) (images stored as uint8: {name}.to({param.dtype}) / 255)."
        )
    if param is not None:
        if x.device != param.device:
            raise ValueError(
                f"{name} is on {x.device} but the model is on {param.device}; move one of them (x.to(device))."
            )
        if x.is_floating_point() and x.dtype != param.dtype:
            raise ValueError(
                f"{name} has dtype {x.dtype} but the model's parameters are {param.dtype}; use "
                f"{name}.to({param.dtype}) or model.to({x.dtype}) (float64 for precise kernels)."
            )
    if x.is_floating_point() and not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return x


def _takes_indices(model: nn.Module) -> bool:
    """Whether the model starts from integer indices (it has an embedding layer)."""
    return any(isinstance(m, (nn.Embedding, nn.EmbeddingBag)) for m in model.modules())


def check_pair(x1: torch.Tensor, x2: torch.Tensor) -> None:
    """``x1`` ``[N1, ...]`` and ``x2`` ``[N2, ...]`` must share their per-sample shape."""
    if x1.shape[1:] != x2.shape[1:]:
        raise ValueError(
            f"x1 and x2 must have the same per-sample shape; got x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)} "
            f"(expected x2 of shape [N2, {', '.join(map(str, x1.shape[1:]))}])."
        )


def check_outputs(f: torch.Tensor, n: int) -> int:
    """The model must return ``[N, K]``; returns ``K``."""
    if f.dim() != 2 or f.shape[0] != n:
        raise ValueError(
            f"The model must map a batch [N, ...] to outputs of shape [N, K]; for N={n} it returned "
            f"{tuple(f.shape)}. Flatten or unsqueeze the output (e.g. a final nn.Flatten)."
        )
    return f.shape[1]

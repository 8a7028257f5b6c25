"""The NTK from layer-wise structure, without ever forming per-sample network Jacobians.

For a dense layer ``z = s_w W a + s_b b`` (``W [out, in]``) the Jacobian of output
``f_k(x_n)`` with respect to ``W`` is the outer product ``s_w g_{k,n} a_nᵀ`` with
``g_{k,n} = ∂f_k(x_n)/∂z_n``, so its contribution to the NTK factorises:

    Θ_W[n, m, k, l] = s_w² (a_n · a_m) (g_{k,n} · g_{l,m}),   Θ_b[n, m, k, l] = s_b² (g_{k,n} · g_{l,m}).

We need one forward pass for the layer inputs ``a`` and one batched backward pass
(``K`` cotangents at once) for the output gradients ``g`` — the same "structured
derivatives" idea as neural-tangents (Novak et al. 2022) — and the kernel is a sum
of products of two small Gram matrices per layer.

Convolutions (and dense layers applied to inputs with extra axes) use the layer's own
per-sample Jacobian ``[K, N, P_layer]`` built from unfolded inputs and output
gradients; only that one layer's block exists at a time.

Supported parameterised modules: ``nn.Linear``, ``nn.Conv2d`` (``groups=1``, zero
padding) and :class:`lib.models.DenseLayer` / :class:`lib.models.ConvLayer`. A model
with other parameterised modules (BatchNorm, LayerNorm, embeddings, ...), shared
modules or in-place operations on a layer's output raises
:class:`StructuredNotSupported`; ``empirical_ntk(method="auto")`` then falls back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lib.models.layers import ConvLayer, DenseLayer
from lib.ntk.contract import broadcast_weight, contract

_DENSE = (nn.Linear, DenseLayer)
_CONV = (nn.Conv2d, ConvLayer)


class StructuredNotSupported(ValueError):
    """The model contains something the structured method cannot factorise."""


@dataclass
class _LayerFactor:
    """What one layer contributes, for one batch of inputs.

    Either ``inputs`` ``[N, in]`` with ``grads`` ``[K, N, out]`` (a dense layer on flat
    inputs: Gram-factorised), or ``layer_jacobian`` ``[K, N, P_layer]``.
    """

    grads: torch.Tensor | None = None
    inputs: torch.Tensor | None = None
    weight_scale2: float = 1.0
    bias_scale2: float = 0.0
    layer_jacobian: torch.Tensor | None = None


#: The per-layer factors of one batch, as :func:`layer_factors` returns them.
LayerFactors = list[_LayerFactor]


def _parameterised_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    found = []
    for name, module in model.named_modules():
        own = {n for n, p in module.named_parameters(recurse=False) if p.requires_grad}
        if not own:
            continue
        if not isinstance(module, _DENSE + _CONV):
            raise StructuredNotSupported(
                f"module {name!r} ({type(module).__name__}) has trainable parameters and is not a dense or conv layer"
            )
        if not own <= {"weight", "bias"}:
            raise StructuredNotSupported(f"module {name!r} has parameters {sorted(own)} besides weight/bias")
        if isinstance(module, nn.Conv2d) and (module.groups != 1 or module.padding_mode != "zeros"
                                              or isinstance(module.padding, str)):
            raise StructuredNotSupported(f"conv {name!r} uses groups, non-zero or string padding")
        found.append((name, module))
    if not found:
        raise StructuredNotSupported("the model has no trainable dense or conv layers")
    return found


def check_structured_support(model: nn.Module) -> None:
    """Raise :class:`StructuredNotSupported` unless every trainable layer can be factorised."""
    _parameterised_modules(model)


def _scales(module: nn.Module) -> tuple[float, float]:
    weight_scale = float(getattr(module, "weight_scale", 1.0)) if module.weight.requires_grad else 0.0
    bias_scale = float(getattr(module, "bias_scale", 1.0)) if module.bias is not None else 0.0
    if module.bias is not None and not module.bias.requires_grad:
        bias_scale = 0.0
    return weight_scale, bias_scale


def layer_factors(model: nn.Module, x: torch.Tensor) -> tuple[list[_LayerFactor], int]:
    """One forward and one batched backward pass; returns the per-layer factors and ``K``."""
    modules = _parameterised_modules(model)
    records: dict[str, list[tuple[torch.Tensor, torch.Tensor, int]]] = {name: [] for name, _ in modules}

    def make_hook(name: str):
        def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            records[name].append((inputs[0].detach(), output, output._version))
        return hook

    handles = [module.register_forward_hook(make_hook(name)) for name, module in modules]
    try:
        with torch.enable_grad():
            f = model(x)
    finally:
        for handle in handles:
            handle.remove()
    if f.dim() != 2 or f.shape[0] != x.shape[0]:
        raise ValueError(f"The model must return [N, K]; it returned {tuple(f.shape)} for N={x.shape[0]}.")
    for name, calls in records.items():
        if len(calls) != 1:
            raise StructuredNotSupported(f"module {name!r} was called {len(calls)} times in one forward pass")
        if calls[0][1]._version != calls[0][2]:
            raise StructuredNotSupported(f"the output of {name!r} was modified in place (e.g. ReLU(inplace=True))")

    n, k = f.shape
    basis = torch.eye(k, dtype=f.dtype, device=f.device)[:, None, :].expand(k, n, k)
    outputs = [records[name][0][1] for name, _ in modules]
    grads = torch.autograd.grad(f, outputs, grad_outputs=basis, is_grads_batched=True, allow_unused=True)

    factors = []
    for (name, module), grad, output in zip(modules, grads, outputs):
        a = records[name][0][0]
        if grad is None:  # the layer does not influence the output
            grad = torch.zeros((k, *output.shape), dtype=output.dtype, device=output.device)
        weight_scale, bias_scale = _scales(module)
        if isinstance(module, _DENSE) and a.dim() == 2:
            factors.append(_LayerFactor(grads=grad, inputs=a, weight_scale2=weight_scale ** 2,
                                        bias_scale2=bias_scale ** 2))
        elif isinstance(module, _DENSE):
            # [N, ..., in] inputs: sum the outer products over the extra axes.
            g = grad.reshape(k, n, -1, grad.shape[-1])
            a_flat = a.reshape(n, -1, a.shape[-1])
            blocks = ([weight_scale * torch.einsum("knto,nti->knoi", g, a_flat).reshape(k, n, -1)]
                      if weight_scale else [])
            if bias_scale:
                blocks.append(bias_scale * g.sum(2))
            factors.append(_LayerFactor(layer_jacobian=torch.cat(blocks, dim=2)))
        else:
            unfolded = F.unfold(a, module.kernel_size, dilation=module.dilation, padding=module.padding,
                                stride=module.stride)  # [N, C_in*kh*kw, L]
            g = grad.reshape(k, n, grad.shape[2], -1)  # [K, N, C_out, L]
            blocks = ([weight_scale * torch.einsum("knol,nil->knoi", g, unfolded).reshape(k, n, -1)]
                      if weight_scale else [])
            if bias_scale:
                blocks.append(bias_scale * g.sum(3))
            factors.append(_LayerFactor(layer_jacobian=torch.cat(blocks, dim=2)))
    return factors, k


def append_sample(factors: LayerFactors | None, new: LayerFactors, index: int) -> LayerFactors:
    """The factors of a batch with sample ``index`` of the batch ``new`` appended (``factors=None``: an empty batch).

    Lets a caller grow the factors of a data set one point at a time (the parameters must not have changed)."""
    def one(f: _LayerFactor) -> _LayerFactor:
        return _LayerFactor(
            grads=None if f.grads is None else f.grads[:, index:index + 1],
            inputs=None if f.inputs is None else f.inputs[index:index + 1],
            weight_scale2=f.weight_scale2, bias_scale2=f.bias_scale2,
            layer_jacobian=None if f.layer_jacobian is None else f.layer_jacobian[:, index:index + 1])
    if factors is None:
        return [one(f) for f in new]

    def cat(a: torch.Tensor | None, b: torch.Tensor | None, dim: int) -> torch.Tensor | None:
        return None if a is None else torch.cat([a, b], dim=dim)
    return [_LayerFactor(grads=cat(f.grads, g.grads, 1), inputs=cat(f.inputs, g.inputs, 0),
                         weight_scale2=f.weight_scale2, bias_scale2=f.bias_scale2,
                         layer_jacobian=cat(f.layer_jacobian, g.layer_jacobian, 1))
            for f, g in zip(factors, map(one, new))]


def split_factors(factors: list[_LayerFactor], n: int) -> tuple[list[_LayerFactor], list[_LayerFactor]]:
    """Split factors of a concatenated batch into those of its first ``n`` samples and the rest."""
    def part(f: _LayerFactor, rows: slice) -> _LayerFactor:
        return _LayerFactor(
            grads=None if f.grads is None else f.grads[:, rows],
            inputs=None if f.inputs is None else f.inputs[rows],
            weight_scale2=f.weight_scale2, bias_scale2=f.bias_scale2,
            layer_jacobian=None if f.layer_jacobian is None else f.layer_jacobian[:, rows])
    return [part(f, slice(None, n)) for f in factors], [part(f, slice(n, None)) for f in factors]


def kernel_from_factors(factors1: list[_LayerFactor], factors2: list[_LayerFactor], mode: str) -> torch.Tensor:
    """Sum the per-layer contributions to the kernel tile between two batches."""
    total = None
    for f1, f2 in zip(factors1, factors2):
        if f1.layer_jacobian is not None:
            term = contract(f1.layer_jacobian, f2.layer_jacobian, mode)
        else:
            weight = f1.weight_scale2 * (f1.inputs @ f2.inputs.T) + f1.bias_scale2
            term = contract(f1.grads, f2.grads, mode) * broadcast_weight(weight, mode)
        total = term if total is None else total + term
    return total


def jacobian_from_factors(factors: list[_LayerFactor]) -> torch.Tensor:
    """The per-sample Jacobian ``[K, N, P]`` assembled from layer factors.

    Columns follow ``model.named_parameters()`` order for models of dense layers (each layer's
    ``weight`` flattened row-major, then its ``bias``): ``∂f_k(x_n)/∂W = s_w g_{k,n} a_nᵀ`` and
    ``∂f_k(x_n)/∂b = s_b g_{k,n}``. Layers with a precomputed ``layer_jacobian`` (convolutions)
    contribute it as is; a layer whose weight is frozen (``s_w = 0``) contributes no weight columns.
    """
    blocks = []
    for f in factors:
        if f.layer_jacobian is not None:
            blocks.append(f.layer_jacobian)
            continue
        k, n, _ = f.grads.shape
        if f.weight_scale2:
            outer = f.grads[..., :, None] * f.inputs[None, :, None, :]          # [K, N, out, in]
            blocks.append(f.weight_scale2 ** 0.5 * outer.reshape(k, n, -1))
        if f.bias_scale2:
            blocks.append(f.bias_scale2 ** 0.5 * f.grads)
    return torch.cat(blocks, dim=2)

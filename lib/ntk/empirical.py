"""Empirical (finite-width) neural tangent kernels and NTK-vector products.

See :mod:`lib.ntk.contract` for the ``mode`` conventions. Every method returns the same
kernel up to floating-point rounding; they differ in cost:

* ``"structured"`` — layer-wise Gram factors (:mod:`lib.ntk.structured`); never forms
  per-sample network Jacobians. Dense and conv layers only.
* ``"jacobian"`` — per-sample Jacobians by ``vmap(jacrev)`` and their contraction, as in
  the ``torch.func`` NTK tutorial; memory ``O(N K P)`` per tile.
* ``"ntk_vp"`` — one vector-Jacobian and one Jacobian-vector product per column of the
  kernel (``N2 K`` of them), vectorised; memory ``O(N2 K P)`` per tile chunk.
* ``"auto"`` — ``"structured"`` whenever the model allows it, else ``"jacobian"`` when its
  Jacobian tiles fit in :data:`AUTO_JACOBIAN_BYTES`, else ``"ntk_vp"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import jvp, vjp, vmap

from lib.device import no_tf32
from lib.models.parameters import count_parameters
from lib.ntk.checks import check_inputs, check_model, check_outputs, check_pair
from lib.ntk.contract import check_mode, symmetrize, transpose
from lib.ntk.functional import FunctionalModel, functional_model
from lib.ntk.jacobian import jacobian_blocks
from lib.ntk.structured import (
    StructuredNotSupported,
    check_structured_support,
    kernel_from_factors,
    layer_factors,
    split_factors,
)
from lib.ntk.tiling import fill_kernel_tiles
from lib.options import Option
from lib.validation import check_optional_positive_int, check_tensor


class Method(Option):
    """How :func:`empirical_ntk` computes the kernel (module docstring); all agree up to rounding."""

    AUTO = "auto", "structured if the model allows it, else jacobian if its tiles fit AUTO_JACOBIAN_BYTES, else ntk_vp"
    STRUCTURED = "structured", "layer-wise Gram factors, never per-sample Jacobians (dense and conv layers only)"
    JACOBIAN = "jacobian", "per-sample Jacobians by vmap(jacrev), then contracted; memory O(N K P) per tile"
    NTK_VP = "ntk_vp", "one VJP and one JVP per kernel column, vectorised; memory O(N2 K P) per chunk"


#: The valid method strings (alias of :meth:`Method.values`).
METHODS: tuple[str, ...] = Method.values()
AUTO_JACOBIAN_BYTES = 2 * 1024**3
_VP_CHUNK_BYTES = 1024**3


def ntk_vp(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """NTK-vector product ``(Θ v)[n, a] = Σ_{m, b} Θ[n, m, a, b] v[m, b]`` without forming ``Θ``.

    Computed as ``J(x1) (J(x2)ᵀ v)``: one vector-Jacobian product at ``x2`` and one
    Jacobian-vector product at ``x1``.

    Args:
        model: maps ``[N, ...]`` to ``[N, K]`` sample by sample.
        x1: ``[N1, ...]``; x2: ``[N2, ...]``; v: ``[N2, K]``.

    Returns:
        ``[N1, K]``.
    """
    check_model(model)
    check_inputs(model, x1, name="x1")
    check_inputs(model, x2, name="x2")
    check_pair(x1, x2)
    with torch.no_grad():
        k = check_outputs(model(x2[:1]), 1)
    check_tensor("v", v, floating=True, finite=True)
    if v.shape != (x2.shape[0], k):
        raise ValueError(f"v must have shape [N2, K] = [{x2.shape[0]}, {k}], got {tuple(v.shape)}.")
    if v.device != x2.device:
        raise ValueError(f"v is on {v.device} but x2 and the model are on {x2.device}; use v.to(x2.device).")
    with no_tf32():
        fmodel = functional_model(model)
        _, vjp_fn = vjp(lambda p: fmodel.apply(p, x2), fmodel.params)
        (tangent,) = vjp_fn(v.to(dtype=next(iter(fmodel.params.values())).dtype))
        _, out = jvp(lambda p: fmodel.apply(p, x1), (fmodel.params,), (tangent,))
    return out


def _vp_tile(fmodel: FunctionalModel, xa: torch.Tensor, xb: torch.Tensor, k: int, mode: str) -> torch.Tensor:
    """Kernel tile by NTK-vector products with the ``N2 K`` basis vectors of ``xb``'s outputs."""
    nb = xb.shape[0]
    _, vjp_fn = vjp(lambda p: fmodel.apply(p, xb), fmodel.params)
    dtype = next(iter(fmodel.params.values())).dtype
    basis = torch.eye(nb * k, dtype=dtype, device=xb.device).reshape(nb * k, nb, k)

    def column(v: torch.Tensor) -> torch.Tensor:
        (tangent,) = vjp_fn(v)
        return jvp(lambda p: fmodel.apply(p, xa), (fmodel.params,), (tangent,))[1]

    chunk = max(1, _VP_CHUNK_BYTES // max(1, fmodel.num_parameters * dtype.itemsize))
    columns = vmap(column, chunk_size=chunk)(basis)  # [N2*K, N1, K]: columns[(m, b), n, a]
    full = columns.reshape(nb, k, xa.shape[0], k).permute(2, 0, 3, 1)  # [N1, N2, K(a), K(b)]
    if mode == "full":
        return full
    diagonal = torch.diagonal(full, dim1=2, dim2=3)
    return diagonal if mode == "diagonal" else diagonal.sum(-1)


def _jacobian_features(fmodel: FunctionalModel, x: torch.Tensor) -> list[torch.Tensor]:
    """Per-parameter Jacobian blocks ``[N, K, P_i]`` (never concatenated: that would copy ``N K P`` numbers)."""
    blocks = jacobian_blocks(fmodel, x)
    return [b.flatten(2) for b in blocks.values()]


def _contract_jacobians(blocks1: list[torch.Tensor], blocks2: list[torch.Tensor], mode: str) -> torch.Tensor:
    """``Σ_i J1_i J2_iᵀ`` over parameter blocks ``[N, K, P_i]``, in the requested mode."""
    equation = {"full": "nap,mbp->nmab", "diagonal": "nap,map->nma", "trace": "nap,map->nm"}[mode]
    total = None
    for j1, j2 in zip(blocks1, blocks2):
        term = torch.einsum(equation, j1, j2)
        total = term if total is None else total.add_(term)
    return total


def _resolve_method(model: nn.Module, method: str, n1: int, n2: int, k: int, *,
                    allow_structured: bool = True) -> str:
    method = Method.parse(method)
    if method != "auto":
        if method == "structured":
            check_structured_support(model)
        return method
    if allow_structured:
        try:
            check_structured_support(model)
            return "structured"
        except StructuredNotSupported:
            pass
    params = [p for p in model.parameters() if p.requires_grad]
    jac_bytes = (n1 + n2) * k * count_parameters(model) * params[0].element_size()
    return "jacobian" if jac_bytes <= AUTO_JACOBIAN_BYTES else "ntk_vp"


def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    mode: str = "full",
    method: str = "auto",
    batch_size: int | None = None,
) -> torch.Tensor:
    """The empirical NTK ``Θ(x1, x2) = J(x1) J(x2)ᵀ`` of ``model`` at its current parameters.

    Args:
        model: maps ``[N, ...]`` to ``[N, K]`` sample by sample (``model.eval()`` if it has
            BatchNorm or dropout). Parameters with ``requires_grad=False`` are not part of θ.
        x1: ``[N1, ...]`` inputs, same dtype and device as the model (float64 for precision).
        x2: ``[N2, ...]`` inputs, or ``None`` for ``x2 = x1``; then symmetry is used and the
            result is exactly symmetric (``Θ[n, m, a, b] == Θ[m, n, b, a]``).
        mode: ``"full"`` → ``[N1, N2, K, K]``; ``"diagonal"`` → ``[N1, N2, K]``;
            ``"trace"`` → ``[N1, N2]``, the **sum** over outputs ``Σ_a Θ[n, m, a, a]``.
        method: ``"auto"``, ``"structured"``, ``"jacobian"`` or ``"ntk_vp"`` (see module doc).
        batch_size: tile ``x1 × x2`` into blocks of at most this many samples per side, so
            peak memory is that of one tile; ``None`` computes one tile.

    Returns:
        The kernel in the model's dtype and on its device. TF32 is disabled while computing.
    """
    check_mode(mode)
    check_model(model)
    check_inputs(model, x1, name="x1")
    symmetric = x2 is None
    if not symmetric:
        check_inputs(model, x2, name="x2")
        check_pair(x1, x2)
    x2_ = x1 if symmetric else x2
    batch_size = check_optional_positive_int("batch_size", batch_size, example=256)
    with torch.no_grad():
        k = check_outputs(model(x1[:1]), 1)
    n1, n2 = x1.shape[0], x2_.shape[0]
    tile = batch_size or max(n1, n2)
    resolved = _resolve_method(model, method, min(tile, n1), min(tile, n2), k)

    try:
        return _tiled_kernel(model, x1, x2_, symmetric, mode, resolved, tile, k)
    except StructuredNotSupported:
        if method != "auto":
            raise
        # Found only while running (a module called twice, an in-place op): use a generic method.
        fallback = _resolve_method(model, "auto", min(tile, n1), min(tile, n2), k, allow_structured=False)
        return _tiled_kernel(model, x1, x2_, symmetric, mode, fallback, tile, k)


def _tiled_kernel(model: nn.Module, x1: torch.Tensor, x2_: torch.Tensor, symmetric: bool, mode: str,
                  resolved: str, tile: int, k: int) -> torch.Tensor:
    """Compute the kernel tile by tile with the resolved method."""
    n1, n2 = x1.shape[0], x2_.shape[0]
    prepare: Callable[[torch.Tensor], Any]
    kernel: Callable[[Any, Any], torch.Tensor]
    if resolved == "structured":
        def prepare(x: torch.Tensor) -> Any:
            return layer_factors(model, x)[0]

        def kernel(fa: Any, fb: Any) -> torch.Tensor:
            return kernel_from_factors(fa, fb, mode)
    else:
        fmodel = functional_model(model)
        if resolved == "jacobian":
            def prepare(x: torch.Tensor) -> Any:
                return _jacobian_features(fmodel, x)

            def kernel(fa: Any, fb: Any) -> torch.Tensor:
                return _contract_jacobians(fa, fb, mode)
        else:
            def prepare(x: torch.Tensor) -> Any:
                return x

            def kernel(fa: Any, fb: Any) -> torch.Tensor:
                return _vp_tile(fmodel, fa, fb, k, mode)

    if resolved == "structured" and not symmetric and n1 <= tile and n2 <= tile:
        # One tile: a single forward/backward pass over both batches reads the weights once.
        with no_tf32():
            factors1, factors2 = split_factors(layer_factors(model, torch.cat([x1, x2_]))[0], n1)
            return kernel_from_factors(factors1, factors2, mode)

    shape = {"full": (n1, n2, k, k), "diagonal": (n1, n2, k), "trace": (n1, n2)}[mode]
    param = next(p for p in model.parameters() if p.requires_grad)
    out = torch.empty(shape, dtype=param.dtype, device=param.device)
    cached: dict[str, Any] = {}

    def block(rows: slice, cols: slice) -> torch.Tensor:
        if cached.get("rows") != rows:  # all tiles of one row of tiles come in a row
            cached.update(rows=rows, features=prepare(x1[rows]))
        features_i = cached["features"]
        if symmetric and rows == cols:
            return symmetrize(kernel(features_i, features_i), mode)
        return kernel(features_i, prepare(x2_[cols]))

    with no_tf32():
        return fill_kernel_tiles(out, block, tile=tile, symmetric=symmetric, mirror=lambda t: transpose(t, mode))

"""Filling a kernel matrix tile by tile, using symmetry when both inputs are the same set.

Used by every kernel matrix in ``lib`` that is too big to compute in one go (the empirical NTK
of :func:`lib.ntk.empirical_ntk`, the infinite-width ReLU NTK of
:func:`lib.kernel_regression.relu_ntk_matrix`).

Convention: the kernel's first two axes index the samples of ``x1`` and ``x2`` (``[N1, N2, ...]``);
tiles are ``out[i:i + tile, j:j + tile]``. For a symmetric kernel (``x2 = x1``) only the tiles with
``j >= i`` are computed; the tiles below the diagonal are the mirror images (``mirror``) of those
above, so the result is exactly symmetric whenever the diagonal tiles are.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["fill_kernel_tiles"]


def _swap_sample_axes(block: torch.Tensor) -> torch.Tensor:
    return block.transpose(0, 1)


def fill_kernel_tiles(out: torch.Tensor, block: Callable[[slice, slice], torch.Tensor], *, tile: int,
                      symmetric: bool,
                      mirror: Callable[[torch.Tensor], torch.Tensor] = _swap_sample_axes) -> torch.Tensor:
    """Fill ``out`` (``[N1, N2, ...]``) in place with ``block(rows, cols)`` tile by tile and return it.

    Args:
        out: the preallocated kernel; its first two axes are the samples of ``x1`` and ``x2``.
        block: ``block(rows, cols)`` returns the kernel tile ``Θ(x1[rows], x2[cols])``, of shape
            ``out[rows, cols].shape``. Rows are visited in order, and all tiles of one row of tiles
            are requested consecutively (so ``block`` may cache what depends on ``rows`` only). For
            a symmetric kernel it is called with ``rows == cols`` for the diagonal tiles and must
            then return an exactly symmetric tile.
        tile: at most this many samples per side of a tile (``>= 1``).
        symmetric: ``x2`` is ``x1`` (``N1 == N2``): compute only tiles on and above the diagonal
            and mirror them below it.
        mirror: ``Θ(x2, x1)`` from a tile ``Θ(x1, x2)``; the default swaps the two sample axes,
            right for ``[N1, N2]`` kernels (a ``[N1, N2, K, K]`` kernel must also swap the outputs,
            :func:`lib.ntk.contract.transpose`).

    Raises:
        ValueError: ``tile < 1``, or ``symmetric`` with ``N1 != N2``.
    """
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 1:
        raise ValueError(f"tile must be an integer >= 1, got {tile!r}.")
    n1, n2 = out.shape[0], out.shape[1]
    if symmetric and n1 != n2:
        raise ValueError(f"A symmetric kernel must be square in its sample axes; got [{n1}, {n2}, ...].")
    for i in range(0, n1, tile):
        rows = slice(i, min(i + tile, n1))
        for j in range(0, n2, tile):
            cols = slice(j, min(j + tile, n2))
            if symmetric and j < i:
                out[rows, cols] = mirror(out[cols, rows])
            else:
                out[rows, cols] = block(rows, cols)
    return out

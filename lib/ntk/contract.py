"""Contractions of per-sample "features" into kernel tiles, shared by every NTK method.

Conventions (used throughout ``lib.ntk``):

* ``mode="full"``     → ``[N1, N2, K, K]``, ``Θ[n, m, a, b] = <∂f_a(x1_n)/∂θ, ∂f_b(x2_m)/∂θ>``;
* ``mode="diagonal"`` → ``[N1, N2, K]``, ``Θ[n, m, a, a]``;
* ``mode="trace"``    → ``[N1, N2]``, ``Σ_a Θ[n, m, a, a]`` — a **sum** over outputs, not a mean.
"""

from __future__ import annotations

import torch

from lib.options import Option


class Mode(Option):
    """Which entries of the kernel ``Θ[n, m, a, b]`` a function returns (module docstring)."""

    FULL = "full", "every pair of outputs: [N1, N2, K, K]"
    TRACE = "trace", "the sum over outputs Σ_a Θ[n, m, a, a] (not a mean): [N1, N2]"
    DIAGONAL = "diagonal", "the same-output entries Θ[n, m, a, a]: [N1, N2, K]"


#: The valid mode strings (alias of :meth:`Mode.values`).
MODES: tuple[str, ...] = Mode.values()


def check_mode(mode: str | Mode) -> Mode:
    """``mode`` as a :class:`Mode` (a ``str``); raise ``ValueError`` listing the valid modes otherwise."""
    return Mode.parse(mode)


def contract(features1: torch.Tensor, features2: torch.Tensor, mode: str) -> torch.Tensor:
    """Inner products of output-indexed features.

    Args:
        features1: ``[K, N1, D]`` — ``features1[a, n]`` is a vector belonging to output ``a`` of sample ``n``.
        features2: ``[K, N2, D]``.
        mode: ``"full"``, ``"diagonal"`` or ``"trace"`` (see the module docstring).

    Returns:
        ``[N1, N2, K, K]``, ``[N1, N2, K]`` or ``[N1, N2]``.
    """
    k, n1, d = features1.shape
    n2 = features2.shape[1]
    if mode == "full":
        gram = features1.reshape(k * n1, d) @ features2.reshape(k * n2, d).T
        return gram.reshape(k, n1, k, n2).permute(1, 3, 0, 2)
    diagonal = torch.bmm(features1, features2.transpose(1, 2))  # [K, N1, N2]
    if mode == "diagonal":
        return diagonal.permute(1, 2, 0)
    return diagonal.sum(0)


def broadcast_weight(weight: torch.Tensor, mode: str) -> torch.Tensor:
    """Reshape a per-pair weight ``[N1, N2]`` to multiply a tile of the given mode."""
    return {"full": weight[:, :, None, None], "diagonal": weight[:, :, None], "trace": weight}[mode]


def symmetrize(tile: torch.Tensor, mode: str) -> torch.Tensor:
    """Make a tile of ``Θ(x, x)`` exactly symmetric: ``Θ[n, m, a, b] = Θ[m, n, b, a]``."""
    return 0.5 * (tile + transpose(tile, mode))


def transpose(tile: torch.Tensor, mode: str) -> torch.Tensor:
    """``Θ(x2, x1)`` from ``Θ(x1, x2)``."""
    return tile.permute(1, 0, 3, 2) if mode == "full" else tile.transpose(0, 1)

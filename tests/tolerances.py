"""The tests' floating-point tolerances, in one place: a table per dtype and a named purpose per entry.

Use :func:`assert_close` with the *purpose* of a comparison rather than inline ``rtol``/``atol``
pairs, so that the same intent gets the same tolerance everywhere::

    assert_close(tiled, whole, kind="roundoff")       # same arithmetic, summed in another order
    assert_close(got, reference, kind="method")       # another algorithm for the same quantity
    assert_close(predicted, solved, kind="solver")    # through a linear solve / factorization

Purposes (``TOL[dtype][kind]`` is the ``dict(rtol=..., atol=...)`` for ``torch.testing.assert_close``):

* ``"exact"`` — bit-for-bit equality (reproducibility with the same seed, cached results);
* ``"roundoff"`` — the same arithmetic in another order or grouping (tiles, chunks, the diagonal of a
  full kernel, a closed form against its recursion): a few ulps of the largest term;
* ``"method"`` — a different algorithm for the same exact quantity (structured vs. Jacobian vs.
  NTK-vector products vs. a reference built from ``jacrev``): longer sums, more rounding;
* ``"solver"`` — results that pass through a linear solve, Cholesky factor or eigendecomposition of a
  moderately conditioned matrix: the rounding error is amplified by the condition number.

A comparison whose tolerance is set by something else than rounding (a Monte Carlo estimate, a
discretization, single-precision data) keeps its own ``rtol``/``atol`` next to a comment saying why.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Tolerance = dict[str, float]

#: ``TOL[dtype][kind] == dict(rtol=..., atol=...)`` (module docstring). float32 values are the float64
#: ones scaled to its unit roundoff (2⁻²⁴ ≈ 6e-8 instead of 2⁻⁵³ ≈ 1e-16).
TOL: dict[torch.dtype, dict[str, Tolerance]] = {
    torch.float64: {
        "exact": dict(rtol=0.0, atol=0.0),
        "roundoff": dict(rtol=1e-12, atol=1e-14),
        "method": dict(rtol=1e-10, atol=1e-12),
        "solver": dict(rtol=1e-9, atol=1e-12),
    },
    torch.float32: {
        "exact": dict(rtol=0.0, atol=0.0),
        "roundoff": dict(rtol=1e-5, atol=1e-7),
        "method": dict(rtol=1e-4, atol=1e-6),
        "solver": dict(rtol=1e-3, atol=1e-5),
    },
}
KINDS: tuple[str, ...] = tuple(TOL[torch.float64])


def tolerance(kind: str, dtype: torch.dtype = torch.float64) -> Tolerance:
    """``dict(rtol=..., atol=...)`` for a purpose and dtype; ``KeyError`` naming the valid ones otherwise."""
    if dtype not in TOL:
        raise KeyError(f"No tolerance table for {dtype}; tables exist for {', '.join(map(str, TOL))}.")
    if kind not in TOL[dtype]:
        raise KeyError(f"Unknown tolerance kind {kind!r}; valid: {', '.join(TOL[dtype])}.")
    return dict(TOL[dtype][kind])


def _dtype_of(value: Any) -> torch.dtype:
    if isinstance(value, torch.Tensor):
        return value.dtype
    if isinstance(value, np.ndarray):
        return torch.float32 if value.dtype == np.float32 else torch.float64
    return torch.float64


def assert_close(actual: Any, expected: Any, *, kind: str, dtype: torch.dtype | None = None, **kwargs: Any) -> None:
    """``torch.testing.assert_close(actual, expected)`` with the tolerance ``TOL[dtype][kind]``.

    Args:
        actual, expected: tensors, arrays or numbers (arrays are compared with ``numpy.testing``).
        kind: the purpose of the comparison (module docstring).
        dtype: the table to use; default the dtype of ``expected`` (float64 for Python numbers).
        kwargs: passed on (e.g. ``msg``, ``check_dtype``); not ``rtol``/``atol``.
    """
    if "rtol" in kwargs or "atol" in kwargs:
        raise TypeError("assert_close takes a kind, not rtol/atol; write an inline tolerance with a comment instead.")
    tol = tolerance(kind, dtype or _dtype_of(expected))
    if isinstance(expected, np.ndarray) or isinstance(actual, np.ndarray):
        np.testing.assert_allclose(actual, expected, **tol, **kwargs)
    else:
        torch.testing.assert_close(actual, expected, **tol, **kwargs)

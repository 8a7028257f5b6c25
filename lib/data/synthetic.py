"""A 1-D regression problem for pictures of functions (not a stand-in for any real dataset).

Target ``f*(x) = sin(3x) + x/2`` on ``x ∈ [−1.5, 1.5]``; training inputs are drawn uniformly
from two separated intervals, ``[−1.5, −0.35] ∪ [0.35, 1.5]``, so predictions in the gap
show how a model interpolates where it has no data. Labels are ``f*(x) + noise · ε``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.validation import check_int, check_nonnegative


def target_function(x: torch.Tensor) -> torch.Tensor:
    """``f*(x) = sin(3x) + x/2``, elementwise."""
    return torch.sin(3 * x) + 0.5 * x


@dataclass(frozen=True)
class Regression1D:
    """Training pairs ``x_train [N, 1], y_train [N, 1]`` and a dense grid ``x_grid [M, 1]``
    with ``f_grid = f*(x_grid)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_grid: torch.Tensor
    f_grid: torch.Tensor


def regression_1d(n_train: int, *, generator: torch.Generator, noise: float = 0.05, n_grid: int = 200,
                  dtype: torch.dtype = torch.float64) -> Regression1D:
    """Draw the 1-D problem of the module docstring with an explicit ``generator``."""
    n_train = check_int("n_train", n_train, minimum=2, example=20)
    n_grid = check_int("n_grid", n_grid, minimum=2, example=200)
    noise = check_nonnegative("noise", noise, fix="pass a noise standard deviation such as 0.05")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}; pass "
                        "torch.Generator().manual_seed(0).")
    if n_train < 2 or n_grid < 2 or noise < 0:
        raise ValueError(f"Need n_train >= 2, n_grid >= 2 and noise >= 0; got {n_train}, {n_grid}, {noise}.")
    u = torch.rand(n_train, generator=generator, dtype=torch.float64)
    side = torch.where(torch.rand(n_train, generator=generator, dtype=torch.float64) < 0.5, -1.0, 1.0)
    x = (side * (0.35 + 1.15 * u)).sort().values[:, None]
    y = target_function(x) + noise * torch.randn(x.shape, generator=generator, dtype=torch.float64)
    grid = torch.linspace(-1.5, 1.5, n_grid, dtype=torch.float64)[:, None]
    return Regression1D(x.to(dtype), y.to(dtype), grid.to(dtype), target_function(grid).to(dtype))

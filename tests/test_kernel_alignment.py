"""Kernel shape and scale measures against closed forms and numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.kernel_alignment import centered_alignment, eigenspace_overlap, scale_ratio, target_alignment
from lib.ntk.compare import kernel_distance


def _random_kernel(n=30, rank=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(n, rank, generator=g, dtype=torch.float64)
    return f @ f.T


def test_cka_matches_the_hsic_formula():
    a, b = _random_kernel(seed=1).numpy(), _random_kernel(seed=2).numpy()
    n = a.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n

    def hsic(x, y):
        return np.trace(x @ h @ y @ h)

    expected = hsic(a, b) / np.sqrt(hsic(a, a) * hsic(b, b))
    assert centered_alignment(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(expected, rel=1e-12)


def test_cka_ignores_scale_and_constant_offset_but_fort_distance_does_not_see_shape():
    k = _random_kernel()
    assert centered_alignment(k, 7.0 * k + 3.0) == pytest.approx(1.0, abs=1e-12)
    other = _random_kernel(seed=5)
    # a large constant component hides a real change of shape from the uncentred distance
    offset = 50.0 * k.abs().max()
    assert kernel_distance(k + offset, other + offset) < 0.01
    assert centered_alignment(k + offset, other + offset) < 0.5


def test_target_alignment_is_one_for_the_target_kernel():
    y = torch.randn(20, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert target_alignment(y @ y.T, y) == pytest.approx(1.0, abs=1e-12)


def test_eigenspace_overlap_same_and_orthogonal():
    q = torch.linalg.qr(torch.randn(10, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))[0]
    d1 = torch.tensor([10, 9, 8, 1, 1, 1, 1, 1, 1, 1], dtype=torch.float64)
    d2 = torch.tensor([1, 1, 1, 10, 9, 8, 1, 1, 1, 1], dtype=torch.float64)
    k1, k2 = q @ torch.diag(d1) @ q.T, q @ torch.diag(d2) @ q.T
    assert eigenspace_overlap(k1, 2 * k1, 3) == pytest.approx(1.0, abs=1e-10)
    assert eigenspace_overlap(k1, k2, 3) == pytest.approx(0.0, abs=1e-10)


def test_scale_ratio_and_bad_inputs():
    k = _random_kernel()
    assert scale_ratio(k, 0.25 * k) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="square"):
        centered_alignment(torch.zeros(3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="different inputs"):
        centered_alignment(torch.eye(3), torch.eye(4))
    with pytest.raises(ValueError, match="constant kernel"):
        centered_alignment(torch.ones(4, 4), torch.eye(4))
    with pytest.raises(ValueError, match="k must be"):
        eigenspace_overlap(torch.eye(4), torch.eye(4), 4)


def test_scale_and_shape_decomposition():
    from lib.kernel_alignment import scale_and_shape

    k = _random_kernel(seed=3)
    s, shape = scale_and_shape(k, 2.5 * k + 1.0)
    assert s == pytest.approx(2.5) and shape == pytest.approx(0.0, abs=1e-12)
    # a small orthogonal perturbation: the shape change is first order, 1 - CKA second order
    other = _random_kernel(seed=4)
    for eps in (1e-2, 1e-3):
        s, shape = scale_and_shape(k, k + eps * other)
        assert 1 - centered_alignment(k, k + eps * other) == pytest.approx(0.5 * shape ** 2, rel=0.05)

"""Gram spectra and Jacobian-difference spectral norms against dense float64 references."""

from __future__ import annotations

import copy

import pytest
import torch

from lib.models import MLP
from lib.ntk.spectral import gram_eigenvalues, jacobian_difference_norm
from tests.test_ntk_kernels import reference_jacobian
from tests.tolerances import assert_close


def _pair(generator, scale=0.05):
    model = MLP(5, 12, 2, 3, parametrization="ntk", generator=generator).double()
    reference = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model, reference, torch.randn(6, 5, generator=generator, dtype=torch.float64)


def test_gram_eigenvalues_match_the_dense_jacobian(generator):
    model, _, x = _pair(generator)
    j = reference_jacobian(model, x).reshape(-1, sum(p.numel() for p in model.parameters()))
    expected = torch.linalg.eigvalsh(j @ j.T)
    assert_close(gram_eigenvalues(model, x), expected, kind="solver")


def test_jacobian_difference_norm_matches_dense_svd(generator):
    model, reference, x = _pair(generator)
    p = sum(t.numel() for t in model.parameters())
    d = (reference_jacobian(model, x) - reference_jacobian(reference, x)).reshape(-1, p)
    expected = torch.linalg.matrix_norm(d, ord=2).item()
    est = jacobian_difference_norm(model, reference, x, iterations=500, tol=1e-12,
                                   generator=torch.Generator().manual_seed(0))
    assert est.value == pytest.approx(expected, rel=1e-6) and est.value <= expected * (1 + 1e-9)
    assert est.converged


def test_jacobian_difference_of_identical_models_is_zero_and_shapes_are_checked(generator):
    model, _, x = _pair(generator)
    assert jacobian_difference_norm(model, copy.deepcopy(model), x).value == 0.0
    with pytest.raises(ValueError, match="same trainable parameters"):
        jacobian_difference_norm(model, MLP(5, 13, 2, 3, generator=generator).double(), x)

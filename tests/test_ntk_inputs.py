"""Bad input gets a clear error that names the problem and the fix."""

from __future__ import annotations

import pytest
import torch
from conftest import devices
from torch import nn

from lib.models import MLP, WideResNet
from lib.ntk import empirical_ntk, gauss_newton_step, jacobian, ntk_vp, relu_ntk
from tests.tolerances import assert_close


@pytest.fixture
def mlp(generator):
    return MLP(4, 8, 2, 3, generator=generator).double()


@pytest.fixture
def x(generator):
    return torch.randn(5, 4, generator=generator, dtype=torch.float64)


def test_batchnorm_in_train_mode_is_refused(x):
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2)).double()
    with pytest.raises(ValueError, match=r"mixes samples.*model.eval\(\)"):
        empirical_ntk(model, x)
    with pytest.raises(ValueError, match="model.eval"):
        jacobian(model, x)
    model.eval()
    assert empirical_ntk(model, x).shape == (5, 5, 2, 2)  # BatchNorm in eval mode is fine (generic path)


def test_dropout_in_train_mode_is_refused(x):
    model = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.Linear(6, 2)).double()
    with pytest.raises(ValueError, match="random"):
        empirical_ntk(model, x)
    model.eval()
    empirical_ntk(model, x)


def test_non_finite_inputs_are_refused(mlp, x):
    bad = x.clone()
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        empirical_ntk(mlp, bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        relu_ntk(bad, depth=1)


def test_shape_and_dtype_mismatches_name_the_fix(mlp, x):
    with pytest.raises(ValueError, match=r"expected x2 of shape \[N2, 4\]"):
        empirical_ntk(mlp, x, torch.randn(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"torch.float32.*float64"):
        empirical_ntk(mlp, x.float())
    with pytest.raises(ValueError, match=r"v must have shape \[N2, K\] = \[5, 3\]"):
        ntk_vp(mlp, x, x, torch.zeros(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"outputs of shape \[N, K\]"):
        empirical_ntk(nn.Sequential(nn.Linear(4, 1), nn.Flatten(0)).double(), x)


def test_unknown_options_list_the_valid_ones(mlp, x):
    with pytest.raises(ValueError, match="use one of"):
        empirical_ntk(mlp, x, mode="mean")
    with pytest.raises(ValueError, match="use one of"):
        empirical_ntk(mlp, x, method="fast")
    with pytest.raises(ValueError, match="use one of"):
        gauss_newton_step(mlp, x, torch.zeros(5, 3, dtype=torch.float64), loss="hinge")
    with pytest.raises(ValueError, match="width"):
        relu_ntk(x, depth=1, parametrization="standard")


def test_wide_resnet_kernel_in_eval_mode(generator):
    model = WideResNet(depth=10, widen_factor=1, num_classes=3).double().eval()
    x = torch.randn(3, 3, 8, 8, generator=generator, dtype=torch.float64)
    full = empirical_ntk(model, x)
    assert torch.equal(full, full.permute(1, 0, 3, 2))
    assert torch.linalg.eigvalsh(full.permute(0, 2, 1, 3).reshape(9, 9)).min() > -1e-10


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run on a GPU machine)")
@pytest.mark.parametrize("method", ["structured", "jacobian", "ntk_vp"])
def test_cuda_matches_cpu_in_float64(method, mlp, x):
    expected = empirical_ntk(mlp, x, method=method)
    got = empirical_ntk(mlp.cuda(), x.cuda(), method=method).cpu()
    assert_close(got, expected, kind="method")
    assert "cuda" in devices()

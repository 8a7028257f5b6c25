"""λ_max tracking, the uv model's catapult, μP scaling, and the scale/shape split of kernel change — each against an
independent reference (an explicit float64 kernel and eigvalsh, closed-form recursions, known scalings)."""

from __future__ import annotations

import math

import pytest
import torch

from lib.catapult import top_eigenvalue, uv_model
from lib.experiments.kernel_regime import make_network
from lib.kernel_change import scale_and_shape_change
from lib.models.centered import ScaledModel
from lib.ntk import empirical_ntk, kernel_matrix
from tests.tolerances import assert_close


def _inputs(n: int = 24, d: int = 7, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("parametrization", ["standard", "ntk", "mup"])
def test_lanczos_top_eigenvalue_matches_eigvalsh_of_the_explicit_kernel(parametrization):
    x = _inputs()
    model = make_network(parametrization, 7, 64, 3, seed=1).double()
    explicit = torch.linalg.eigvalsh(kernel_matrix(empirical_ntk(model, x, mode="full")))
    top = top_eigenvalue(model, x, tolerance=1e-12, iterations=72, generator=torch.Generator().manual_seed(0))
    assert top.converged
    assert_close(torch.tensor(top.value, dtype=torch.float64), explicit[-1], kind="solver")
    # the Ritz vector is a unit vector with Rayleigh quotient λ and a small residual ‖Θv − λv‖ (it may mix
    # eigenvectors of a nearly degenerate top cluster, so the residual is looser than the eigenvalue)
    from lib.ntk import ntk_vp

    v = top.vector
    w = ntk_vp(model, x, x, v)
    assert math.isclose(float(v.norm()), 1.0, rel_tol=1e-10)
    assert math.isclose(float((v * w).sum()), top.value, rel_tol=1e-9)
    assert float((w - top.value * v).norm()) < 1e-3 * top.value


def test_warm_start_converges_in_fewer_iterations_and_shapes_are_checked():
    x = _inputs()
    model = make_network("ntk", 7, 32, 2, seed=0).double()
    cold = top_eigenvalue(model, x, tolerance=1e-10, generator=torch.Generator().manual_seed(0))
    warm = top_eigenvalue(model, x, tolerance=1e-10, start=cold.vector)
    assert warm.iterations < cold.iterations and math.isclose(warm.value, cold.value, rel_tol=1e-8)
    with pytest.raises(ValueError, match=r"start must have shape \[N, K\] = \[24, 2\]"):
        top_eigenvalue(model, x, start=torch.zeros(24, 3))


def _uv_reference(width: int, lr: float, steps: int, seed: int) -> tuple[list[float], list[float]]:
    """The closed-form recursions of Lewkowycz et al. (2020) for f and λ, iterated on their own."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(width, generator=g, dtype=torch.float64)
    v = torch.randn(width, generator=g, dtype=torch.float64)
    f, lam = float(u @ v) / math.sqrt(width), float(u @ u + v @ v) / width
    fs, lams = [f], [lam]
    for _ in range(steps):
        f, lam = f * (1 - lr * lam + lr**2 * f**2 / width), lam + lr * f**2 * (lr * lam - 4) / width
        fs.append(f)
        lams.append(lam)
    return fs, lams


def test_uv_model_follows_its_closed_form_recursions():
    run = uv_model(256, 0.9, 40, generator=torch.Generator().manual_seed(3))
    fs, lams = _uv_reference(256, 0.9, 40, seed=3)
    f64 = dict(dtype=torch.float64)
    assert_close(torch.tensor(run.curvature, **f64), torch.tensor(lams, **f64), kind="roundoff")
    assert_close(torch.tensor(run.loss, **f64), 0.5 * torch.tensor(fs, **f64) ** 2, kind="roundoff")


@pytest.mark.parametrize("seed", [0, 1])
def test_uv_model_catapult_threshold_is_four_over_lambda0(seed):
    width, g = 4096, (lambda: torch.Generator().manual_seed(seed))
    lam0 = uv_model(width, 1.0, 0, generator=g()).curvature[0]
    lazy = uv_model(width, 1.5 / lam0, 200, generator=g())
    assert not lazy.diverged and lazy.loss[-1] < 1e-12 and abs(lazy.curvature[-1] / lam0 - 1) < 0.01
    assert all(b <= a for a, b in zip(lazy.loss, lazy.loss[1:], strict=False))                        # monotone: lazy
    catapult = uv_model(width, 3.5 / lam0, 400, generator=g())
    assert not catapult.diverged and catapult.loss[-1] < 1e-8
    assert max(catapult.loss) > 100 * catapult.loss[0]                                  # the loss spikes
    assert catapult.curvature[-1] < 2 / (3.5 / lam0)                                    # λ fell below 2/η
    assert uv_model(width, 4.5 / lam0, 400, generator=g()).diverged


def test_mup_ntk_and_standard_kernels_scale_with_width_as_theory_says():
    x = _inputs(16, 5)
    lam = {p: [] for p in ("standard", "ntk", "mup")}
    out0 = []
    widths = (256, 4096)
    for w in widths:
        for p in lam:
            model = make_network(p, 5, w, 1, seed=0).double()
            lam[p].append(top_eigenvalue(model, x, tolerance=1e-10).value)
        with torch.no_grad():  # RMS output over 16 initializations
            out0.append(torch.stack([make_network("mup", 5, w, 1, seed=s).double()(x) for s in range(16)])
                        .pow(2).mean().sqrt().item())
    ratio = widths[1] / widths[0]
    # NTK: O(1); standard: ∝ n (readout and hidden layers of fan-in n); μP: ∝ 1/n
    assert abs(lam["ntk"][1] / lam["ntk"][0] - 1) < 0.2
    assert 0.6 * ratio < lam["standard"][1] / lam["standard"][0] < 1.4 * ratio
    assert 0.6 / ratio < lam["mup"][1] / lam["mup"][0] < 1.4 / ratio
    # μP output at initialization is O(n^{-1/2}): a factor 4 between these widths
    assert 3.0 < out0[0] / out0[1] < 5.3


def test_scaled_model_has_alpha_squared_times_the_kernel():
    x = _inputs(6, 4)
    net = make_network("ntk", 4, 16, 2, seed=0).double()
    k = empirical_ntk(net, x, mode="full")
    assert_close(empirical_ntk(ScaledModel(net, 3.0), x, mode="full"), 9.0 * k, kind="method")
    with pytest.raises(ValueError, match="scale"):
        ScaledModel(net, -1.0)


def test_scale_and_shape_split_on_known_cases():
    a = torch.randn(10, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    k0 = a @ a.T
    grown = scale_and_shape_change(k0, 3.0 * k0)          # pure scale: shape 0, "relative change" 2
    assert math.isclose(grown["scale"], math.log(3.0)) and abs(grown["shape"]) < 1e-12
    assert math.isclose(grown["relative"], 2.0)
    shrunk = scale_and_shape_change(k0, 0.06 * k0)        # the "94 % change" that is only shrinking
    assert math.isclose(shrunk["relative"], 0.94) and abs(shrunk["shape"]) < 1e-12
    b = torch.randn(10, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    other = scale_and_shape_change(k0, b @ b.T)
    h = torch.eye(10, dtype=torch.float64) - 1 / 10
    c0, c1 = h @ k0 @ h, h @ (b @ b.T) @ h
    cka = float((c0 * c1).sum() / (c0.norm() * c1.norm()))
    assert math.isclose(other["shape"], 1 - cka, rel_tol=1e-10) and other["shape"] > 0.05
    with pytest.raises(ValueError, match="square kernel matrices"):
        scale_and_shape_change(k0, k0[:5, :5])

"""Training loops, change measurements, kernel comparisons and power-law fits."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from lib.kernel_change import calibrate_batchnorm, jacobian_change, measure_change, parameter_change
from lib.models import MLP, CenteredModel
from lib.ntk import empirical_ntk, gradient_descent_mse, kernel_distance, relative_frobenius_error
from lib.scaling import fit_power_law
from lib.training import accuracy, train, training_loss
from tests.test_ntk_kernels import reference_jacobian, reference_ntk
from tests.tolerances import assert_close


def test_full_batch_gd_on_a_linear_model_follows_the_closed_form(generator):
    # f(x) = W x is its own linearization: GD on the mean loss with step η equals the
    # sum-loss closed form with step η / N, to float64 round-off.
    x = torch.randn(12, 5, generator=generator, dtype=torch.float64)
    y = torch.randn(12, 3, generator=generator, dtype=torch.float64)
    model = nn.Linear(5, 3, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(3, 5, generator=generator))
    f0 = model(x).detach()
    kernel = torch.einsum("ni,mi->nm", x, x)  # same for each output: Θ = x xᵀ ⊗ I
    lr = 0.3
    log = train(model, x, y, learning_rate=lr, max_steps=25)
    expected = gradient_descent_mse(kernel, y, learning_rate=lr / 12).train(f0, 25, steps=True)
    assert_close(model(x).detach(), expected, kind="method")
    assert log.steps == 25 and log.logged_steps[-1] == 25 and len(log.losses) == 26
    assert log.losses[-1] == pytest.approx(0.5 * ((expected - y) ** 2).sum(1).mean().item(), rel=1e-10)


def test_training_stops_at_the_target_and_detects_divergence(generator):
    x = torch.randn(32, 4, generator=generator)
    y = torch.randn(32, 1, generator=generator)
    model = MLP(4, 64, 1, 1, generator=generator)
    log = train(copy.deepcopy(model), x, y, learning_rate=0.05, max_steps=5000, target_loss=0.3)
    assert log.reached_target and log.final_loss <= 0.3 and log.steps < 5000
    blown = train(copy.deepcopy(model), x, y, learning_rate=50.0, max_steps=200)
    assert blown.diverged and blown.steps < 200


def test_minibatch_training_is_reproducible_from_its_generator(generator):
    x, labels = torch.randn(40, 4, generator=generator), torch.randint(0, 3, (40,), generator=generator)
    model = MLP(4, 16, 1, 3, generator=generator)
    runs = []
    for _ in range(2):
        m = copy.deepcopy(model)
        train(m, x, labels, loss="cross_entropy", optimizer="adam", learning_rate=1e-2, max_steps=7, batch_size=8,
              generator=torch.Generator().manual_seed(3))
        runs.append(m(x).detach())
    assert_close(runs[0], runs[1], kind="exact")


def test_training_rejects_bad_input_with_clear_messages(generator):
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    model = MLP(2, 4, 1, 1, generator=generator)
    with pytest.raises(ValueError, match="valid: sgd, adam"):
        train(model, x, y, optimizer="lbfgs", learning_rate=0.1, max_steps=1)
    with pytest.raises(ValueError, match="valid: mse, cross_entropy"):
        train(model, x, y, loss="hinge", learning_rate=0.1, max_steps=1)
    with pytest.raises(ValueError, match="generator"):
        train(model, x, y, learning_rate=0.1, max_steps=1, batch_size=4)
    with pytest.raises(ValueError, match="one-hot"):
        training_loss(torch.zeros(8, 3), torch.zeros(8, dtype=torch.long), "mse")
    with pytest.raises(ValueError, match="positive"):
        train(model, x, y, learning_rate=-1.0, max_steps=1)


def test_accuracy_counts_argmax_and_sign():
    assert accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])) == 0.5
    assert accuracy(torch.tensor([[0.3], [-0.2], [0.1]]), torch.tensor([1, 0, 0])) == pytest.approx(2 / 3)


def _perturbed_pair(generator):
    model = MLP(6, 16, 2, 3, parametrization="ntk", generator=generator).double()
    initial = copy.deepcopy(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return model, initial, torch.randn(7, 6, generator=generator, dtype=torch.float64)


def test_change_measurements_match_dense_references(generator):
    model, initial, x = _perturbed_pair(generator)
    j, j0 = reference_jacobian(model, x), reference_jacobian(initial, x)
    expected_j = (torch.linalg.norm(j - j0) / torch.linalg.norm(j0)).item()
    assert jacobian_change(model, initial, x, chunk_size=3) == pytest.approx(expected_j, rel=1e-10)
    theta = torch.cat([p.reshape(-1) for p in model.parameters()])
    theta0 = torch.cat([p.reshape(-1) for p in initial.parameters()])
    assert parameter_change(model, initial) == pytest.approx(
        (torch.linalg.norm(theta - theta0) / torch.linalg.norm(theta0)).item(), rel=1e-12)
    k, k0 = reference_ntk(model, x, x), reference_ntk(initial, x, x)
    change = measure_change(model, initial, x)
    assert change.kernel == pytest.approx((torch.linalg.norm(k - k0) / torch.linalg.norm(k0)).item(), rel=1e-9)
    cosine = (k * k0).sum() / (torch.linalg.norm(k) * torch.linalg.norm(k0))
    assert change.kernel_distance == pytest.approx(1 - cosine.item(), rel=1e-8, abs=1e-12)
    assert change.jacobian == pytest.approx(expected_j, rel=1e-10)


def test_change_of_an_untouched_model_is_zero_and_architectures_must_match(generator):
    model = MLP(3, 8, 1, 2, generator=generator)
    x = torch.randn(4, 3, generator=generator)
    change = measure_change(model, copy.deepcopy(model), x)
    assert change.parameters == change.jacobian == change.kernel == 0.0
    assert change.kernel_distance == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match="same trainable parameters"):
        parameter_change(model, MLP(3, 9, 1, 2, generator=generator))


def test_kernel_distance_and_relative_error_on_known_cases(generator):
    k = torch.randn(5, 5, generator=generator, dtype=torch.float64)
    assert kernel_distance(k, 3.0 * k) == pytest.approx(0.0, abs=1e-14)   # scale invariant
    assert kernel_distance(k, -k) == pytest.approx(2.0)
    e1, e2 = torch.zeros(2, 2), torch.zeros(2, 2)
    e1[0, 0], e2[1, 1] = 1.0, 1.0
    assert kernel_distance(e1, e2) == pytest.approx(1.0)                     # orthogonal
    assert relative_frobenius_error(1.1 * k, k) == pytest.approx(0.1, rel=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        kernel_distance(k, k[:4])
    with pytest.raises(ValueError, match="zero"):
        relative_frobenius_error(k, torch.zeros_like(k))


def test_power_law_fit_recovers_exponent_and_rejects_nonpositive_values():
    x = np.array([32, 64, 128, 256, 512])
    fit = fit_power_law(x, 3.0 * x**-0.5)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12)
    np.testing.assert_allclose(fit(x), 3.0 * x**-0.5, rtol=1e-12)
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3], [1.0, 0.0, 2.0])


def test_centred_model_starts_at_zero_and_keeps_the_ntk(generator):
    net = MLP(4, 32, 2, 2, parametrization="ntk", generator=generator).double()
    centred = CenteredModel(copy.deepcopy(net))
    x = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    assert torch.equal(centred(x), torch.zeros(5, 2, dtype=torch.float64))
    assert_close(empirical_ntk(centred, x, method="jacobian"), reference_ntk(net, x, x), kind="method")
    assert sum(p.requires_grad for p in centred.parameters()) == sum(1 for _ in net.parameters())


def test_batchnorm_calibration_sets_exact_statistics(generator):
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    x = torch.randn(20, 1, 6, 6, generator=generator)
    model(x)  # materialise the lazy layer
    calibrate_batchnorm(model, x, batch_size=64)
    h = model[0](x)
    # Specific tolerance (tests/tolerances.py): float32 BatchNorm statistics.
    torch.testing.assert_close(model[1].running_mean, h.mean(dim=(0, 2, 3)), rtol=1e-5, atol=1e-6)
    # Specific tolerance (tests/tolerances.py): float32 variance.
    torch.testing.assert_close(model[1].running_var, h.var(dim=(0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-6)
    assert not model.training and model[1].momentum == 0.1


def test_scale_and_shape_change_of_a_trained_net_matches_a_dense_reference(generator):
    from lib.kernel_alignment import centered_alignment
    from lib.kernel_change import scale_and_shape_change

    x = torch.randn(12, 5, generator=generator, dtype=torch.float64)
    net = MLP(5, 32, 1, 2, generator=generator).double()
    initial = copy.deepcopy(net)
    train(net, x, torch.randn(12, 2, generator=generator, dtype=torch.float64), learning_rate=0.05, max_steps=50)
    k0, kt = (torch.einsum("nmaa->nm", reference_ntk(m, x, x)) for m in (initial, net))   # output-summed
    change = scale_and_shape_change(empirical_ntk(initial, x, mode="trace"), empirical_ntk(net, x, mode="trace"))
    assert change["scale"] == pytest.approx(float(torch.log(kt.norm() / k0.norm())), rel=1e-8)
    assert change["shape"] == pytest.approx(1 - centered_alignment(k0, kt), rel=1e-6, abs=1e-12)
    assert change["relative"] == pytest.approx(float((kt - k0).norm() / k0.norm()), rel=1e-8)

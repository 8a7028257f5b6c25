"""Chapter 1's controls against independent references: the closed-form one-hidden-layer kernel against
:func:`lib.ntk.empirical_ntk`, kernel regression against the NTK-GP mean of :mod:`lib.ntk.predict`, the linearized
arm of the NTK-GP comparison against actually training :class:`lib.ntk.linearize.LinearizedModel`, and the control
arms' configs and records."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from lib.data.synthetic import regression_1d
from lib.experiments import kernel_regime as ch1
from lib.experiments.kernel_regime import configs
from lib.experiments.kernel_regime.kernels import kernel_regression_accuracy, one_hidden_layer_ntk
from lib.models import MLP
from lib.ntk import empirical_ntk, ntk_gp_posterior
from lib.ntk.linearize import linearize
from lib.training import train

TASK = dict(dataset="mnist", pool=2, train=32, test=40, probe=8, data_seed=0)


@pytest.mark.parametrize("parametrization", ["standard", "ntk", "mup"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_closed_form_kernel_matches_the_empirical_ntk_away_from_initialization(parametrization, activation):
    g = torch.Generator().manual_seed(3)
    x1, x2 = torch.randn(7, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    model = ch1.make_network(parametrization, 5, 16, 3, 0, activation).double()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    closed, reference = one_hidden_layer_ntk(model, x2, x1), empirical_ntk(model, x2, x1, mode="trace")
    assert torch.allclose(closed, reference, rtol=1e-10, atol=1e-12 * reference.abs().max())


def test_networks_that_differ_only_in_the_activation_share_their_initial_weights():
    for p in ("standard", "ntk", "mup"):
        relu, gelu = ch1.make_network(p, 6, 8, 2, 5, "relu"), ch1.make_network(p, 6, 8, 2, 5, "gelu")
        assert all(torch.equal(a, b) for a, b in zip(relu.parameters(), gelu.parameters(), strict=True))
        x = torch.randn(3, 6)
        assert not torch.allclose(relu(x), gelu(x))


def test_kernel_regression_is_the_converged_ntk_gp_mean_and_refuses_dead_kernels():
    g = torch.Generator().manual_seed(0)
    x, xt = torch.randn(20, 4, generator=g, dtype=torch.float64), torch.randn(9, 4, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (20,), generator=g)
    y = torch.nn.functional.one_hot(labels, 3).double() - 1 / 3
    kernel = lambda a, b: torch.exp(-torch.cdist(a, b) ** 2 / 4)  # noqa: E731 - a test-local Gaussian kernel
    k, kt, ktt = kernel(x, x), kernel(xt, x), kernel(xt, xt)
    ridge = 1e-6 * k.diagonal().mean()
    mean = ntk_gp_posterior((k, kt, ktt), (k, kt, ktt), y, ridge=float(ridge)).mean
    test_labels = mean.argmax(dim=1)
    assert kernel_regression_accuracy(k, kt, y, test_labels) == 1.0
    assert kernel_regression_accuracy(k, k, y, labels) == 1.0          # interpolates its training set
    assert math.isnan(kernel_regression_accuracy(torch.zeros(20, 20), kt, y, test_labels))


def test_linearized_arm_equals_training_the_linearized_network():
    config = dict(train=6, width=32, nets=2, steps=60, depth=1, sigma_b=0.5, seed=0)
    record = ch1.gp_run(config)
    data = regression_1d(config["train"], generator=torch.Generator().manual_seed(config["seed"]))
    x, y, grid = data.x_train, data.y_train, data.x_grid
    for i in range(config["nets"]):
        g = torch.Generator().manual_seed(config["seed"] * 100_003 + 1000 * i + config["width"])
        net = MLP(1, config["width"], 1, 1, parametrization="ntk", sigma_b=0.5, generator=g).double()
        initial = copy.deepcopy(net)
        lin = linearize(net)
        with torch.no_grad():
            targets = y + initial(x)
        train(lin, x, targets, loss="mse", optimizer="sgd", learning_rate=record["learning_rate"],
              max_steps=config["steps"])
        with torch.no_grad():
            expected = (lin(grid) - initial(grid))[:, 0]
        assert torch.allclose(torch.tensor(record["linear"][i], dtype=torch.float64), expected, atol=1e-8)


def test_control_arms_pair_with_the_design_and_record_the_equal_loss_and_after_kernel_fields():
    sizes = configs.sizes_for("book")
    ctl = configs.control_configs(sizes, torch.device("cpu"))
    assert len(ctl) == len(configs.Control.values()) * len(sizes.widths) * sizes.seeds
    assert {(c["seed"], c["data_seed"]) for c in ctl} == {(s, s) for s in range(sizes.seeds)}
    assert all(c["parametrization"] == "ntk" and c["optimizer"] == "gd" and c["rate"] == configs.CONTROL_RATE
               for c in ctl)
    cat = configs.catapult_configs(sizes, torch.device("cpu"))
    assert sum(c.get("activation") == "gelu" for c in cat) == len(sizes.catapult_gelu_rates) * sizes.catapult_seeds
    assert sum(c.get("centred") is False for c in cat) == len(sizes.catapult_uncentred_rates) * sizes.catapult_seeds
    base = dict(TASK, parametrization="ntk", optimizer="gd", width=64, rate=1.0, steps=60, seed=0)
    centred = ch1.factorial_run(base)
    uncentred = ch1.factorial_run(dict(base, centred=False))
    gelu = ch1.factorial_run(dict(base, activation="gelu"))
    assert centred["losses"][0] < uncentred["losses"][0]             # the random f₀ adds to the initial loss
    for r in (centred, gelu):
        assert r["target_step"] % configs.TARGET_EVERY == 0 and r["target_loss"] <= configs.TARGET_LOSS
        assert 0 <= r["shape_at_target"] < 1 and 0 <= r["kernel_accuracy_final"] <= 1
    assert gelu["test_loss"] != centred["test_loss"] and gelu["lambda0"] != centred["lambda0"]


def test_wrn_run_measures_the_init_to_init_noise_floor():
    wrn = ch1.wrn_run(dict(dataset="fashion_mnist", widen_factor=1, train=64, test=32, epochs=1, probe=4,
                           checkpoints=2, learning_rate=0.1, momentum=0.9, weight_decay=5e-4, batch=32,
                           warmup_epochs=1, baseline_inits=2, seed=0, data_seed=0))
    assert len(wrn["baseline"]) == 2 and all(b["shape"] > 0 for b in wrn["baseline"])


def test_calibration_splits_the_distance_and_its_bootstrap_intervals_cover_exact_draws():
    from lib.experiments.kernel_regime import analysis

    rng = np.random.default_rng(1)
    mu, sd = np.linspace(-1, 1, 40), np.linspace(0.2, 1.0, 40)
    covered = 0
    for _ in range(40):                                   # exact NTK-GP draws: intervals cover 1 most of the time
        draws = mu + sd * rng.standard_normal((16, 40))
        record = dict(gp_mean=mu, gp_std=sd, plain=draws, centred=np.tile(mu + 0.1, (16, 1)),
                      linear=np.tile(mu + 0.1, (16, 1)))
        covered += analysis.calibration_intervals(record, resamples=400)["variance_ratio"].low <= 1.0
    assert covered >= 30
    stats = analysis.calibration([record])
    unit = np.sqrt((sd ** 2).mean())
    assert np.allclose(stats["net_vs_linear"], 0) and np.allclose(stats["linear_vs_gp"], 0.1 / unit)
    assert np.isclose(stats["mean_offset"][0], 0.1 / unit) and np.isclose(stats["spread"][0], 0)

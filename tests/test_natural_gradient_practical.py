"""Chapter 2's practical race and analysis: disjoint splits, the probe's C' against dense Jacobians, divergence
flagged, picks with grid-edge warnings, power-law fits and contraction rates against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lib.experiments.natural_gradient import analysis, configs, runs
from lib.jacobian_change import jacobian_gram, layer_signals
from tests.test_ntk_kernels import reference_jacobian

PRACTICAL = dict(task="mnist10", train=64, validation=32, test=40, train_eval=32, data_seed=0, depth=1, width=8,
                 batch=16, epochs=1, logs_per_epoch=2, seed=0, split="validation", probe=0)


def test_validation_split_is_disjoint_and_test_is_the_official_split():
    val = runs.load_practical_data(PRACTICAL)
    test = runs.load_practical_data({**PRACTICAL, "split": "test"})
    assert val["x_train"].shape == (64, 784) and val["x_eval"].shape == (32, 784) and test["x_eval"].shape[0] == 40
    train_rows = {tuple(r.tolist()) for r in val["x_train"]}
    assert not any(tuple(r.tolist()) in train_rows for r in val["x_eval"])
    assert torch.equal(val["x_train"], test["x_train"])


@pytest.mark.parametrize("method,extra", [("sgd", dict(learning_rate=0.1)), ("adam", dict(learning_rate=1e-3)),
                                          ("ngd", dict(learning_rate=0.3, damping=0.3)),
                                          ("kfac", dict(learning_rate=0.1, damping=1.0, curvature_every=2))])
def test_practical_run_logs_every_method(method, extra):
    result = runs.practical_run({**PRACTICAL, "method": method, **extra})
    assert result["epoch"] == [0.0, 0.5, 1.0] and len(result["eval_accuracy"]) == 3 and not result["diverged"]
    assert all(b >= a for a, b in zip(result["seconds"], result["seconds"][1:], strict=False))
    assert result["train_loss"][-1] < result["train_loss"][0]


def test_probe_stability_constant_against_dense_jacobians():
    config = {**PRACTICAL, "method": "sgd", "learning_rate": 0.1, "probe": 4, "split": "test"}
    result = runs.practical_run(config)
    data = runs.load_practical_data(config)
    initial = runs.practical_model(config, 784, 10).double()
    j0 = reference_jacobian(initial, data["x_train"][:4].double()).reshape(40, -1)
    lambda0 = torch.linalg.eigvalsh(j0 @ j0.T)[0].item()
    assert result["probe_lambda0"] == pytest.approx(lambda0, rel=1e-8)
    assert result["c_prime"] == pytest.approx(3 * max(result["probe_total"]) / math.sqrt(lambda0), rel=1e-9)
    torch.testing.assert_close(jacobian_gram(layer_signals(initial, data["x_train"][:4].double())), j0 @ j0.T)


def test_divergence_is_flagged_not_raised():
    result = runs.practical_run({**PRACTICAL, "method": "sgd", "learning_rate": 1e6})
    assert result["diverged"]
    with pytest.raises(ValueError, match="method"):
        runs.practical_run({**PRACTICAL, "method": "lbfgs", "learning_rate": 0.1})


def _record(final, diverged=False):
    return {"eval_loss": [2.0, final], "diverged": diverged, "losses": [1.0, final]}


def test_picks_warn_at_grid_edges_and_skip_diverged_runs():
    cfgs = [dict(method="sgd", learning_rate=lr) for lr in (0.01, 0.1, 1.0)]
    cfgs += [dict(method="ngd", learning_rate=lr, damping=d) for lr in (0.1, 1.0) for d in (0.1, 1.0)]
    records = [_record(0.5), _record(0.3), _record(math.nan, True), _record(0.4), _record(0.6), _record(0.2),
               _record(0.9)]
    picks, table = analysis.pick_practical(records, cfgs)
    assert picks == {"sgd": {"learning_rate": 0.1}, "ngd": {"learning_rate": 1.0, "damping": 0.1}}
    assert table[0].edges == () and set(table[1].edges) == {"learning rate at the grid's high end",
                                                              "damping at the grid's low end"}
    with pytest.raises(RuntimeError, match="diverged"):
        analysis.pick_practical([_record(math.inf, True)], [dict(method="sgd", learning_rate=0.1)])
    race_cfgs = [dict(optimizer="gd", learning_rate=lr) for lr in (0.1, 1.0)]
    rates, _ = analysis.pick_learning_rate([_record(0.5), _record(0.2)], race_cfgs)
    assert rates == {"gd": 1.0}


def test_picks_average_tuning_seeds_and_a_divergence_on_any_seed_disqualifies():
    cfgs = [dict(method="kfac", learning_rate=lr, damping=0.1, momentum=0.9, seed=s)
            for lr in (0.01, 0.03, 0.1) for s in (1000, 1001)]
    # lr 0.1 is best on seed 1000 but diverges on seed 1001; lr 0.03 has the lower mean than 0.01
    records = [_record(0.5), _record(0.7), _record(0.4), _record(0.6), _record(0.1), _record(math.nan, True)]
    picks, table = analysis.pick_practical(records, cfgs)
    assert picks == {"kfac": {"learning_rate": 0.03, "damping": 0.1, "momentum": 0.9}}
    assert table[0].score == pytest.approx(0.5) and table[0].seeds == 2
    assert table[0].edges == ("damping not tuned (one value)",)
    assert table[0].searched == "learning rate 0.01, 0.03, 0.1; damping 0.1"


def test_grids_are_extended_beyond_the_edge_a_pick_sits_on():
    assert analysis._next_value([0.01, 0.03, 0.1], high=True) == pytest.approx(0.3)
    assert analysis._next_value([0.03, 0.1, 0.3], high=True) == pytest.approx(1.0)
    assert analysis._next_value([0.01, 0.03, 0.1], high=False) == pytest.approx(0.003)
    assert analysis._next_value([0.03, 0.1], high=False) == pytest.approx(0.01)
    assert analysis._next_value([1e-3, 1e-2, 0.1, 1.0], high=False) == pytest.approx(1e-4)
    assert analysis._next_value([1e-3, 1e-2, 0.1, 1.0], high=True) == pytest.approx(10.0)
    settings = {"ngd": [dict(learning_rate=lr, damping=d) for lr in (0.1, 0.3) for d in (0.1, 1.0)],
                "sgd": [dict(learning_rate=lr) for lr in (0.01, 0.1, 1.0)]}
    records = [_record(v) for v in (0.4, 0.6, 0.2, 0.9, 0.5, 0.3, 0.4)]
    cfgs = [dict(method=m, **c) for m, grid in settings.items() for c in grid]
    picks, table = analysis.pick_practical(records, cfgs)
    extended = analysis.extend_grids(settings, table, picks)
    # ngd picked (0.3, 0.1): one more learning rate (1.0) and one more damping (0.01), each at the other's pick
    assert extended["ngd"][4:] == [dict(learning_rate=1.0, damping=0.1), dict(learning_rate=0.3, damping=0.01)]
    assert extended["sgd"] == settings["sgd"]
    interior = [_record(v) for v in (0.4, 0.6, 0.2, 0.9, 0.5, 0.3, 0.4, 0.3, 0.3)]
    cfgs = [dict(method=m, **c) for m, grid in extended.items() for c in grid]
    picks, table = analysis.pick_practical(interior, cfgs)
    assert analysis.extend_grids(extended, table, picks) is None


def test_power_fit_recovers_a_known_law_and_its_crossing():
    x = np.array([256, 1024, 4096, 16384])
    rng = np.random.default_rng(0)
    runs_ = 8.0 * (x / 256.0) ** -0.25 * np.exp(0.01 * rng.standard_normal((5, 4)))
    fit = analysis.power_fit(x, runs_, level=0.5)
    assert fit.slope.estimate == pytest.approx(-0.25, abs=0.01) and fit.slope.low < fit.slope.estimate < fit.slope.high
    assert fit.crossing.estimate == pytest.approx(256 * 16.0 ** 4, rel=0.2)
    assert fit.crossing.low <= fit.crossing.estimate <= fit.crossing.high


def test_seed_slopes_are_per_seed_least_squares_with_a_t_interval():
    x = np.array([10.0, 100.0, 1000.0])
    runs_ = np.array([x ** -0.5, 2 * x ** -0.3, 3 * x ** -0.4])
    assert np.allclose(analysis.seed_slopes(x, runs_), [-0.5, -0.3, -0.4])
    interval = analysis.seed_slope(x, runs_)
    assert interval.estimate == pytest.approx(-0.4) and interval.low < -0.4 < interval.high and interval.n == 3
    two = analysis.seed_slope(x[:2], runs_[:, :2])
    assert math.isnan(two.low) and "no interval" in two.method
    assert np.allclose(analysis.local_slopes(x, runs_[:1]), [-0.5, -0.5])


def test_contraction_and_convergence_order_of_closed_forms():
    quadratic = {"losses": [(0.5 * 10.0 ** -(2 ** k)) ** 2 / 2 for k in range(4)], "n": 1}
    r = analysis.residual_norms(quadratic)
    assert np.allclose(r, [0.5 * 10.0 ** -(2 ** k) for k in range(4)])
    assert analysis.convergence_order(r, floor=1e-30) == pytest.approx(2.0, abs=0.05)
    linear = {"losses": [0.5 * (0.9 ** k) ** 2 for k in range(6)], "n": 1}
    assert np.allclose(analysis.contraction(linear), 0.9)
    assert analysis.convergence_order(analysis.residual_norms(linear), floor=0) == pytest.approx(1.0)


def test_config_builders_cover_every_method_and_keep_tuning_seeds_apart():
    sizes = configs.sizes_for("quick")
    cpu = torch.device("cpu")
    tuning = configs.practical_tuning_configs(sizes, cpu)
    assert {c["method"] for c in tuning} == {m.value for m in configs.Method}
    tuning_seeds = set(range(configs.TUNING_SEED, configs.TUNING_SEED + sizes.tuning_seeds))
    assert {c["seed"] for c in tuning} == tuning_seeds and all(c["split"] == "validation" for c in tuning)
    book = configs.sizes_for("book")
    assert book.tuning_seeds >= 2
    assert {c["seed"] for c in configs.race_tuning_configs(book, cpu)} == set(
        range(configs.TUNING_SEED, configs.TUNING_SEED + book.tuning_seeds))
    kfac = [c for c in configs.practical_tuning_configs(book, cpu) if c["method"] == "kfac"]
    assert {(c["momentum"], c["ema"]) for c in kfac} == {(configs.KFAC_MOMENTUM, configs.KFAC_EMA)}
    picks = {m.value: {"learning_rate": 0.1, "damping": 1.0} for m in configs.Method}
    evaluation = configs.practical_configs(sizes, cpu, picks)
    assert all(c["split"] == "test" and c["seed"] not in tuning_seeds for c in evaluation)
    assert {c["epochs"] for c in evaluation if c["method"] in ("sgd", "adam")} == {sizes.first_order_epochs}


def test_a_cross_shaped_grid_is_re_searched_along_the_line_through_a_moved_pick():
    settings = {"ngd": configs._cross((0.1, 0.3, 1.0), (0.01, 0.1, 1.0))}
    assert len(settings["ngd"]) == 5
    cfgs = [dict(method="ngd", **c) for c in settings["ngd"]]
    # the damping search at lr 0.3 moves the pick to damping 1, where only lr 0.3 was tried
    scores = {(0.1, 0.1): 0.3, (0.3, 0.1): 0.25, (1.0, 0.1): 0.4, (0.3, 0.01): 0.5, (0.3, 1.0): 0.2}
    records = [_record(scores[c["learning_rate"], c["damping"]]) for c in cfgs]
    picks, table = analysis.pick_practical(records, cfgs)
    assert picks["ngd"] == {"learning_rate": 0.3, "damping": 1.0}
    assert "only this value" in table[0].edges[0] and table[0].runner_up == {"learning rate": 0.3, "damping": 0.1}
    extended = analysis.extend_grids(settings, table, picks)
    # lr re-searched on both sides at the new damping; the damping, at its grid's high end, extended past it
    assert extended["ngd"][5:] == [dict(learning_rate=0.1, damping=1.0), dict(learning_rate=1.0, damping=1.0),
                                   dict(learning_rate=0.3, damping=10.0)]


def test_asymptotic_order_and_constants_of_a_quadratic_sequence_above_a_plateau():
    from lib.experiments.natural_gradient import chapter

    r = [0.5]
    for _ in range(5):
        r.append(r[-1] ** 2)                       # r_{k+1} = r_k²: order 2, constant 1
    row = np.array(r + [1e-14, 1.2e-14, 0.9e-14])  # then a float64 plateau
    orders, steps, c_max, reach = chapter._asymptotics(np.vstack([row, row]))
    assert np.allclose(orders, 2.0) and steps == [5, 5] and c_max == pytest.approx(1.0)
    assert reach == 5                              # first residual below 1e-6 r0 = 5e-7
    linear = np.array([0.5 * 0.1 ** k for k in range(8)] + [1e-14] * 3)
    orders, _, _, _ = chapter._asymptotics(linear[None, :])
    assert orders[0] == pytest.approx(1.0)

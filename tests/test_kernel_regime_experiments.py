"""Chapter 1's experiments at toy sizes: they run, return consistent records, and show what theory says they must;
the analysis (picks, trends, calibration) on records whose answer is known."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch

from lib.experiments import kernel_regime as ch1
from lib.experiments.kernel_regime import analysis, chapter

TASK = dict(dataset="mnist", pool=2, train=32, test=40, probe=8, data_seed=0)


def test_every_profile_has_sizes_and_unknown_profiles_are_rejected():
    for profile in ("quick", "book", "paper"):
        sizes = ch1.sizes_for(profile)
        assert sizes.widths == tuple(sorted(sizes.widths)) and len(sizes.widths) >= 2
        assert sizes.convergence_widths == tuple(sorted(sizes.convergence_widths))
        assert any(c < 1 for c in sizes.catapult_rates) and any(c > 1 for c in sizes.catapult_rates)
    assert ch1.sizes_for("book").seeds >= 3       # verdicts need three repetitions
    with pytest.raises(ValueError, match="valid profiles"):
        ch1.sizes_for("huge")


def test_tuning_and_evaluation_seeds_are_disjoint_and_fixed_rates_are_always_evaluated():
    sizes = ch1.sizes_for("quick")
    tuning = ch1.tuning_configs(sizes, torch.device("cpu"))
    picks = {(c["parametrization"], c["optimizer"]): c["rate"] for c in tuning}
    evaluation = ch1.evaluation_configs(sizes, torch.device("cpu"), picks)
    assert {c["seed"] for c in tuning} == {ch1.TUNING_SEED} == {c["data_seed"] for c in tuning}
    assert ch1.TUNING_SEED not in {c["seed"] for c in evaluation} | {c["data_seed"] for c in evaluation}
    gd_rates = {c["rate"] for c in evaluation if c["optimizer"] == "gd" and c["parametrization"] == "ntk"}
    assert set(sizes.fixed_rates) <= gd_rates
    assert {c["rate"] for c in evaluation if c["optimizer"] == "adam" and c["parametrization"] == "ntk"} == \
        {picks[("ntk", "adam")]}


def test_empirical_ntk_approaches_the_analytic_kernel_with_width():
    errors = {w: ch1.empirical_vs_infinite(dict(dataset="mnist", points=12, width=w, depth=1, seed=0, data_seed=0))
              ["relative_error"] for w in (32, 2048)}
    # theory: error ∝ width^(-1/2), a factor 8 between these widths; require at least 3
    assert errors[2048] < errors[32] / 3


def test_factorial_run_ntk_gd_gets_lazier_with_width_and_mup_does_not():
    base = dict(TASK, optimizer="gd", rate=0.5, steps=60, seed=0)
    shape = {(p, w): ch1.factorial_run(dict(base, parametrization=p, width=w))["shape"]
             for p in ("ntk", "mup") for w in (32, 1024)}
    assert shape[("ntk", 1024)] < shape[("ntk", 32)] / 5          # lazy limit: the kernel stops moving
    assert shape[("mup", 1024)] > 10 * shape[("ntk", 1024)]       # μP keeps moving its kernel at width
    r = ch1.factorial_run(dict(base, parametrization="standard", width=64))
    assert math.isclose(r["learning_rate"], 0.5 * 2 * 32 / r["lambda0"])   # η = c · 2N/λ_max(Θ̂₀)
    assert not r["diverged"] and r["train_loss"] < r["losses"][0] and 0 <= r["test_accuracy"] <= 1
    assert r["edge"] < 1.0                                         # c = 0.5: inside the stability region
    assert 0 < r["active_fraction"] <= 1 and 0 <= r["dead_fraction"] < 0.5 and r["hidden_norm"] > 0


def test_factorial_run_reports_divergence_without_kernel_numbers():
    r = ch1.factorial_run(dict(TASK, optimizer="gd", parametrization="ntk", width=64, rate=50.0, steps=30, seed=0))
    assert r["diverged"] and math.isnan(r["shape"]) and math.isnan(r["test_accuracy"])


def test_catapult_run_lazy_below_the_limit_and_catapults_above_it():
    base = dict(TASK, parametrization="ntk", width=512, steps=60, every=5, seed=0)
    lazy = ch1.catapult_run(dict(base, rate=0.5))
    assert abs(lazy["lambda_ratio"] - 1) < 0.02 and lazy["peak_loss_ratio"] <= 1.0 + 1e-6
    cat = ch1.catapult_run(dict(base, rate=2.0))
    assert not cat["diverged"] and cat["peak_loss_ratio"] > 2 and cat["lambda_ratio"] < 0.8
    assert cat["edge"] < 1.0 and cat["shape"] > 10 * lazy["shape"]
    assert cat["lambda_steps"][0] == 0 and len(cat["lambdas"]) == len(cat["lambda_steps"])


def test_alpha_run_large_output_scale_is_lazier():
    base = dict(TASK, width=256, rate=0.5, steps=80, seed=0)
    small, large = (ch1.alpha_run(dict(base, alpha=a)) for a in (0.1, 10.0))
    assert not small["diverged"] and not large["diverged"]
    assert large["shape"] < small["shape"] / 100 and large["parameters"] < small["parameters"] / 10
    assert small["train_loss"] < 0.1 and large["train_loss"] < 0.1


def test_gp_run_and_wrn_run_return_consistent_records():
    pic = ch1.gp_run(dict(train=8, width=16, nets=2, steps=200, depth=1, sigma_b=0.5, seed=0))
    assert len(pic["gp_mean"]) == len(pic["grid"]) == len(pic["centred"][0]) == len(pic["plain"][1])
    assert all(s >= 0 for s in pic["gp_std"]) and max(pic["train_loss"]) < 0.5
    wrn = ch1.wrn_run(dict(dataset="fashion_mnist", widen_factor=1, train=64, test=32, epochs=2, probe=2,
                           checkpoints=2, learning_rate=0.1, momentum=0.9, weight_decay=5e-4, batch=32,
                           warmup_epochs=1, seed=0, data_seed=0))
    assert wrn["steps"] == 4 and [r["step"] for r in wrn["checkpoints"]] == [0, 4]
    start, end = wrn["checkpoints"]
    assert start["scale"] == 0 and abs(start["shape"]) < 1e-12 and end["relative"] > 0
    assert wrn["parameters_count"] > 100_000


def _tuning_records():
    configs, records = [], []
    for width, scale in ((64, 1.0), (128, 0.5)):
        losses = {0.5: 0.3, 1.0: 0.1, 2.0: 0.05 if width == 64 else float("nan")}   # 2.0 diverged at width 128
        for rate, loss in losses.items():
            configs.append(dict(parametrization="ntk", optimizer="gd", width=width, rate=rate))
            records.append(dict(train_loss=scale * loss, diverged=math.isnan(loss)))
        for rate, loss in {1e-3: 0.2, 1e-2: 0.05}.items():  # the best Adam rate is the largest: an edge warning
            configs.append(dict(parametrization="ntk", optimizer="adam", width=width, rate=rate))
            records.append(dict(train_loss=scale * loss, diverged=False))
    return records, configs


def test_picks_are_one_rate_per_cell_skip_rates_that_diverged_anywhere_and_warn_at_edges():
    picks, rows = analysis.pick_rates(*_tuning_records())
    assert picks[("ntk", "gd")] == 1.0 and picks[("ntk", "adam")] == 1e-2
    by = {r.optimizer: r for r in rows}
    assert by["gd"].warning == "" and by["gd"].diverged == (2.0,)
    assert math.isclose(by["gd"].train_loss, math.sqrt(0.1 * 0.05))           # geometric mean over widths
    assert "high end" in by["adam"].warning
    table = analysis.picks_table(rows)
    assert "1 × 2N/λ₀" in table and "high end" in table
    records, configs = _tuning_records()
    for r, c in zip(records, configs, strict=False):
        if c["optimizer"] == "gd" and c["width"] == 64:
            r["diverged"] = True
    with pytest.raises(RuntimeError, match="diverged"):
        analysis.pick_rates(records, configs)


def test_width_trends_find_a_known_slope_and_skip_diverged_slices():
    widths = [64, 128, 256, 512]
    rng = np.random.default_rng(0)
    known = (10.0 ** (-1.0 * np.log10(widths)))[None, :] * np.exp(0.01 * rng.standard_normal((4, 4)))
    broken = np.ones((4, 4))
    broken[0, 2] = np.nan
    slices = {("standard", "gd", 1.0): {"shape": known}, ("ntk", "sgd", 1.0): {"shape": broken},
              ("mup", "gd", 1.0): {"shape": np.ones((4, 4)) + 0.01 * rng.standard_normal((4, 4))}}
    trends = analysis.width_trends(widths, slices)
    interval, p = trends[("standard", "gd", 1.0)]
    assert interval.low < -0.95 and interval.high > -1.05 and interval.high < 0
    assert ("ntk", "sgd", 1.0) not in trends and len(trends) == 2


def test_calibration_of_exact_ntk_gp_draws_is_one():
    rng = np.random.default_rng(0)
    mu, sd = np.linspace(-1, 1, 50), np.linspace(0.2, 1.0, 50)
    draws = mu + sd * rng.standard_normal((4000, 50))
    stats = analysis.calibration([dict(gp_mean=mu, gp_std=sd, plain=draws, centred=np.tile(mu, (3, 1)))])
    assert abs(stats["z2"].mean() - 1) < 0.02 and abs(stats["coverage"].mean() - 0.954) < 0.01
    assert abs(stats["variance_ratio"][0] - 1) < 0.05 and np.all(stats["centred_rms"] == 0)


def test_run_chapter_has_the_documented_signature():
    params = inspect.signature(chapter.run_chapter).parameters
    assert list(params)[:3] == ["profile", "device", "cache"] and params["seed"].default == 0
    assert params["seed"].kind is inspect.Parameter.KEYWORD_ONLY

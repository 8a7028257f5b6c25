"""Chapter 5's experiments at toy sizes: invariants, and agreement with independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lib.experiments import scaling_laws as ch5
from lib.experiments.scaling_laws import runs
from lib.models import CenteredModel
from lib.models.mean_field import mean_field_mlp
from lib.ntk import empirical_ntk, gradient_descent_mse, relu_ntk
from lib.training import train

CPU = torch.device("cpu")
BASE = dict(task="mnist10", sizes=[32, 64], test=40, validation=30, width=32, depth=1, seed=0, data_seed=0)


def test_network_run_records_every_size_and_split():
    config = dict(BASE, split="validation", recipe="centred", schedule=[[32, 1e-3, 10], [64, 1e-3, 10]],
                  checkpoints=[5, 10])
    r = ch5.network_run(config)
    assert r["sizes"] == [32, 64] and len(r["eval_error"]) == 2 and not any(r["diverged"])
    assert all(0 <= e <= 1 for e in r["eval_error"] + r["train_error"]) and r["steps"] == [10, 10]
    assert r["checkpoint_error"][0][1] == pytest.approx(r["eval_error"][0])  # the last checkpoint is the end
    with pytest.raises(ValueError, match="every size"):
        ch5.network_run(dict(config, schedule=[[32, 1e-3, 10]]))
    with pytest.raises(ValueError, match="checkpoints go to step"):
        ch5.network_run(dict(config, checkpoints=[5, 20]))


def test_centred_recipe_is_the_network_minus_its_initial_function():
    task = ch5.load_task("mnist10", 48, 10, 0, CPU)
    x, y = task.x_train, task.y_train
    model = ch5.make_network(task, dict(width=16, depth=1, seed=3))
    untouched = ch5.make_network(task, dict(width=16, depth=1, seed=3))
    # zero steps: the centred function is exactly zero
    ch5.fit_network(model, x, y, recipe="centred", learning_rate=1e-3, steps=0, seed=0)
    assert torch.equal(runs.centred_outputs(model, untouched, x), torch.zeros(48, 10))
    # training f on y + f0 follows the same path as training CenteredModel(f) on y
    reference = CenteredModel(ch5.make_network(task, dict(width=16, depth=1, seed=3)))
    ch5.fit_network(model, x, y, recipe="centred", learning_rate=1e-3, steps=3, seed=0)
    train(reference, x, y, loss="mse", optimizer="adam", learning_rate=1e-3, max_steps=3,
          batch_size=48, generator=torch.Generator().manual_seed(48))
    torch.testing.assert_close(runs.centred_outputs(model, untouched, x), reference(x).detach(), rtol=1e-4,
                               atol=1e-5)


def test_tiled_infinite_ntk_equals_the_direct_kernel():
    x = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    tiled = ch5.infinite_ntk(x, depth=2, width=64, tile=3)
    direct = relu_ntk(x, depth=2, parametrization="standard", width=64, bias=True)[1]
    torch.testing.assert_close(tiled, direct, rtol=1e-13, atol=1e-13)
    assert torch.equal(tiled, tiled.T)


def test_kernel_run_and_spectrum_run():
    r = ch5.kernel_run(dict(BASE, split="test", kernel="infinite_ntk", ridges=[1e-6, 1e-1]))
    assert np.array(r["eval_error"]).shape == (2, 2) and r["ridges"] == [1e-6, 1e-1]
    assert r["train_error"][0][1] <= 0.05  # a tiny ridge interpolates the training set
    assert r["eval_error"][0][1] < 0.9     # 64 MNIST images: clearly better than chance
    s = ch5.spectrum_run(dict(task="mnist10", points=50, kernel="empirical_ntk", width=16, depth=1, seed=0,
                              data_seed=0, control_sizes=[10, 20], control_ridges=[1e-3, 1e-3], control_repeats=2))
    assert len(s["eigenvalues"]) == 50 and s["eigenvalues"] == sorted(s["eigenvalues"], reverse=True)
    assert np.array(s["control_mse"]).shape == (2, 2)
    task = ch5.load_task("mnist10", 50, 1, 0, CPU)
    assert sum(s["power"]) == pytest.approx(float(task.y_train.double().pow(2).sum(1).mean()), rel=1e-9)


def test_linearized_gd_matches_the_closed_form():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(12, 12, dtype=torch.float64, generator=g)
    k_all = a @ a.T
    k_train, k_test = k_all[:8, :8], k_all[8:, :8]
    y = torch.randn(8, 1, dtype=torch.float64, generator=g)
    step = 0.9 / float(torch.linalg.eigvalsh(k_train)[-1])
    ours = runs._linearized_gd(k_train, k_test, y.reshape(-1), step, 25)
    dynamics = gradient_descent_mse(k_train, y, learning_rate=step)
    closed = dynamics.test(torch.zeros(4, 1, dtype=torch.float64), k_test, torch.zeros(8, 1, dtype=torch.float64),
                           25, steps=True)
    torch.testing.assert_close(ours, closed.reshape(-1), rtol=1e-9, atol=1e-10)
    assert runs._top_eigenvalue(k_train) == pytest.approx(float(torch.linalg.eigvalsh(k_train)[-1]), rel=1e-8)


@pytest.mark.parametrize("parametrization", ["standard", "ntk", "mean_field"])
def test_width_run_fields(parametrization):
    r = ch5.width_run(dict(task="mnist10", sizes=[24], test=20, width=16, parametrization=parametrization, steps=5,
                           c=1.0, seed=0, data_seed=0))
    assert r["sizes"] == [24] and 0 <= r["error"][0] <= 1 and r["distance_to_linearized"][0] >= 0
    assert math.isnan(r["distance_to_infinite"][0]) == (parametrization == "mean_field")


def test_mean_field_scales():
    x = torch.randn(6, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    traces = []
    for width in (64, 4096):
        model = mean_field_mlp(10, width, 1, generator=torch.Generator().manual_seed(0)).double()
        traces.append(float(empirical_ntk(model, x, mode="trace").diagonal().mean()))
    assert traces[0] / traces[1] == pytest.approx(64, rel=0.2)  # the NTK is O(1/width)


def test_evolution_invariants():
    r = ch5.evolution_run(dict(task="mnist10", train=32, test=20, width=16, depth=1, learning_rate=1e-3, steps=6,
                               checkpoints=4, ridge=1e-3, seed=0, data_seed=0, after_sizes=[32, 48],
                               after_ridges=[1e-3, 1e-3], block_points=8))
    assert r["steps"][0] == 0 and r["steps"] == sorted(set(r["steps"]))
    assert r["cka_to_init"][0] == pytest.approx(1.0) and r["overlap_to_init"][0] == pytest.approx(1.0)
    assert r["fort_to_final"][-1] == pytest.approx(0.0, abs=1e-12) and r["scale_to_init"][0] == 1.0
    assert r["centred_scale"][0] == pytest.approx(1.0) and r["shape_change"][0] == pytest.approx(0.0, abs=1e-9)
    assert len(r["after_error"]) == len(r["initial_error"]) == 2 and len(r["block_deviation"]) == 2
    assert len(r["full_kernel_error"]) == len(r["trace_kernel_error"]) == 2


def test_picks_choose_the_minimum_and_flag_grid_edges():
    configs = [dict(recipe=rc, schedule=[[32, lr, 40], [64, lr, 40]]) for rc in ("uncentred", "centred")
               for lr in (1e-3, 3e-3)]
    records = []
    for c in configs:
        lr = c["schedule"][0][1]
        good = [0.4, 0.3] if lr == 3e-3 else [0.5, 0.45]
        records.append(dict(sizes=[32, 64], checkpoints=[20, 40], checkpoint_error=[good, [float("nan"), 0.2]]
                            if lr == 3e-3 else [good, [0.3, 0.25]]))
    schedules, picks = ch5.pick_network_schedules(records, configs)
    assert schedules["centred"][0] == [32, 3e-3, 40] and schedules["centred"][1] == [64, 3e-3, 40]
    assert any("high end" in e for e in picks[0].edges) and "learning rate" in ch5.picks_table(picks)
    ridge_records = [dict(sizes=[32], ridges=[1e-4, 1e-2], eval_error=[[0.3], [0.2]])]
    ridges, _ = ch5.pick_ridges(ridge_records, [dict(kernel="infinite_ntk")])
    assert ridges["infinite_ntk"][32] == 1e-2
    failed = [dict(sizes=[32], ridges=[1e-8, 1e-2], eval_error=[[float("nan")], [0.4]])]
    assert ch5.pick_ridges(failed, [dict(kernel="empirical_ntk")])[0]["empirical_ntk"][32] == 1e-2


def test_learner_runs_and_paired_comparison():
    net_configs = [dict(recipe=rc, data_seed=d, seed=s) for rc in ("uncentred", "centred") for d in range(3)
                   for s in range(2)]
    net_records = [dict(eval_error=[0.3 + 0.1 * (c["recipe"] == "uncentred") + 0.01 * c["data_seed"], 0.2],
                        eval_mse=[1, 1], train_error=[0, 0]) for c in net_configs]
    k_configs = [dict(kernel="empirical_ntk", data_seed=d, seed=s) for d in range(3) for s in range(2)]
    k_configs += [dict(kernel="infinite_ntk", data_seed=d, seed=0) for d in range(3)]
    k_records = [dict(sizes=[32, 64], ridges=[1e-3], eval_error=[[0.35, 0.25]], eval_mse=[[1, 1]],
                      train_error=[[0, 0]]) for _ in k_configs]
    ridges = {"empirical_ntk": {32: 1e-3, 64: 1e-3}, "infinite_ntk": {32: 1e-3, 64: 1e-3}}
    learners = ch5.learner_runs(net_records, net_configs, k_records, k_configs, ridges)
    assert learners["network (centred)"].test_error.shape == (6, 2)
    assert learners["infinite_ntk"].by_draw().shape == (3, 2)
    (first, p_first), _ = ch5.paired_by_draw(learners["network (uncentred)"], learners["network (centred)"])
    assert first.estimate == pytest.approx(0.1) and first.n == 3
    from lib.experiments.scaling_laws.analysis import exponent_difference, exponent_fit

    sizes = [32, 64]
    fit = exponent_fit(sizes, learners["network (centred)"])
    expected = [-np.polyfit(np.log(sizes), np.log([0.3 + 0.01 * d, 0.2]), 1)[0] for d in range(3)]
    assert fit.exponent == pytest.approx(np.mean(expected)) and fit.n == 3 and "t-interval" in fit.method
    gap = exponent_difference(sizes, learners["network (uncentred)"], learners["network (centred)"])
    assert gap.n == 3 and gap.estimate > 0


def test_unknown_task_and_sizes_tables():
    with pytest.raises(ValueError, match="valid: mnist10, fashion_shirts"):
        ch5.load_task("cifar5m", 10, 10, 0, CPU)
    for profile in ("quick", "book", "paper"):
        s = ch5.sizes_for(profile)
        assert s.spectrum_points > max(s.sizes) and s.draws >= 2 and s.seeds >= 2
    book = ch5.sizes_for("book")
    assert book.draws >= 5 and book.seeds >= 3  # the minimum for the published verdicts
    tasks, messages = ch5.tasks_to_run(book, profile="book", device=CPU)
    assert tasks == ["mnist10"] and "CIFAR-10, cat vs dog: skipped" in messages[0]


def test_sweep_configs_are_disjoint_from_evaluation():
    s = ch5.sizes_for("quick")
    tuning = ch5.network_tuning_configs(s, "mnist10", CPU) + ch5.kernel_tuning_configs(s, "mnist10", CPU)
    assert all(c["data_seed"] == ch5.TUNING_DRAW and c["split"] == "validation" for c in tuning)
    schedules = {r: [[n, 1e-3, 10] for n in s.sizes] for r in ("uncentred", "centred")}
    evaluation = ch5.network_evaluation_configs(s, "mnist10", CPU, schedules)
    evaluation += ch5.kernel_evaluation_configs(s, "mnist10", CPU)
    assert all(c["data_seed"] < s.draws and c["split"] == "test" for c in evaluation)
    assert len(ch5.width_configs(s, "mnist10", CPU)) == 3 * len(s.widths) * s.width_seeds


def test_chapter_stages_summaries_and_the_notebook_templates(tmp_path):
    """The chapter's stages at toy sizes, and every say() template of the notebook filled from their summaries."""
    import dataclasses
    import json
    import re
    from pathlib import Path

    from lib.cache import ResultsCache
    from lib.experiments.scaling_laws import chapter
    from lib.notebook import fill

    sizes = dataclasses.replace(
        ch5.sizes_for("quick"), sizes=(32, 64, 128), test=50, validation=50, width=16, depth=1, draws=3, seeds=2,
        learning_rates=(1e-3, 3e-3), steps=(5, 10), ridges=(1e-3,), spectrum_points=520, width_sizes=(32,),
        widths=(16, 32), width_seeds=3, width_steps=5, width_test=20, evolution_train=64, evolution_test=30,
        evolution_checkpoints=3, evolution_seeds=3)
    cache = ResultsCache(tmp_path)
    tuning = chapter.tune(sizes, "mnist10", CPU, cache)
    scaling = chapter.data_scaling(sizes, "mnist10", CPU, cache, tuning)
    spectral = chapter.spectral_prediction(sizes, "mnist10", CPU, cache, tuning, scaling)
    width = chapter.width_scaling(sizes, "mnist10", CPU, cache)
    evolution = chapter.kernel_evolution(sizes, "mnist10", CPU, cache, tuning)
    values = {"sizes": sizes}
    values.update(chapter.findings_summary(scaling, spectral, width, evolution, sizes))
    assert spectral.sizes == [32, 64, 128] and width.distance["ntk"].shape == (3, 2)
    notebook = json.loads((Path(__file__).resolve().parents[1] / "chapters" / "05_scaling_laws.ipynb").read_text())
    templates = [m.group(1) for c in notebook["cells"] if c["cell_type"] == "code"
                 for m in re.finditer(r"say\(r'''(.*?)'''", "".join(c["source"]), re.S)]
    assert len(templates) >= 5
    for template in templates:
        assert "What the runs show" in fill(template, values) or template.lstrip().startswith("-")  # no KeyError

"""Chapter 4's experiments: runs against their own accuracy matrices, picks against hand-made tuning curves, the
adjusted width effect against data with known coefficients, and every stage at toy sizes filling the notebook."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lib.continual import average_forgetting, learned_minus_final
from lib.experiments import forgetting as ch4
from lib.experiments.forgetting import analysis

CPU = torch.device("cpu")
TINY = dict(run="rotated", depth=1, n_train=20, n_test=10, width=8, parametrization="standard",
            learning_rate=0.05, epochs=2, seed=0, data_seed=0, probe_per_task=2)


def test_sequence_run_is_consistent_with_its_accuracy_matrix():
    r = ch4.sequence_run(TINY)
    a = np.array(r["accuracy"])
    assert a.shape == (5, 5) and r["steps"] == [2 * math.ceil(20 / ch4.BATCH)] * 5 and not r["diverged"]
    assert r["average_forgetting"] == pytest.approx(average_forgetting(a))
    assert r["learned_minus_final"] == pytest.approx(learned_minus_final(a).mean())
    assert r["backward_transfer"] == pytest.approx(-r["learned_minus_final"])
    assert all(len(curve) == 2 for curve in r["train_curve"]) and r["steps_per_epoch"] == 1
    assert len(r["kernel_shape_change"]) == 5 and len(r["kernel_log_scale"]) == 5   # task 1 included
    p = np.array(r["pair_forgetting"], dtype=float)
    assert p[0, 1] == pytest.approx(a[0, 0] - a[1, 0])
    np.testing.assert_equal(r, ch4.sequence_run(TINY))   # seeds make it reproducible (nan == nan here)
    ntk = ch4.sequence_run({**TINY, "parametrization": "ntk", "probe_per_task": 0})
    assert ntk["kernel_shape_change"] == [] and not ntk["diverged"]
    with pytest.raises(ValueError, match="Unknown run"):
        ch4.sequence_run({**TINY, "run": "split_svhn"})


def test_divergence_is_recorded_not_raised():
    r = ch4.sequence_run({**TINY, "learning_rate": 1e7, "probe_per_task": 0})
    assert r["diverged"] and "lower the learning rate" in r["message"] and np.isnan(r["accuracy"][0][0])


def test_kernel_run_interpolates_each_task_at_infinite_time():
    config = dict(run="rotated", depth=1, n_train=15, n_test=10, times=[1.0, math.inf], overlap_points=10,
                  data_seed=0)
    r = ch4.kernel_run(config)
    assert np.array(r["accuracy"]).shape == (2, 5, 5) and r["times"][-1] == math.inf
    assert r["train_accuracy"][-1] == [1.0] * 5 and max(r["train_loss"][-1]) < 1e-8
    assert r["learning_accuracy"][0] < r["learning_accuracy"][1]      # longer training fits more
    rho = np.array(r["overlap_centred"])
    assert np.allclose(np.diag(rho), 1.0) and np.allclose(rho, rho.T) and (rho[np.triu_indices(5, 1)] < 1).all()
    with pytest.raises(ValueError, match="MLP run"):
        ch4.kernel_run({**config, "run": "split_cifar10_task"})


def _tuning(accuracy: dict[tuple[int, float], float]):
    configs = [dict(arm="standard-matched", width=w, learning_rate=lr) for (w, lr) in accuracy]
    records = [dict(learning_accuracy=a, diverged=False) for a in accuracy.values()]
    return records, configs


def test_picks_interpolate_in_log_learning_rate_and_warn_at_grid_edges():
    accuracy = {(8, 0.01): 0.5, (8, 0.04): 0.7, (8, 0.16): 0.9,     # target 0.8 between 0.04 and 0.16
                (16, 0.01): 0.85, (16, 0.04): 0.9, (16, 0.16): 0.95,   # already above at the low end
                (32, 0.01): 0.3, (32, 0.04): 0.4, (32, 0.16): 0.5}     # never reaches it
    records, configs = _tuning(accuracy)
    rates, picks = analysis.pick_learning_rates(records, configs, 0.8, shared=False)
    assert rates[8] == pytest.approx(0.08)     # halfway in log between 0.04 and 0.16
    assert picks[0].bracket == (0.04, 0.7, 0.16, 0.9)
    assert rates[16] == 0.01 and "low end" in picks[1].warning
    assert rates[32] == 0.16 and "not reached" in picks[2].warning and picks[0].warning == ""
    shared, [pick] = analysis.pick_learning_rates(records, configs, 0.7, shared=True)
    assert set(shared.values()) == {pick.learning_rate} and pick.width is None
    # mean over widths: 0.533 at 0.01, 0.667 at 0.04, 0.783 at 0.16 -> between 0.04 and 0.16
    assert 0.04 < pick.learning_rate < 0.16


def test_steps_to_target_and_interpolation():
    steps, reached = analysis.steps_to_target({"train_curve": [[0.5, 0.99], [0.995], [0.1, 0.2]],
                                              "steps_per_epoch": 7}, 0.99)
    assert steps == [14, 7, None] and reached == 2
    assert analysis.interpolate_at([0.1, 0.5, 0.9], [1.0, 3.0, 5.0], 0.7) == pytest.approx(4.0)
    assert math.isnan(analysis.interpolate_at([0.1, 0.2], [1.0, 2.0], 0.9))
    assert analysis.pair_correlation([[1, 0.9, 0.5], [0.9, 1, 0.8], [0.5, 0.8, 1]],
                                     [[np.nan, 3, 1], [np.nan, np.nan, 2], [np.nan] * 3]) == pytest.approx(1.0)


def test_slope_and_correlation_intervals():
    widths = [10, 100, 1000]
    runs = np.array([[3.0, 2.0, 1.0], [3.2, 2.0, 0.9], [2.8, 2.1, 1.1]])
    interval = analysis.slope_interval(widths, runs)
    assert interval.estimate == pytest.approx(-1.0, abs=0.01) and interval.low < -1.0 < interval.high
    assert interval.method.startswith("t over per-seed")
    relative = analysis.slope_interval(widths, np.exp(runs), log_values=True)
    assert relative.estimate == pytest.approx(-1.0, abs=0.01)
    corr = analysis.correlation_interval([0.9, 0.95, 0.85])
    assert -1 < corr.low < corr.estimate < corr.high < 1            # Fisher z keeps it inside [-1, 1]
    assert analysis.correlation_interval([0.5]) is None
    assert analysis.pearson_pairs([[0, 1, 2], [0, 0, 3], [0, 0, 0]], [[0, 2, 4], [0, 0, 6], [0, 0, 0]]) == \
        pytest.approx(1.0)


def test_configs_keep_tuning_apart_from_evaluation_and_sizes_meet_the_brief():
    book = ch4.sizes_for("book")
    assert book.n_train >= 2000 and book.seeds >= 5 and len(book.epochs) >= 3
    tuning = ch4.tuning_configs(book, CPU, "standard-matched")
    evaluation = ch4.evaluation_configs(book, CPU, "ntk", {w: 1.0 for w in book.widths})
    assert {c["seed"] for c in tuning}.isdisjoint({c["seed"] for c in evaluation})
    assert {c["data_seed"] for c in tuning}.isdisjoint({c["data_seed"] for c in evaluation})
    assert all(c["seed"] == c["data_seed"] for c in evaluation)    # every seed has its own data draw
    refine = ch4.tuning_configs(book, CPU, "ntk", around={w: 2.0 for w in book.widths})
    assert sorted({c["learning_rate"] for c in refine})[0] == pytest.approx(2.0 * 2 ** -0.25, rel=1e-5)
    runs, messages = ch4.runs_to_do(book, profile="book", device=CPU)
    assert all(r in ch4.OPTIONAL_RUNS for r in runs) and len(runs) + len(messages) == len(book.image_runs)
    with pytest.raises(ValueError, match="arm"):
        ch4.tuning_configs(book, CPU, "mean-field")


def test_chapter_stages_summaries_and_the_notebook_templates(tmp_path):
    """The chapter's stages at toy sizes, and every say() template of the notebook filled from their summaries."""
    from lib.cache import ResultsCache
    from lib.experiments.forgetting import chapter
    from lib.notebook import fill

    sizes = dataclasses.replace(
        ch4.sizes_for("quick"), widths=(8, 16), depth=1, seeds=3, tuning_seeds=1, n_train=16, n_test=10,
        epochs=(1, 2), target=0.3, matched_grid=(0.02, 0.2), ntk_grid=(1.0, 10.0), probe_per_task=2,
        kernel_times=(1.0, 100.0), overlap_points=8)
    cache = ResultsCache(tmp_path)
    scale = chapter.kernel_scale(sizes, CPU, cache)
    tuning = chapter.tune(sizes, CPU, cache)
    sweep = chapter.width_sweep(sizes, CPU, cache, tuning)
    kernel = chapter.kernel_baseline(sizes, CPU, cache)
    front = chapter.frontier(sizes, CPU, cache, tuning)
    lin = chapter.linearized_control(sizes, CPU, cache, tuning)
    values = chapter.findings_summary(scale, tuning, sweep, kernel, front, lin, sizes, "quick")
    one = chapter.mup_one_rate(sizes, CPU, cache, tuning)
    values |= chapter.mup_one_rate_summary(one, sweep, sizes) | {"w_max": sizes.widths[-1]}
    assert one.values["average_forgetting"].shape == (3, 2) and one.shape.shape == (3, 2)
    assert one.base_rate == tuning.rates["ntk"][8]      # the NTK arm's single rate, for every width
    at_base = dataclasses.replace(sizes, widths=(ch4.MUP_BASE_WIDTH,), seeds=1)
    rate = {ch4.MUP_BASE_WIDTH: one.base_rate}
    base = chapter.configs.evaluation_configs(at_base, CPU, "ntk", rate, epochs=(1,))[0]
    mup_base = chapter.configs.evaluation_configs(at_base, CPU, "mup", rate, epochs=(1,))[0]
    ntk_run, mup_run = cache.run(chapter.runs.sequence_run, base), cache.run(chapter.runs.sequence_run, mup_base)
    assert mup_run["accuracy"] == ntk_run["accuracy"]   # at the base width μP at this rate IS the NTK network
    assert set(front.at["ntk"]) == set(front.levels) and front.at["ntk"][front.levels[0]].shape == (3, 2)
    assert lin.values["average_forgetting"].shape == (3, 2)
    assert sweep.values["ntk"][2]["average_forgetting"].shape == (3, 2) and kernel.forgetting.shape == (3, 3)
    assert scale.standard[1] > scale.standard[0]       # the standard-parametrization NTK grows with width
    assert "| standard-matched | 8 |" in chapter.picks_table(tuning)
    assert chapter.picks_table(tuning.picks) == chapter.picks_table(tuning)
    from lib.experiments.forgetting import text

    notebook = json.loads((Path(__file__).resolve().parents[1] / "chapters" / "04_forgetting.ipynb").read_text())
    source = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    templates = [m.group(1) for m in re.finditer(r'say\(r"""(.*?)"""', source, re.S)]
    used = set(re.findall(r"say\(text\.([A-Z_]+),", source))
    assert used == set(text.TEMPLATES) and len(used) >= 10      # every template is shown, none is missing
    for template in templates + list(text.TEMPLATES.values()):
        assert fill(template, values)       # no KeyError: every field is computed
    assert "μP" in values["u_verdict"] or "inconclusive" in values["u_verdict"]
    assert 0 <= values["ov_analytic"] <= 1 and np.isfinite(values["share_kernel"])


def test_linearized_run_trains_the_linearization_and_starts_from_the_same_function():
    lin = ch4.sequence_run({**TINY, "linearize": True, "probe_per_task": 0})
    net = ch4.sequence_run({**TINY, "probe_per_task": 0})
    assert not lin["diverged"] and np.array(lin["accuracy"]).shape == (5, 5)
    assert lin["accuracy"] != net["accuracy"]        # a different learner...
    config = dict(run="rotated", data_seed=0, n_train=4, n_test=2)
    from lib.ntk import linearize

    seq = ch4.load_sequence(config["run"], 0, 4, 2)
    model = ch4.build_model("mlp", 8, 1, 10, (1, 28, 28), seed=0)
    x = seq.tasks[0].x_train
    torch.testing.assert_close(linearize(model)(x), model(x))    # ...from the same initial function


def test_mup_is_the_ntk_network_at_the_base_width_and_rescales_readout_and_step_above_it():
    """μP against the NTK parametrization: the same network and step at the base width; at 4× the base width the
    same weights give outputs / 2 (readout ∝ 1/m) and the step is 4× the base rate."""
    base = ch4.MUP_BASE_WIDTH
    x = ch4.load_sequence("rotated", 0, 4, 2).tasks[0].x_train
    for width, factor in ((base, 1.0), (4 * base, 2.0)):
        mup = ch4.build_model("mlp", width, 2, 10, (1, 28, 28), seed=0, parametrization="mup")
        ntk = ch4.build_model("mlp", width, 2, 10, (1, 28, 28), seed=0, parametrization="ntk")
        torch.testing.assert_close(mup(x) * factor, ntk(x))
        config = {**TINY, "width": width, "parametrization": "mup", "learning_rate": 0.5}
        assert ch4.effective_learning_rate(config) == pytest.approx(0.5 * factor ** 2)
    assert ch4.effective_learning_rate({**TINY, "parametrization": "ntk", "learning_rate": 0.5}) == 0.5
    small = {**TINY, "width": base, "depth": 1, "probe_per_task": 2, "learning_rate": 1.0}
    mup_run = ch4.sequence_run({**small, "parametrization": "mup"})
    ntk_run = ch4.sequence_run({**small, "parametrization": "ntk"})
    assert mup_run["accuracy"] == ntk_run["accuracy"] and len(mup_run["output_drift"]) == 5
    tuning = ch4.tuning_configs(ch4.sizes_for("quick"), CPU, "mup")
    assert {c["parametrization"] for c in tuning} == {"mup"} and {c["held_out"] for c in tuning} == {"validation"}



def test_block_overlap_drift_share_and_pairs_against_hand_made_matrices():
    """Block overlaps against lib.continual.cross_task_overlap on the same inputs (a linear kernel), and the drift
    summaries against hand-computed values."""
    from lib.continual import cross_task_overlap

    g = torch.Generator().manual_seed(0)
    inputs = [torch.randn(3, 4, generator=g, dtype=torch.float64) + k for k in range(3)]
    x = torch.cat(inputs)
    kernel = (x @ x.T).numpy()
    reference = cross_task_overlap(lambda a, b: a @ b.T, inputs, centred=True)
    np.testing.assert_allclose(analysis.block_overlap(kernel, 3), reference, rtol=1e-10)
    during = analysis.overlap_during([kernel, 2 * kernel, kernel], 3)
    assert np.isnan(during[1, 0]) and during[0, 1] == pytest.approx(reference[0, 1])   # scale-free
    assert during[1, 2] == pytest.approx(reference[1, 2])
    with pytest.raises(ValueError, match="task blocks"):
        analysis.block_overlap(kernel[:8, :8], 3)
    drift = [[2.0, 9.0, 9.0], [1.0, 4.0, 9.0], [3.0, 1.0, 8.0]]       # row: task trained; column: task measured
    assert analysis.drift_share(drift) == pytest.approx(np.mean([1.0, 3.0, 1.0]) / np.mean([2.0, 4.0, 8.0]))
    pairs = analysis.drift_pairs(drift)
    assert pairs[0, 1] == pytest.approx(1.0 / 4.0) and pairs[0, 2] == pytest.approx(3.0 / 8.0)
    assert pairs[1, 2] == pytest.approx(1.0 / 8.0) and np.isnan(pairs[1, 0]) and np.isnan(pairs[0, 0])


def test_mup_kernel_moves_about_as_much_at_every_width_while_the_ntk_kernel_settles():
    """μP's defining property at one base rate: the kernel's movement over a task shrinks with width much less than
    the NTK parametrization's (toy size, one hidden layer, three steps per task: from width 32 to 512 the NTK
    kernel's movement falls by about 0.7 decades, μP's by about 0.4)."""
    base = dict(run="rotated", depth=1, n_train=96, n_test=8, learning_rate=1.0, epochs=1, seed=0, data_seed=0,
                probe_per_task=2)
    change = {}
    for parametrization in ("mup", "ntk"):
        shapes = [np.mean(ch4.sequence_run({**base, "parametrization": parametrization, "width": w})
                          ["kernel_shape_change"]) for w in (32, 512)]
        change[parametrization] = math.log10(shapes[1] / shapes[0])      # decades of change over 1.2 decades
    assert change["ntk"] < -0.3 and change["mup"] - change["ntk"] > 0.15

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
    assert sorted({c["learning_rate"] for c in refine})[0] == pytest.approx(2.0 * 2 ** -0.5, rel=1e-5)
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
    assert set(front.at["ntk"]) == set(front.levels) and front.at["ntk"][front.levels[0]].shape == (3, 2)
    assert lin.values["average_forgetting"].shape == (3, 2)
    assert sweep.values["ntk"][2]["average_forgetting"].shape == (3, 2) and kernel.forgetting.shape == (3, 3)
    assert scale.standard[1] > scale.standard[0]       # the standard-parametrization NTK grows with width
    assert "| standard-matched | 8 |" in chapter.picks_table(tuning)
    assert chapter.picks_table(tuning.picks) == chapter.picks_table(tuning)
    notebook = json.loads((Path(__file__).resolve().parents[1] / "chapters" / "04_forgetting.ipynb").read_text())
    templates = [m.group(1) for c in notebook["cells"] if c["cell_type"] == "code"
                 for m in re.finditer(r'say\(r"""(.*?)"""', "".join(c["source"]), re.S)]
    assert len(templates) >= 7
    for template in templates:
        assert fill(template, values)       # no KeyError: every field is computed


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

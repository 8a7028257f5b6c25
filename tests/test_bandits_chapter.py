"""Chapter 3's control agents, calibration replay, training snapshots and tuning-grid helpers.

References are independent of the code under test: the plain batched engine (for controls that must reduce to
it), scipy's Spearman correlation, a run replayed without snapshots, and hand-written grids.
"""

from __future__ import annotations

import copy

import pytest
import torch

from lib.bandits.batched import BatchedAgents, BatchSpec, run_batch
from lib.bandits.controls import EpsilonGreedyAgents, FreshNeuralUCBAgents, ShuffledBonusAgents, run_control
from lib.bandits.problems import wheel_batch
from lib.experiments.bandits import analysis, configs, diagnostics, runs

SPEC = dict(width=8, lr=0.1, batch_size=4, max_steps=3, tolerance=0.0, every_round_until=2000)


def _config(rule: str = "ucb", posterior: str = "neural", models=None, horizon: int = 40, **extra) -> dict:
    spec = BatchSpec(rule=rule, posterior=posterior, **SPEC)
    return configs.batch_config("wheel-0.9", horizon, spec, models or [(s, 1e-3, 1.0) for s in range(3)]) | extra


def test_epsilon_greedy_with_zero_epsilon_is_greedy_and_with_one_is_uniform():
    seeds = [0, 1, 2]
    bandit = wheel_batch(0.9, 40, seeds)
    greedy = run_batch(BatchSpec(rule="greedy", **SPEC), bandit, [1e-3] * 3, [0.0] * 3, seeds)
    eps0 = run_control("epsilon-greedy", BatchSpec(rule="ucb", **SPEC), bandit, [1e-3] * 3, [0.0] * 3, seeds)
    assert torch.equal(greedy["arms"], eps0["arms"]) and torch.equal(greedy["regret"], eps0["regret"])
    big = wheel_batch(0.9, 600, [0])
    eps1 = run_control("epsilon-greedy", BatchSpec(rule="ucb", **{**SPEC, "max_steps": 0}), big, [1e-3], [1.0], [0])
    counts = torch.bincount(eps1["arms"][0], minlength=5).double()
    expected = 600 / 5
    assert float(((counts - expected) ** 2 / expected).sum()) < 18.5   # chi² with 4 d.o.f., p ≈ 0.001


def test_shuffled_bonus_permutes_neural_ucb_widths_across_arms():
    seeds = [0, 1]
    bandit = wheel_batch(0.9, 10, seeds)
    spec = BatchSpec(rule="ucb", **SPEC)
    plain = BatchedAgents(spec, bandit, [1e-2] * 2, [1.0] * 2, seeds)
    changed = 0
    for t in range(6):   # the shuffled agent in plain's current state: same widths, permuted across the arms
        shuffled = copy.deepcopy(plain)
        shuffled.__class__ = ShuffledBonusAgents
        shuffled.control_generators = [torch.Generator().manual_seed(t + 10 * s) for s in seeds]
        x = bandit.contexts(t)
        a, h = plain._hidden(x)
        v_plain, _ = plain.variances(x, a, h)
        v_shuffled, _ = shuffled.variances(x, a, h)
        assert torch.equal(v_plain.sort(1).values, v_shuffled.sort(1).values)
        changed += int(not torch.equal(v_plain, v_shuffled))
        plain.play(t)
    assert changed >= 3   # permutations of 5 arms: almost never the identity
    with pytest.raises(ValueError, match="rule 'ucb'"):
        EpsilonGreedyAgents(BatchSpec(rule="greedy", **SPEC), bandit, [1e-3] * 2, [0.1] * 2, seeds)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        EpsilonGreedyAgents(spec, bandit, [1e-3] * 2, [1.5, 0.1], seeds)


def test_batch_run_dispatches_controls_and_calibrated_run_replays_the_same_run():
    plain = runs.batch_run(_config(posterior="laplace-diagonal"))
    replay = diagnostics.calibrated_run(_config(posterior="laplace-diagonal"))
    assert replay["final"] == plain["final"] and replay["z2"] == pytest.approx(plain["z2"])
    for lo, hi in (("epi_cover_0.5", "epi_cover_0.9"), ("epi_cover_0.9", "epi_cover_0.95")):
        assert all(0 <= a <= b <= 1 for a, b in zip(replay[lo], replay[hi], strict=True))
    assert all(-1 <= r <= 1 for r in replay["epi_spearman"])
    assert all(0 <= o <= f + 1e-12 for o, f in zip(plain["final_outer"], plain["final"], strict=True))
    bandit = wheel_batch(0.9, 40, [0, 1, 2])
    outer = bandit.features.norm(dim=-1) > 0.9
    rerun = run_batch(BatchSpec(**_config(posterior="laplace-diagonal")["spec"]), bandit, [1e-3] * 3, [1.0] * 3,
                      [0, 1, 2])
    assert plain["final_outer"] == pytest.approx((rerun["regret"] * outer).sum(1).tolist(), abs=1e-12)
    control = runs.batch_run(_config(models=[(s, 1e-3, 0.0) for s in range(3)], control="epsilon-greedy"))
    greedy = runs.batch_run(_config(rule="greedy", models=[(s, 1e-3, 0.0) for s in range(3)]))
    assert control["final"] == greedy["final"]
    with pytest.raises(ValueError, match="control"):
        runs.batch_run(_config(control="softmax"))


def test_epistemic_z_scores_by_hand():
    """calibrated_run's median z² on a tiny run equals (μ − f)²/(γ s)² computed from a separate replay."""
    cfg = _config(models=[(0, 1e-2, 0.5)], horizon=8)
    result = diagnostics.calibrated_run(cfg)
    bandit = wheel_batch(0.9, 8, [0])
    agents = BatchedAgents(BatchSpec(**cfg["spec"]), bandit, [1e-2], [0.5], [0])
    z2 = []
    for t in range(8):
        if t >= 4:
            x = bandit.contexts(t)
            a, h = agents._hidden(x)
            f = agents.predict(x)[0]
            s = agents.variances(x, a, h)[0][0].sqrt()
            z2 += (((bandit.means[0, t] - f) / (0.5 * s)) ** 2).tolist()
        agents.play(t)
    assert result["epi_z2"][0] == pytest.approx(float(torch.tensor(z2, dtype=torch.float64).median()), rel=1e-9)
    assert result["epi_z2_mean"][0] == pytest.approx(sum(z2) / len(z2), rel=1e-9)


def test_spearman_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 50, generator=g, dtype=torch.float64)
    b = a + torch.randn(3, 50, generator=g, dtype=torch.float64)
    ours = diagnostics._spearman(a, b)
    for i in range(3):
        assert float(ours[i]) == pytest.approx(stats.spearmanr(a[i], b[i]).statistic, abs=1e-12)


def test_training_snapshots_train_copies_and_leave_the_run_untouched():
    spec = BatchSpec(rule="greedy", **SPEC)
    official = BatchSpec(rule="greedy", **{**SPEC, "lr": 0.01, "batch_size": 1, "max_steps": 50})
    cfg = {"problem": "wheel-0.9", "models": [[s, 1e-3, 0.0] for s in (0, 1)], "spec": spec.as_dict(),
           "official": official.as_dict(), "snapshots": [5, 12], "holdout": 6, "device": "cpu"}
    out = diagnostics.training_snapshots(cfg)
    assert out["snapshots"] == [5, 12] and len(out["results"]) == 2
    # reference: the plain run; after round n it has trained once more by the chapter's recipe = "chapter" copy
    bandit = wheel_batch(0.9, 18, [0, 1])
    agents = BatchedAgents(spec, bandit, [1e-3] * 2, [0.0] * 2, [0, 1])
    for n, entry in zip((5, 12), out["results"], strict=True):
        while agents.n < n:
            agents.play(agents.n)
        with torch.no_grad():
            mse = ((agents.predict(agents.X[:, :n]) - agents.R[:, :n]) ** 2).mean(1)
        assert entry["chapter"]["mse"] == pytest.approx(mse.tolist(), rel=1e-12)
        assert entry["official"]["steps"] == [50.0, 50.0] and entry["chapter"]["steps"] == [3.0, 3.0]
        assert all(0 <= a <= 1 for a in entry["official"]["accuracy"])


def test_tuning_grid_helpers():
    assert configs.refine_values(0.0, (0.0, 0.1, 1.0)) == [0.01, 0.03]
    assert configs.refine_values(1.0, (0.0, 0.1, 1.0)) == pytest.approx([1 / 3, 3.0])
    assert configs.refine_values(0.3, (0.0, 0.1, 0.9)) == []   # both neighbours were tried
    assert configs.refine_values(0.3, (0.0, 0.9)) == pytest.approx([0.1])
    assert configs.extend_lam(1e-3, (1e-3, 1e-2)) == [1e-4]
    assert configs.extend_lam(1e-2, (1e-3, 1e-2)) == [pytest.approx(0.1)]
    assert configs.extend_lam(1e-2, (1e-3, 1e-2, 1e-1)) == []
    assert configs.budget_grid(0.0) == [0.0, 0.1, 1.0]
    assert configs.budget_grid(3.0) == [0.0, 1.0, 3.0, 9.0]


def test_pick_warns_at_grid_edges_and_near_zero():
    def result(cells):
        models = [[s, lam, g] for lam, g, _ in cells for s in (0, 1)]
        return {"final": [r for *_, r in cells for _ in (0, 1)]}, {"models": models}

    zero = analysis.pick(*result([(1e-3, 0.0, 1.0), (1e-3, 0.1, 2.0), (1e-3, 1.0, 3.0)]), agent="a", problem="p")
    assert zero.gamma == 0 and "nearest positive γ tried is 0.1" in "; ".join(zero.edges)
    low = analysis.pick(*result([(1e-3, 0.3, 1.0), (1e-3, 1.0, 2.0), (1e-3, 3.0, 3.0)]), agent="a", problem="p")
    assert "γ at the grid's low end" in low.edges        # no 0 in the grid: its smallest value is an edge
    small = analysis.pick(*result([(1e-3, 0.0, 2.0), (1e-3, 0.1, 1.0), (1e-3, 1.0, 3.0)]), agent="a", problem="p")
    assert any("coarse between 0 and 0.1" in e for e in small.edges)


def test_book_profile_sizes_keep_the_issue_s_floor():
    book = configs.sizes_for("book")
    assert book.eval_seeds >= 10 and book.horizon >= 2000 and max(book.budget_steps) > book.max_steps
    assert set(book.budget_retune) <= set(book.budget_steps)
    for problem in book.problems:   # every agent of the main comparison has a greedy twin
        agents = configs.agents_on(book, problem)
        assert {"greedy", "NeuralUCB", "NeuralTS", "Laplace-UCB"} <= set(agents)


def test_fresh_neural_ucb_width_uses_gradients_at_the_trained_network_by_autograd():
    """Right after a training (and its refresh), s² = λ Σ_p g_p(x)²/(λ + Σ_i g_{i,p}²) with every gradient at θ*."""
    seeds, lam = [0, 1], 1e-2
    bandit = wheel_batch(0.9, 12, seeds)
    spec = BatchSpec(rule="ucb", posterior="laplace-diagonal", **SPEC)
    agents = FreshNeuralUCBAgents(spec, bandit, [lam] * 2, [1.0] * 2, seeds)
    for t in range(7):
        agents.play(t)
    x = bandit.contexts(7)
    a, h = agents._hidden(x)
    ours, _ = agents.variances(x, a, h)
    n = agents.n
    for b in range(2):
        W1, b1 = agents.W1[b].detach().clone(), agents.b1[b].detach().clone()
        w2, b2 = agents.w2[b].detach().clone(), agents.b2[b].detach().clone()

        def grad(z, W1=W1, b1=b1, w2=w2, b2=b2):
            params = [p.clone().requires_grad_(True) for p in (W1, b1, w2, b2)]
            f = params[2] @ torch.relu(params[0] @ z + params[1]) + params[3]
            return torch.cat([g.reshape(-1) for g in torch.autograd.grad(f, params)])

        U = lam + sum(grad(agents.X[b, i]) ** 2 for i in range(n))
        ref = torch.stack([lam * (grad(x[b, k]) ** 2 / U).sum() for k in range(x.shape[1])])
        assert torch.allclose(ours[b], ref, rtol=1e-10, atol=0)
    with pytest.raises(ValueError, match="laplace-diagonal"):
        FreshNeuralUCBAgents(BatchSpec(rule="ucb", **SPEC), bandit, [lam] * 2, [1.0] * 2, seeds)


@pytest.mark.skipif(not __import__("lib.data", fromlist=["is_available"]).is_available("magic"),
                    reason="UCI data not under the data root")
def test_every_stage_and_every_notebook_template_at_toy_sizes(tmp_path):
    """All stages at toy sizes; every say() template of the notebook and FINDINGS filled from the summaries."""
    import json
    import re
    from dataclasses import replace
    from pathlib import Path

    from lib.cache import ResultsCache
    from lib.experiments import bandits as ch3
    from lib.experiments.bandits import chapter
    from lib.notebook import fill

    sizes = replace(ch3.sizes_for("quick"), horizon=30, eval_seeds=3, width=8, max_steps=3, budget_steps=(1, 5),
                    budget_retune=(1, 5), budget_horizon=20, official_horizon=5, ablation_horizon=25,
                    laplace_gammas=(0.5, 1.0), snapshots=(10, 20), snapshot_holdout=5, extend_lams=True)
    cache = ResultsCache(root=tmp_path)
    theory = chapter.theory(sizes)
    official = chapter.official_check(sizes, "cpu", cache)
    tuning = chapter.tune(sizes, "cpu", cache)
    main = chapter.main_comparison(sizes, "cpu", cache, tuning)
    agreement = chapter.arm_agreement(sizes, "cpu", cache, tuning)
    budget = chapter.budget_sweep(sizes, "cpu", cache, tuning)
    laplace = chapter.laplace_ablation(sizes, "cpu", cache, tuning)
    assert set(budget.retuned) == {(p, s) for p in sizes.problems for s in (1, 5)}
    for problem in sizes.problems:   # every agent run on a problem has its twin; controls' twins are right
        picks = main.picks[problem]
        for c in (c for c in main.twin_comparisons if c.problem == problem):
            lam = ch3.configs.twin_lams(picks)[c.agent]
            assert c.baseline == ("greedy" if lam == picks["greedy"][0] else f"greedy at λ = {lam:g}")
        assert {c.agent for c in main.twin_comparisons if c.problem == problem} == \
            {a for a in ch3.configs.agents_on(sizes, problem) if a not in ("random", "greedy")
             and chapter._degenerate(main, problem, a) is None}   # a run compared with itself is left out
    assert chapter.snapshot_table(official.snapshots) and chapter.calibration_table(laplace)
    values = {**chapter.theory_summary(theory, sizes), **chapter.official_summary(official),
              **chapter.agreement_summary(agreement, sizes),
              **chapter.findings_values(theory, main, tuning, budget, laplace, sizes, "quick", agreement)}
    notebook = json.loads(Path("chapters/03_neural_bandits.ipynb").read_text())
    templates = [m.group(1) for c in notebook["cells"] if c["cell_type"] == "code"
                 for m in re.finditer(r'say\(r"""(.*?)"""', "".join(c["source"]), re.S)]
    for template in [*templates, chapter.FINDINGS]:
        fill(template, values)   # no KeyError: every field is computed

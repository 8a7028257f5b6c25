"""Chapter 3's batched agents against independent references: one-by-one runs (float64), torch.func gradients and
Jacobians, dense GGN posteriors, exact evidence maximization; the wheel bandit; the theorem's J; the chapter's
stages at toy sizes filling every say() template of the notebook."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.func import functional_call, jacrev

from lib.bandits.batched import BatchedAgents, BatchSpec, run_batch
from lib.bandits.problems import BanditBatch, wheel_batch
from lib.bandits.theory import TheoryConstants, theorem_steps, theory_step_size
from lib.data import is_available
from tests.tolerances import assert_close

needs_uci = pytest.mark.skipif(not is_available("magic"), reason="UCI data not under the data root")


def _toy_bandit(seeds: list[int], horizon: int = 40, arms: int = 3, d: int = 4) -> BanditBatch:
    """A noisy linear-in-features bandit with ``arms`` arms, one row per seed."""
    rows = []
    for s in seeds:
        g = torch.Generator().manual_seed(100 + s)
        x = torch.randn(horizon, d, generator=g, dtype=torch.float64)
        w = torch.randn(arms, d, generator=g, dtype=torch.float64)
        mean = torch.tanh(x @ w.T)
        rows.append((x, mean, mean + 0.1 * torch.randn(horizon, arms, generator=g, dtype=torch.float64)))
    return BanditBatch("toy", *(torch.stack(v) for v in zip(*rows, strict=False)), tuple(seeds))


SPECS = {
    "neural-ucb": BatchSpec(rule="ucb", width=16, lr=0.05, batch_size=8, max_steps=6, tolerance=1e-3),
    "neural-ts": BatchSpec(rule="ts", width=16, lr=0.05, batch_size=8, max_steps=6),
    "theory": BatchSpec(rule="ucb", scale="theory", width=16, lr=0.05, batch_size=8, max_steps=6),
    "laplace-diagonal": BatchSpec(rule="ucb", posterior="laplace-diagonal", width=16, lr=0.05, batch_size=8,
                                  max_steps=6),
    "online": BatchSpec(rule="ts", posterior="laplace-diagonal", evidence="online", width=16, lr=0.05, batch_size=8,
                        max_steps=6),
    "laplace-last-layer": BatchSpec(rule="ucb", posterior="laplace-last-layer", width=16, lr=0.05, batch_size=8,
                                    max_steps=6),
    "laplace-full": BatchSpec(rule="ucb", posterior="laplace-full", width=16, lr=0.05, batch_size=8, max_steps=6,
                              refresh_every=3),
    "official": BatchSpec(rule="greedy", width=16, lr=0.01, batch_size=1, max_steps=50, tolerance=1e-2,
                          every_round_until=20, train_every=7),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_batched_agents_equal_one_by_one_runs_in_float64(name):
    """A model's run does not depend on the other models in its batch (the point of the batched engine)."""
    seeds, lams, gammas = [0, 1, 2, 3], [1e-3, 1e-2, 1e-1, 1.0], [0.0, 0.5, 1.0, 2.0]
    bandit = _toy_bandit(seeds)
    spec = SPECS[name]
    together = run_batch(spec, bandit, lams, gammas, seeds)
    for i in range(len(seeds)):
        alone = run_batch(spec, bandit.select([i]), [lams[i]], [gammas[i]], [seeds[i]])
        assert torch.equal(alone["arms"][0], together["arms"][i])
        assert_close(alone["regret"][0], together["regret"][i], kind="exact")
        assert_close(alone["z"][0], together["z"][i], kind="solver", equal_nan=True)
        assert_close(alone["alpha"][0], together["alpha"][i], kind="solver")


def _network(agents: BatchedAgents, b: int) -> tuple[torch.nn.Module, dict]:
    net = torch.nn.Sequential(torch.nn.Linear(agents.D, agents.m), torch.nn.ReLU(), torch.nn.Linear(agents.m, 1))
    params = {"0.weight": agents.W1[b].clone(), "0.bias": agents.b1[b].clone(), "2.weight": agents.w2[b][None].clone(),
              "2.bias": agents.b2[b].reshape(1).clone()}
    return net.double(), params


def _jacobian(agents: BatchedAgents, b: int, x: torch.Tensor) -> torch.Tensor:
    """``[N, P]`` per-input gradients of f by torch.func (parameter order W1, b1, w2, b2)."""
    net, params = _network(agents, b)
    jac = jacrev(lambda p: functional_call(net, p, (x,))[:, 0])(params)
    return torch.cat([jac[k].reshape(len(x), -1) for k in ("0.weight", "0.bias", "2.weight", "2.bias")], dim=1)


def test_one_training_step_is_sgd_on_the_squared_error_by_autograd():
    bandit = _toy_bandit([0, 1])
    spec = BatchSpec(rule="greedy", width=8, lr=0.1, batch_size=5, max_steps=1, tolerance=0.0)
    agents = BatchedAgents(spec, bandit, [1e-2, 1e-1], [0.0, 0.0], [0, 1])
    for t in range(6):
        agents.play(t)   # trains after every round: one step each
    before = [_network(agents, b)[1] for b in range(2)]
    state = [g.get_state() for g in agents.generators]
    agents.train()
    for b in range(2):
        g = torch.Generator()
        g.set_state(state[b])
        n = agents.n
        index = torch.randperm(n, generator=g)[:5]
        x, r = agents.X[b, index], agents.R[b, index]
        net, params = _network(agents, b)
        params = {k: v.requires_grad_(True) for k, v in before[b].items()}
        loss = ((functional_call(net, params, (x,))[:, 0] - r) ** 2).mean()
        grads = torch.autograd.grad(loss, list(params.values()))
        wd = float(agents.lam[b])
        expected = [p.detach() - 0.1 * (gr + wd * p.detach()) for p, gr in zip(params.values(), grads, strict=False)]
        got = [agents.W1[b], agents.b1[b], agents.w2[b][None], agents.b2[b].reshape(1)]
        for e, g_ in zip(expected, got, strict=False):
            assert_close(g_, e, kind="method")


def _played(name: str, rounds: int = 12):
    bandit = _toy_bandit([0, 1])
    spec = replace(SPECS[name], refresh_every=1)
    agents = BatchedAgents(spec, bandit, [1e-2, 1e-1], [1.0, 1.0], [0, 1])
    for t in range(rounds):
        agents.play(t)
    return agents, bandit


@pytest.mark.parametrize("name", ["laplace-diagonal", "laplace-last-layer", "laplace-full"])
def test_laplace_variances_equal_dense_ggn_posteriors_by_torch_func(name):
    """After a refresh (kernel at θ*), s² is g(x)ᵀ(αI + JᵀJ/σ²)⁻¹g(x) with J the torch.func Jacobian of the past
    contexts: full, its diagonal, or restricted to the readout layer."""
    agents, bandit = _played(name)
    agents.refresh()
    x = bandit.contexts(agents.n).clone()
    active, hidden = agents._hidden(x)
    var, _ = agents.variances(x, active, hidden)
    for b in range(2):
        past = _jacobian(agents, b, agents.X[b, :agents.n])
        query = _jacobian(agents, b, x[b])
        if name == "laplace-last-layer":
            past, query = past[:, -(agents.m + 1):], query[:, -(agents.m + 1):]
        alpha, noise = float(agents.alpha[b]), float(agents.noise[b])
        ggn = past.T @ past / noise
        if name == "laplace-diagonal":
            reference = (query ** 2 / (alpha + ggn.diagonal())).sum(1)
        else:
            precision = alpha * torch.eye(ggn.shape[0], dtype=torch.float64) + ggn
            reference = (query * torch.linalg.solve(precision, query.T).T).sum(1)
        assert_close(var[b], reference, kind="solver")


@pytest.mark.parametrize("form", ["official", "paper"])
def test_neural_ucb_width_uses_the_diagonal_of_the_played_gradients(form):
    """Official: s² = λ Σ_p g_p²/U_p, U = λ + Σ_i g_i(θ_{i−1})². Paper (theory γ_t): s² = Σ (g²/m)/diag Z,
    diag Z = λ + Σ_i g_i²/m. Gradients by torch.func at the time of play."""
    bandit = _toy_bandit([0])
    lam = 1e-2
    agents = BatchedAgents(SPECS["neural-ucb" if form == "official" else "theory"], bandit, [lam], [1.0], [0])
    m = agents.m
    Z = None
    for t in range(8):
        x = bandit.contexts(t)
        g = _jacobian(agents, 0, x[0])                              # at θ_{t−1}
        Z = torch.full((g.shape[1],), lam, dtype=torch.float64) if Z is None else Z
        active, hidden = agents._hidden(x)
        var, _ = agents.variances(x, active, hidden)
        reference = lam * (g ** 2 / Z).sum(1) if form == "official" else (g ** 2 / m / Z).sum(1)
        assert_close(var[0], reference, kind="method")
        arm = int(agents.play(t)["arm"][0])
        Z = Z + (g[arm] ** 2 if form == "official" else g[arm] ** 2 / m)
    if form == "paper":
        logdet = float(torch.log(Z / lam).sum())
        from lib.bandits.theory import theory_gamma

        expected = theory_gamma(9, width=m, layers=2, lam=lam, logdet_ratio=logdet, steps=agents.theory_J[0],
                                step_size=agents.theory_eta[0], constants=agents.theory)
        assert float(agents.gammas(8)[0]) == pytest.approx(expected, rel=1e-9)


def test_mackay_fixed_point_maximizes_the_full_laplace_evidence():
    """The function-space fixed point (iterated) is a stationary point of the exact linear-Gaussian evidence."""
    agents, _ = _played("laplace-full", rounds=10)
    for _ in range(200):
        agents.refresh()   # n <= 64: runs evidence_iterations fixed-point steps each call
    b, n = 0, agents.n
    jac = _jacobian(agents, b, agents.X[b, :n])
    kernel = jac @ jac.T
    net, params = _network(agents, b)
    residual = agents.R[b, :n] - functional_call(net, params, (agents.X[b, :n],))[:, 0]
    norm = sum(float((p ** 2).sum()) for p in params.values())

    def evidence(log_alpha: float, log_noise: float) -> float:
        a, v = math.exp(log_alpha), math.exp(log_noise)
        eig = torch.linalg.eigvalsh(kernel).clamp_min(0)
        return float(-(residual @ residual) / (2 * v) - n / 2 * math.log(2 * math.pi * v) - a * norm / 2
                     - 0.5 * torch.log1p(eig / (a * v)).sum())

    la, lv = math.log(float(agents.alpha[b])), math.log(float(agents.noise[b]))
    best = evidence(la, lv)
    for da, dv in ((0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)):
        assert evidence(la + da, lv + dv) <= best + 1e-9


def test_tolerance_stops_training_early_like_the_official_code():
    bandit = _toy_bandit([0])
    spec = BatchSpec(rule="greedy", width=16, lr=0.01, batch_size=1, max_steps=1000, tolerance=10.0)
    agents = BatchedAgents(spec, bandit, [1e-3], [0.0], [0])
    out = agents.play(0)
    assert float(out["steps"][0]) == 1.0            # one epoch of one sample, loss below the (huge) tolerance
    spec = replace(spec, tolerance=0.0, max_steps=7)
    agents = BatchedAgents(spec, bandit, [1e-3], [0.0], [0])
    assert float(agents.play(0)["steps"][0]) == 7.0  # tolerance 0: always the cap


def test_training_schedule_matches_the_official_code():
    spec = BatchSpec(every_round_until=2000, train_every=100)
    assert [spec.trains_after(n) for n in (1, 2000, 2001, 2100, 2150)] == [True, True, False, True, False]
    assert not BatchSpec(rule="random").trains_after(1)


def test_wheel_bandit_has_riquelme_et_al_s_structure():
    bandit = wheel_batch(0.9, 4000, [0, 1], noise=0.0)
    x, means = bandit.features, bandit.means * 50
    radius = x.norm(dim=-1)
    assert float(radius.max()) <= 1.0
    outer = radius > 0.9
    assert abs(float(outer.double().mean()) - (1 - 0.81)) < 0.03
    assert torch.all(means[..., 0] == 1.2)
    assert torch.all(means[~outer][:, 1:] == 1.0)
    best = means.argmax(-1)
    quadrant = 1 + (x[..., 0] < 0).long() * 2 + (x[..., 1] < 0).long()
    assert torch.equal(best[outer], quadrant[outer]) and torch.all(best[~outer] == 0)
    noisy = wheel_batch(0.9, 500, [0], noise=0.01)
    assert 0.005 < float((noisy.rewards - noisy.means).std() * 50) < 0.015
    with pytest.raises(ValueError, match="delta"):
        wheel_batch(1.5, 10, [0])


def test_theorem_steps_shrink_the_optimisation_term_to_the_confidence_scale():
    c = TheoryConstants()
    for T, lam in ((200, 1.0), (2000, 1.0), (2000, 0.1)):
        J = theorem_steps(T, layers=2, lam=lam, constants=c)
        eta_m_lam = theory_step_size(T, 100, 2, lam, c) * 100 * lam
        term = (lam + c.C3 * T * 2) * (1 - eta_m_lam) ** (J / 2) * math.sqrt(T / lam)
        assert term == pytest.approx(math.sqrt(lam) * c.S, rel=0.05)


def test_bad_specs_and_inputs_say_what_is_valid():
    with pytest.raises(ValueError, match="rule"):
        BatchSpec(rule="softmax")
    with pytest.raises(ValueError, match="theory"):
        BatchSpec(rule="ucb", posterior="laplace-diagonal", scale="theory")
    with pytest.raises(ValueError, match="lr"):
        BatchSpec(lr=0.0)
    bandit = _toy_bandit([0, 1])
    with pytest.raises(ValueError, match="one λ, γ and seed per bandit row"):
        BatchedAgents(BatchSpec(), bandit, [1.0], [1.0], [0])
    with pytest.raises(ValueError, match="γ"):
        BatchedAgents(BatchSpec(), bandit, [1.0, 1.0], [1.0, -1.0], [0, 1])
    features = bandit.features.clone()
    before = features.clone()
    run_batch(SPECS["neural-ucb"], BanditBatch("toy", features, bandit.means, bandit.rewards, bandit.seeds),
              [1e-2, 1e-2], [1.0, 1.0], [0, 1])
    assert torch.equal(features, before)   # the user's data is never modified


def test_diverging_training_raises_naming_the_learning_rate():
    bandit = _toy_bandit([0])
    spec = BatchSpec(rule="greedy", width=16, lr=1e6, batch_size=4, max_steps=20, tolerance=0.0)
    with pytest.raises(FloatingPointError, match="learning rate"):
        run_batch(spec, bandit, [1e-3], [0.0], [0])


@needs_uci
def test_chapter_stages_summaries_and_the_notebook_templates(tmp_path):
    """Every stage at toy sizes, and every say() template of the notebook filled from their summaries."""
    from lib.cache import ResultsCache
    from lib.experiments import bandits as ch3
    from lib.experiments.bandits import chapter
    from lib.notebook import fill

    sizes = replace(ch3.sizes_for("quick"), horizon=30, eval_seeds=3, width=8, max_steps=3, budget_steps=(1, 5),
                    budget_horizon=20, official_horizon=5, ablation_horizon=25, laplace_gammas=(0.5, 1.0))
    cache = ResultsCache(root=tmp_path)
    theory = chapter.theory(sizes)
    official = chapter.official_check(sizes, "cpu", cache)
    tuning = chapter.tune(sizes, "cpu", cache)
    assert all(p.lam in sizes.lams for picks in tuning.picks.values() for p in picks.values())
    main = chapter.main_comparison(sizes, "cpu", cache, tuning)
    agreement = chapter.arm_agreement(sizes, "cpu", cache, tuning)
    assert all(0 <= v <= 1 for r in agreement.values() for v in r["greedy"] + r["width"])
    budget = chapter.budget_sweep(sizes, "cpu", cache, tuning)
    laplace = chapter.laplace_ablation(sizes, "cpu", cache, tuning)
    values = {**chapter.theory_summary(theory, sizes), **chapter.official_summary(official),
              **chapter.main_summary(main, tuning), **chapter.budget_summary(budget, sizes),
              **chapter.laplace_summary(laplace), **chapter.agreement_summary(agreement, sizes),
              "ch3_problems": "x", "ch3_nseeds": 3, "ch3_profile": "quick"}
    assert set(ch3.Agent.values()) <= set(main.results["magic"])
    for c in main.twin_comparisons:   # every exploring agent is compared with greedy at its own λ
        lam = ch3.configs.twin_lams(main.picks[c.problem])[c.agent]
        assert c.baseline == ("greedy" if lam == main.picks[c.problem]["greedy"][0] else f"greedy at λ = {lam:g}")
    rows = sum(len(v) for v in main.results.values())
    assert ch3.markdown_table(ch3.main_table(main)).count("\n") == 1 + rows
    assert ch3.chapter.tuning_grid_table(tuning, sizes)
    with pytest.raises(ValueError, match="budget sweep"):
        replace(sizes, budget_steps=(1, 3))
    notebook = json.loads(Path("chapters/03_neural_bandits.ipynb").read_text())
    templates = [m.group(1) for c in notebook["cells"] if c["cell_type"] == "code"
                 for m in re.finditer(r'say\(r"""(.*?)"""', "".join(c["source"]), re.S)]
    assert len(templates) >= 6
    for template in templates:
        fill(template, values)   # no KeyError: every field is computed


def test_seeds_of_tuning_and_evaluation_are_disjoint():
    from lib.experiments import bandits as ch3

    for profile in ("quick", "book", "paper"):
        sizes = ch3.sizes_for(profile)
        assert not set(ch3.tuning_seeds(sizes)) & set(ch3.eval_seeds(sizes, 0))
        assert sizes.eval_seeds >= (10 if profile != "quick" else 3)
        assert 0.0 in sizes.gammas and 0.0 in sizes.nus and 1.0 in sizes.laplace_gammas
        assert profile == "quick" or sizes.horizon >= 2000
    assert ch3.sizes_for("paper").horizon >= 10000
    with pytest.raises(ValueError, match="quick"):
        ch3.sizes_for("huge")


def _reference_training(agents: BatchedAgents, b: int, state: torch.Tensor) -> tuple[list[torch.Tensor], int]:
    """Model ``b``'s training phase written plainly: its own shuffled epochs (generator state ``state``), autograd
    gradients of the mean squared error, SGD with weight decay, a stop when an epoch's mean loss <= tolerance."""
    spec, n = agents.spec, agents.n
    bs = min(spec.batch_size, n)
    epoch = math.ceil(n / bs)
    g = torch.Generator()
    g.set_state(state)
    total = spec.max_steps * bs
    order = torch.cat([torch.randperm(n, generator=g) for _ in range(math.ceil(total / n))])[:total]
    net, params = _network(agents, b)
    running, steps, wd = 0.0, 0, float(agents.weight_decay[b])
    for s in range(spec.max_steps):
        index = order[s * bs:(s + 1) * bs]
        params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        loss = ((functional_call(net, params, (agents.X[b, index],))[:, 0] - agents.R[b, index]) ** 2).mean()
        grads = torch.autograd.grad(loss, list(params.values()))
        params = {k: p.detach() - spec.lr * (gr + wd * p.detach()) for (k, p), gr in zip(params.items(), grads,
                                                                                         strict=True)}
        running, steps = running + float(loss.detach()), steps + 1
        if (s + 1) % epoch == 0:
            if running / epoch <= spec.tolerance:
                break
            running = 0.0
    return [params["0.weight"], params["0.bias"], params["2.weight"][0], params["2.bias"][0]], steps


def test_training_phase_with_models_stopping_at_different_steps_equals_a_plain_autograd_loop():
    """The batched training drops a model from the batch when its epoch loss reaches the tolerance; every model's
    parameters and step count must equal its own plain loop's (autograd gradients, one model at a time)."""
    seeds = [0, 1, 2, 3, 4]
    bandit = _toy_bandit(seeds, horizon=30)
    spec = BatchSpec(rule="greedy", width=16, lr=0.05, batch_size=4, max_steps=40, tolerance=0.2,
                     every_round_until=0)
    agents = BatchedAgents(spec, bandit, [1e-3, 1e-2, 1e-1, 1e-3, 1.0], [0.0] * 5, seeds)
    for t in range(10):
        agents.play(t)   # no training yet (every_round_until=0, train_every=100)
    states = [g.get_state() for g in agents.generators]
    references = [_reference_training(agents, b, states[b]) for b in range(5)]
    steps = agents.train()
    assert len({int(v) for v in steps}) >= 4 and 0 < int(steps.min()) and int(steps.max()) == spec.max_steps
    for b, (params, count) in enumerate(references):
        assert int(steps[b]) == count
        for got, expected in zip((agents.W1[b], agents.b1[b], agents.w2[b], agents.b2[b]), params, strict=True):
            assert_close(got, expected, kind="method")


def test_training_gathers_mini_batches_in_blocks_with_the_same_result(monkeypatch):
    """Large inputs are gathered a few mini-batches at a time (memory bound): the result must not change."""
    import lib.bandits.batched as batched

    bandit = _toy_bandit([0, 1, 2])
    spec = SPECS["neural-ucb"]
    whole = run_batch(spec, bandit, [1e-3, 1e-2, 1e-1], [0.5, 1.0, 2.0], [0, 1, 2])
    monkeypatch.setattr(batched, "_GATHER_ELEMENTS", 1)   # one mini-batch per gather
    blocks = run_batch(spec, bandit, [1e-3, 1e-2, 1e-1], [0.5, 1.0, 2.0], [0, 1, 2])
    for key in ("arms", "regret", "z", "steps"):
        assert torch.equal(whole[key].nan_to_num(), blocks[key].nan_to_num())

"""Chapter 3's neural bandits against independent references: dense float64 linear algebra,
exact Gaussian marginal likelihoods, torch.func Jacobians, laplace-torch, hand-evaluated γ_t."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lib.bandits import (
    AGENTS,
    AgentSpec,
    ContextualBandit,
    NeuralAgent,
    agent_spec,
    disjoint_encoding,
    make_bandit,
    plain_network,
    run_bandit,
    symmetric_network,
    theory_gamma,
)
from lib.bandits.posterior import (
    DiagonalPrecision,
    FeaturePrecision,
    IncrementalCholesky,
    KernelPosterior,
    log_evidence,
    maximize_evidence,
)
from lib.bandits.theory import TheoryConstants
from lib.data import DatasetNotFoundError, is_available
from lib.ntk import empirical_ntk, jacobian
from lib.ntk.structured import jacobian_from_factors, layer_factors
from tests.tolerances import assert_close

needs_uci = pytest.mark.skipif(not is_available("magic") or not is_available("mushroom"),
                               reason="UCI data not under the data root")


def _psd(n: int, generator: torch.Generator, rank: int | None = None) -> torch.Tensor:
    a = torch.randn(n, rank or n, dtype=torch.float64, generator=generator)
    return a @ a.T


# --- environments -----------------------------------------------------------------------------------
def test_disjoint_encoding_places_each_example_in_its_arm_block(generator):
    x = torch.randn(5, 3, dtype=torch.float64, generator=generator)
    c = disjoint_encoding(x, 4)
    assert c.shape == (5, 4, 12)
    for a in range(4):
        assert torch.equal(c[:, a, 3 * a:3 * a + 3], x)
        mask = torch.ones(12, dtype=torch.bool)
        mask[3 * a:3 * a + 3] = False
        assert torch.count_nonzero(c[:, a, mask]) == 0
    assert torch.equal(disjoint_encoding(x[0], 4), c[0])


@needs_uci
def test_uci_bandit_contexts_rewards_and_seeded_shuffle():
    b = make_bandit("magic", 300, seed=1)
    assert (b.num_arms, b.feature_dim, b.horizon) == (2, 10, 300)
    norms = b.contexts(7).norm(dim=1)
    assert torch.allclose(norms, torch.ones(2, dtype=torch.float64), atol=1e-12)
    y = int(b.labels[7])
    assert b.reward(7, y) == 1.0 and b.reward(7, 1 - y) == 0.0 and b.regret(7, 1 - y) == 1.0
    again, other = make_bandit("magic", 300, seed=1), make_bandit("magic", 300, seed=2)
    assert torch.equal(b.features, again.features) and not torch.equal(b.features, other.features)


def test_bad_bandit_names_and_horizons_say_what_is_valid():
    with pytest.raises(ValueError, match="valid: mushroom, shuttle, magic"):
        make_bandit("cifar10", 10, 0)
    if is_available("magic"):
        with pytest.raises(ValueError, match="horizon must be in 1..19020"):
            make_bandit("magic", 10**6, 0)
    if not is_available("covertype"):
        with pytest.raises(DatasetNotFoundError):
            make_bandit("covertype", 10, 0)
    with pytest.raises(ValueError, match="labels must lie"):
        ContextualBandit("x", torch.zeros(3, 2), torch.tensor([0, 1, 5]), 2)


# --- networks -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1, 2])
def test_symmetric_network_is_zero_at_init_and_parametrizations_agree(depth, generator):
    x = torch.randn(16, 9, dtype=torch.float64, generator=generator)
    standard = symmetric_network(9, 12, depth, parametrization="standard", seed=3)
    ntk = symmetric_network(9, 12, depth, parametrization="ntk", seed=3)
    for net in (standard, ntk):
        assert net(x).abs().max() < 1e-12
    def hidden(net: nn.Module) -> torch.Tensor:
        h = torch.cat([x, x], 1) / math.sqrt(2)
        for layer in list(net.layers)[:-1]:
            h = layer(h)
        return h

    # the output vanishes by symmetry, not because the halves are trivial: one half alone is not zero
    readout = standard.layers[-1]
    assert (readout.weight_scale * hidden(standard)[:, :6] @ readout.weight[0, :6]).abs().max() > 1e-3
    # same function at init in both parametrizations, different gradients (hence different NTKs)
    assert_close(hidden(standard), hidden(ntk), kind="roundoff")
    j_standard, j_ntk = jacobian(standard, x)[:, 0], jacobian(ntk, x)[:, 0]
    assert not torch.allclose(j_standard.norm(dim=1), j_ntk.norm(dim=1), rtol=0.1)


@pytest.mark.parametrize("build", [plain_network, symmetric_network])
def test_jacobian_from_factors_matches_torch_func(build, generator):
    net = build(7, 10, 2, parametrization="ntk", seed=1)
    x = torch.randn(4, 7, dtype=torch.float64, generator=generator)
    reference = jacobian(net, x)[:, 0, :]
    assembled = jacobian_from_factors(layer_factors(net, x)[0])[0]
    if build is plain_network:   # NTK parametrization with sigma_b = 0: biases do not move f (no columns)
        keep = torch.cat([torch.ones(p.numel(), dtype=torch.bool) if n.endswith("weight") else
                          torch.zeros(p.numel(), dtype=torch.bool) for n, p in net.named_parameters()])
        reference = reference[:, keep]
    # Specific tolerance (tests/tolerances.py): absolute: Jacobian entries are O(1) and many are exactly 0.
    torch.testing.assert_close(assembled, reference, rtol=0, atol=1e-12)


# --- posteriors -------------------------------------------------------------------------------------------
def test_incremental_cholesky_matches_dense_factorisation(generator):
    k = _psd(30, generator, rank=10)  # singular kernel: the ridge makes it definite
    chol = IncrementalCholesky(0.5, capacity=4)   # forces two reallocations
    for i in range(30):
        chol.append(k[:i, i], k[i, i])
    dense = torch.linalg.cholesky(k + 0.5 * torch.eye(30, dtype=torch.float64))
    # Specific tolerance (tests/tolerances.py): absolute; 30 rank-1 updates of an O(1) factor.
    torch.testing.assert_close(chol.factor, dense, rtol=0, atol=1e-10)
    q = torch.randn(30, 3, dtype=torch.float64, generator=generator)
    cross, diag = k @ q, (q * (k @ q)).sum(0) + 1.0
    direct = diag - (cross * torch.linalg.solve(k + 0.5 * torch.eye(30, dtype=torch.float64), cross)).sum(0)
    assert_close(chol.reduced_variance(cross, diag), direct, kind="solver")
    expected = torch.linalg.slogdet(torch.eye(30, dtype=torch.float64) + k / 0.5)[1]
    assert chol.logdet_ratio() == pytest.approx(float(expected), rel=1e-10)


def test_neural_ucb_precision_full_and_diagonal_match_dense_z(generator):
    lam, phis = 0.7, torch.randn(12, 5, dtype=torch.float64, generator=generator)
    full, diag = FeaturePrecision(5, lam, capacity=4), DiagonalPrecision(5, lam)
    for phi in phis:
        full.add(phi)
        diag.add(phi)
    z = lam * torch.eye(5, dtype=torch.float64) + phis.T @ phis
    q = torch.randn(3, 5, dtype=torch.float64, generator=generator)
    assert_close(full.quadratic(q), (q @ torch.linalg.inv(z) * q).sum(1), kind="solver")
    # Specific tolerance (tests/tolerances.py): the same division: relative only.
    torch.testing.assert_close(diag.quadratic(q), (q ** 2 / z.diagonal()).sum(1), rtol=1e-12, atol=0)
    assert full.logdet_ratio() == pytest.approx(float(torch.logdet(z / lam)), rel=1e-10)
    assert diag.logdet_ratio() == pytest.approx(float(torch.log(z.diagonal() / lam).sum()), rel=1e-12)


def test_kernel_posterior_equals_bayesian_linear_regression(generator):
    """(★)/α with k = φφᵀ is the posterior variance of φᵀθ, θ ~ N(0, α⁻¹I), noise σ² (weight space)."""
    phi, alpha, noise = torch.randn(15, 6, dtype=torch.float64, generator=generator), 2.5, 0.3
    post = KernelPosterior(alpha, noise, capacity=2)
    for i in range(15):
        post.add(phi[:i] @ phi[i], phi[i] @ phi[i])
    q = torch.randn(4, 6, dtype=torch.float64, generator=generator)
    cov = torch.linalg.inv(phi.T @ phi / noise + alpha * torch.eye(6, dtype=torch.float64))
    assert_close(post.variance(phi @ q.T, (q * q).sum(1)), (q @ cov * q).sum(1), kind="solver")
    batch = KernelPosterior.from_kernel(phi @ phi.T, alpha, noise)
    assert_close(batch.variance(phi @ q.T, (q * q).sum(1)), (q @ cov * q).sum(1), kind="solver")


def test_laplace_evidence_is_the_exact_marginal_likelihood_of_a_linear_model(generator):
    """For f = Φθ the Laplace approximation is exact: log Z at the MAP = log N(y; Φμ₀, σ²I + ΦΦᵀ/α)."""
    phi = torch.randn(25, 4, dtype=torch.float64, generator=generator)
    y = phi @ torch.randn(4, dtype=torch.float64, generator=generator) + 0.3 * torch.randn(25, dtype=torch.float64,
                                                                                            generator=generator)
    mu0 = torch.randn(4, dtype=torch.float64, generator=generator)
    for alpha, noise in [(0.5, 0.1), (3.0, 1.0)]:
        theta = mu0 + torch.linalg.solve(phi.T @ phi / noise + alpha * torch.eye(4, dtype=torch.float64),
                                         phi.T @ (y - phi @ mu0) / noise)
        residual = y - phi @ theta
        ours = log_evidence(torch.linalg.eigvalsh(phi @ phi.T), float(residual @ residual),
                            float((theta - mu0) @ (theta - mu0)), 25, alpha, noise)
        cov = noise * torch.eye(25, dtype=torch.float64) + phi @ phi.T / alpha
        exact = torch.distributions.MultivariateNormal(phi @ mu0, cov).log_prob(y)
        assert ours == pytest.approx(float(exact), rel=1e-10)


def test_mackay_fixed_point_maximizes_the_evidence(generator):
    s = torch.linalg.eigvalsh(_psd(40, generator, rank=8))
    args = (s, 3.0, 2.0, 40)
    alpha, noise, best = maximize_evidence(*args, iterations=2000)
    # an independent maximizer: a fine grid in (log α, log σ²) around the answer never does better
    for da in torch.linspace(-1, 1, 21):
        for dv in torch.linspace(-1, 1, 21):
            assert log_evidence(*args, alpha * math.exp(da), noise * math.exp(dv)) <= best + 1e-9
    assert log_evidence(*args, alpha, noise) == pytest.approx(best)


def test_linearized_laplace_variance_matches_laplace_torch(generator):
    laplace = pytest.importorskip("laplace")
    torch.manual_seed(0)   # laplace-torch reads the global RNG nowhere here; the model init does
    model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)).double()
    x = torch.randn(20, 3, dtype=torch.float64, generator=generator)
    y = torch.randn(20, 1, dtype=torch.float64, generator=generator)
    alpha, noise = 2.0, 0.3
    la = laplace.Laplace(model, "regression", subset_of_weights="all", hessian_structure="full",
                         sigma_noise=noise ** 0.5, prior_precision=alpha)
    la.fit(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=20))
    xq = torch.randn(4, 3, dtype=torch.float64, generator=generator)
    _, f_var = la(xq, pred_type="glm")
    kernel = empirical_ntk(model, x, mode="trace")
    post = KernelPosterior.from_kernel(kernel, alpha, noise)
    ours = post.variance(empirical_ntk(model, x, xq, mode="trace"), empirical_ntk(model, xq, mode="trace").diagonal())
    # Specific tolerance (tests/tolerances.py): laplace-torch inverts a P x P precision.
    torch.testing.assert_close(ours, f_var.flatten().to(ours), rtol=1e-6, atol=1e-9)
    with torch.no_grad():
        residual = y[:, 0] - model(x)[:, 0]
        theta = torch.cat([p.flatten() for p in model.parameters()])
    ours_lml = log_evidence(torch.linalg.eigvalsh(kernel), float(residual @ residual), float(theta @ theta), 20,
                            alpha, noise)
    assert ours_lml == pytest.approx(float(la.log_marginal_likelihood().detach()), rel=1e-5)


# --- theory --------------------------------------------------------------------------------------------------
def test_theory_gamma_by_hand():
    m, L, lam, t, J, logdet = 64, 2, 0.5, 10, 3, 1.7
    c = TheoryConstants(C1=0.3, C2=0.2, C3=0.1, nu=0.9, delta=0.05, S=2.0)
    eta = 0.01
    a = m ** (-1 / 6) * math.log(m) ** 0.5
    expected = ((1 + 0.3 * a * 16 * t ** (7 / 6) * lam ** (-7 / 6)) ** 0.5
                * (0.9 * (logdet + 0.2 * a * 16 * t ** (5 / 3) * lam ** (-1 / 6) - 2 * math.log(0.05)) ** 0.5
                   + lam ** 0.5 * 2.0)
                + (lam + 0.1 * t * L) * ((1 - eta * m * lam) ** (J / 2) * (t / lam) ** 0.5
                                         + a * L ** 3.5 * t ** (5 / 3) * lam ** (-5 / 3) * (1 + (t / lam) ** 0.5)))
    got = theory_gamma(t, width=m, layers=L, lam=lam, logdet_ratio=logdet, steps=J, step_size=eta, constants=c)
    assert got == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="η m λ"):
        theory_gamma(t, width=m, layers=L, lam=lam, logdet_ratio=0, steps=J, step_size=1.0)


def test_theory_gamma_tends_to_its_width_independent_limit():
    from lib.experiments.bandits.runs import theory_gamma_table

    table = theory_gamma_table(500, [1e2, 1e6, 1e30, 1e300], steps=[20, 2000])
    for J, values in table["gamma"].items():
        assert all(a > b for a, b in zip(values, values[1:], strict=False))
        assert values[-1] == pytest.approx(table["limit"][J], rel=1e-9)
    assert table["limit"][20] > 1e4
    assert theory_gamma_table(500, [1e300])["limit"][table["J_theorem"]] < 10   # the theorem's J removes the term


# --- agents -----------------------------------------------------------------------------------------------------
def test_unknown_agent_and_bad_specs_say_what_is_valid():
    with pytest.raises(ValueError, match="valid: " + ", ".join(AGENTS)):
        agent_spec("neural-linear")
    with pytest.raises(ValueError, match="Unknown exploration 'bayes'"):
        AgentSpec("bayes")
    with pytest.raises(ValueError, match="gamma must be"):
        agent_spec("neural-ucb", gamma="big")
    spec = agent_spec("neural-ts", gamma="theory", width=8)
    assert AgentSpec.from_dict(spec.as_dict()) == spec


def _tiny_bandit(generator: torch.Generator, n: int = 60, d: int = 4, k: int = 3) -> ContextualBandit:
    """Labels from a fixed linear rule, so a network can learn them."""
    x = torch.randn(n, d, dtype=torch.float64, generator=generator)
    x = x / x.norm(dim=1, keepdim=True)
    w = torch.randn(d, k, dtype=torch.float64, generator=generator)
    return ContextualBandit("tiny", x, (x @ w).argmax(1), k)


@pytest.mark.parametrize("uncertainty", ["laplace", "laplace-last-layer"])
def test_laplace_agent_variance_is_the_dense_ggn_posterior(uncertainty, generator):
    bandit = _tiny_bandit(generator)
    spec = agent_spec("laplace-ucb", uncertainty=uncertainty, width=6, warmup_rounds=5, train_every=20,
                      train_steps=10)
    agent = NeuralAgent(spec, bandit.context_dim, bandit.num_arms, bandit.horizon, seed=0)
    for t in range(27):   # trained at rounds 1..5 and 20; rounds 21..27 appended without refitting
        contexts = bandit.contexts(t)
        arm = agent.select(contexts, t)
        agent.update(contexts[arm], bandit.reward(t, arm), t)
    assert [f["round"] for f in agent.fits] == [1, 2, 3, 4, 5, 20]
    alpha, noise = agent.hyperparameters
    contexts = bandit.contexts(27)
    scale, _ = agent._scales(contexts)
    j_past, j_query = jacobian(agent.model, agent.contexts[:27])[:, 0], jacobian(agent.model, contexts)[:, 0]
    if uncertainty == "laplace-last-layer":
        last = agent.model[-1].weight.numel() + agent.model[-1].bias.numel()
        j_past, j_query = j_past[:, -last:], j_query[:, -last:]
    cov = torch.linalg.inv(j_past.T @ j_past / noise + alpha * torch.eye(j_past.shape[1], dtype=torch.float64))
    # Specific tolerance (tests/tolerances.py): the agent's Laplace fit vs an explicit P x P inverse.
    torch.testing.assert_close(scale ** 2, (j_query @ cov * j_query).sum(1), rtol=1e-6, atol=1e-12)


def test_neural_ucb_agent_uses_z_of_the_played_gradients_and_theory_gamma(generator):
    bandit = _tiny_bandit(generator)
    spec = agent_spec("neural-ucb", gamma="theory", covariance="full", variant="paper", width=8, lr=None,
                      train_steps=3, warmup_rounds=2, train_every=5)
    agent = NeuralAgent(spec, bandit.context_dim, bandit.num_arms, bandit.horizon, seed=0)
    played = []
    for t in range(12):
        contexts = bandit.contexts(t)
        arm = agent.select(contexts, t)
        phi = jacobian(agent.model, contexts[arm:arm + 1])[0, 0] / math.sqrt(8)   # at θ_t, before training
        played.append(phi)
        agent.update(contexts[arm], bandit.reward(t, arm), t)
    z = spec.lam * torch.eye(len(played[0]), dtype=torch.float64) + torch.stack(played).T @ torch.stack(played)
    assert agent.logdet_ratio() == pytest.approx(float(torch.logdet(z / spec.lam)), rel=1e-8)
    expected = theory_gamma(13, width=8, layers=2, lam=1.0, logdet_ratio=float(torch.logdet(z)),
                            steps=3, step_size=agent.theory_eta)
    assert agent.gamma(12) == pytest.approx(expected, rel=1e-8) and agent.gamma(12) > 1e3


def test_paper_recipe_restarts_gradient_descent_from_init(generator):
    bandit = _tiny_bandit(generator)
    spec = agent_spec("greedy", variant="paper", width=8, lr=1e-3, train_steps=5, warmup_rounds=0, train_every=100)
    agent = NeuralAgent(spec, bandit.context_dim, bandit.num_arms, bandit.horizon, seed=0)
    for t in range(10):
        agent.update(bandit.contexts(t)[0], float(t % 2), t)
    x, r = agent.contexts[:10], agent.rewards[:10]

    def objective():
        fit = 0.5 * ((agent.model(x)[:, 0] - r) ** 2).sum()
        return fit + 0.5 * 8 * sum(((p - p0) ** 2).sum()
                                   for p, p0 in zip(agent.model.parameters(), agent.initial, strict=True))

    with torch.no_grad():
        start = float(objective())
    agent.train()
    first = [p.detach().clone() for p in agent.model.parameters()]
    with torch.no_grad():
        assert float(objective()) < start
    agent.train()   # restarts from θ₀: identical result, not two trainings stacked
    assert all(torch.equal(a, b) for a, b in zip(first, agent.model.parameters(), strict=False))


@needs_uci
def test_agents_on_mushroom_learn_and_random_is_binomial():
    bandit = make_bandit("mushroom", 300, seed=0)
    random_regret = sum(run_bandit(bandit, agent_spec("random"), 0).regret)
    assert abs(random_regret - 150) < 4 * math.sqrt(300 * 0.25)   # Binomial(300, 1/2)
    greedy = run_bandit(bandit, agent_spec("greedy", width=32), 0)
    assert sum(greedy.regret) < 0.25 * 300 and sum(greedy.regret[150:]) < sum(greedy.regret[:150])
    again = run_bandit(bandit, agent_spec("greedy", width=32), 0)
    assert again.arms == greedy.arms   # seeded: reproducible


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["neural-ucb", "laplace-ts"])
def test_agents_make_the_same_choices_on_cuda_in_float64(name, generator):
    bandit = _tiny_bandit(generator)
    spec = agent_spec(name, gamma=0.1, covariance="full", width=16, warmup_rounds=5, train_every=10, train_steps=5) \
        if name == "neural-ucb" else agent_spec(name, width=16, warmup_rounds=5, train_every=10, train_steps=5)
    cpu, cuda = run_bandit(bandit, spec, 0), run_bandit(bandit, spec, 0, device="cuda")
    assert cpu.arms == cuda.arms
    assert cpu.bonuses == pytest.approx(cuda.bonuses, rel=1e-6, abs=1e-12)

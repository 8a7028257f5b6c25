"""Bad inputs and faults against lib.bandits: NaN contexts, diverged agents, bad specs, 0-round bandits."""

from __future__ import annotations

import pytest
import torch

from lib.bandits import ContextualBandit, NeuralAgent, RandomAgent, agent_spec, disjoint_encoding


def _agent(**overrides):
    spec = agent_spec("neural-ucb", **{"width": 8, "train_steps": 2, "warmup_rounds": 2, **overrides})
    return NeuralAgent(spec, context_dim=6, num_arms=2, horizon=10, seed=0)


def _contexts():
    return disjoint_encoding(torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64), 2)


def test_nan_context_names_the_round():
    contexts = _contexts()
    contexts[1, 4] = float("nan")
    with pytest.raises(ValueError, match=r"contexts \(round 3\) contains 1 NaN"):
        _agent().select(contexts, 3)


def test_nan_reward_names_the_round():
    agent = _agent()
    contexts = _contexts()
    arm = agent.select(contexts, 0)
    with pytest.raises(ValueError, match=r"reward \(round 0\)"):
        agent.update(contexts[arm], float("nan"), 0)


def test_diverged_agent_raises_floating_point_error_naming_the_round():
    agent = _agent(lr=1e12, exploration="greedy")
    with pytest.raises(FloatingPointError, match="Round [0-9]+:.*[Ll]ower the learning rate"):
        for t in range(10):
            contexts = _contexts() * (t + 1)
            arm = agent.select(contexts, t)
            agent.update(contexts[arm], 1e6, t)


def test_select_does_not_modify_contexts():
    agent, contexts = _agent(), _contexts()
    before = contexts.clone()
    for t in range(3):
        arm = agent.select(contexts, t)
        agent.update(contexts[arm], 1.0, t)
    assert torch.equal(contexts, before)


BAD_SPECS = [
    (dict(width=8.0), TypeError, "width"), (dict(depth=1.5), TypeError, "depth"),
    (dict(batch_size=0), ValueError, "batch_size"), (dict(lr=float("nan")), ValueError, "lr"),
    (dict(lam=0.0), ValueError, "lam"), (dict(gamma=float("nan")), ValueError, "gamma"),
    (dict(gamma=float("inf")), ValueError, "gamma"), (dict(epsilon=float("nan")), ValueError, "epsilon"),
    (dict(weight_decay=-1.0), ValueError, "weight_decay"), (dict(train_every=0), ValueError, "train_every"),
]


@pytest.mark.parametrize("overrides, error, match", BAD_SPECS, ids=[str(b[0]) for b in BAD_SPECS])
def test_agent_specs_reject_bad_fields(overrides, error, match):
    with pytest.raises(error, match=match):
        agent_spec("neural-ucb", **overrides)


@pytest.mark.parametrize("call, error, match", [
    (lambda: ContextualBandit("b", torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0).long(), 2), ValueError,
     "0 rounds"),
    (lambda: ContextualBandit("b", torch.full((2, 3), float("nan"), dtype=torch.float64), torch.zeros(2).long(), 2),
     ValueError, "features contains"),
    (lambda: ContextualBandit("b", torch.zeros(2, 3), torch.zeros(2), 2), TypeError, "labels"),
    (lambda: NeuralAgent(agent_spec("greedy"), 6, 2, 0, 0), ValueError, "horizon"),
    (lambda: NeuralAgent(agent_spec("greedy"), 6, 2.0, 10, 0), TypeError, "num_arms"),
    (lambda: RandomAgent(2.5, 0), TypeError, "num_arms"),
    (lambda: disjoint_encoding(torch.zeros(3), 2.0), TypeError, "num_arms"),
    (lambda: _agent().select(torch.zeros(3, 6, dtype=torch.float64), 0), ValueError, r"shape \[2, 6\]"),
])
def test_bandit_objects_reject_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()

"""Diagnostics of Chapter 3's UCB agents: which arm the bonus makes them pull.

For a UCB agent the pulled arm is ``argmax_a f_a + γ s_a``. When γ is huge (the theory's γ_t) it is
``argmax_a s_a``; whether that differs from greedy's ``argmax_a f_a`` depends on how the width ``s`` correlates
with the prediction ``f``. :func:`arm_agreement` replays a batched run and counts, per model, how often the
pulled arm equals each of the two.
"""

from __future__ import annotations

import torch

from lib.bandits.batched import BatchedAgents, BatchSpec
from lib.bandits.problems import make_batch


def arm_agreement(config: dict) -> dict:
    """Per model of a UCB batch (config of :func:`lib.experiments.bandits.configs.batch_config`): the fraction of
    rounds in which the pulled arm is ``argmax f`` (``greedy``) and ``argmax s`` (``width``), and the total regret."""
    spec = BatchSpec(**config["spec"])
    if spec.rule != "ucb":
        raise ValueError(f"arm_agreement needs a UCB batch (rule 'ucb'), got rule {spec.rule!r}.")
    seeds = [int(m[0]) for m in config["models"]]
    bandit = make_batch(config["problem"], config["horizon"], seeds)
    agents = BatchedAgents(spec, bandit, [float(m[1]) for m in config["models"]],
                           [float(m[2]) for m in config["models"]], seeds, device=config.get("device", "cpu"))
    greedy = torch.zeros(len(seeds), dtype=torch.float64)
    width = torch.zeros(len(seeds), dtype=torch.float64)
    regret = torch.zeros(len(seeds), dtype=torch.float64)
    for t in range(bandit.horizon):
        x = bandit.contexts(t)
        with torch.no_grad():
            active, hidden = agents._hidden(x)
            mean = torch.bmm(hidden, agents.w2[:, :, None])[..., 0] + agents.b2[:, None]
            var, _ = agents.variances(x, active, hidden)
        out = agents.play(t)
        greedy += (out["arm"] == mean.argmax(1)).double()
        width += (out["arm"] == var.argmax(1)).double()
        regret += out["regret"]
    T = bandit.horizon
    return {"greedy": (greedy / T).tolist(), "width": (width / T).tolist(), "final": regret.tolist()}

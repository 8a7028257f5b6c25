"""Neural contextual bandits (Chapter 3): environments, networks, posteriors, agents, runs.

* :mod:`lib.bandits.environments` — classification data as ``K``-armed bandits, disjoint encoding;
* :mod:`lib.bandits.networks` — Zhou et al.'s symmetric network and the official code's MLP;
* :mod:`lib.bandits.posterior` — NeuralUCB's ``Z`` (full or diagonal), the linearized-Laplace
  posterior and its evidence maximization;
* :mod:`lib.bandits.theory` — the kernel-regime exploration parameter γ_t;
* :mod:`lib.bandits.agents` — random, greedy, ε-greedy, NeuralUCB, NeuralTS, Laplace agents;
* :mod:`lib.bandits.run` — play an agent and record regret, γ and bonuses;
* :mod:`lib.bandits.problems` — bandits of many seeds as stacked tensors (UCI datasets, the wheel bandit);
* :mod:`lib.bandits.batched` — many agents trained as one batched computation (the chapter's experiments).

:mod:`lib.bandits.agents` is the one-agent-at-a-time reference implementation (autograd, exact full ``Z``,
the paper's Algorithm 1 recipe); :mod:`lib.bandits.batched` is what the chapter runs.
"""

from lib.bandits.agents import (
           AGENTS,
           COVARIANCES,
           EXPLORATIONS,
           UNCERTAINTIES,
           VARIANTS,
           AgentSpec,
           Covariance,
           Exploration,
           NeuralAgent,
           RandomAgent,
           Uncertainty,
           Variant,
           agent_spec,
           make_agent,
)
from lib.bandits.batched import BatchedAgents, BatchSpec, Evidence, Posterior, Rule, Scale, run_batch
from lib.bandits.environments import BANDIT_DATASETS, ContextualBandit, disjoint_encoding, make_bandit
from lib.bandits.networks import plain_network, symmetric_network
from lib.bandits.problems import BanditBatch, classification_batch, make_batch, wheel_batch
from lib.bandits.run import BanditRun, run_bandit
from lib.bandits.theory import TheoryConstants, theorem_steps, theory_gamma, theory_step_size

__all__ = ["AGENTS", "EXPLORATIONS", "UNCERTAINTIES", "VARIANTS", "COVARIANCES", "Exploration", "Uncertainty",
           "Variant", "Covariance", "AgentSpec", "NeuralAgent", "RandomAgent",
           "agent_spec", "make_agent", "BANDIT_DATASETS", "ContextualBandit", "disjoint_encoding", "make_bandit",
           "plain_network", "symmetric_network", "BanditRun", "run_bandit", "TheoryConstants", "theory_gamma",
           "theory_step_size", "theorem_steps", "BatchedAgents", "BatchSpec", "Evidence", "Posterior", "Rule",
           "Scale", "run_batch", "BanditBatch", "classification_batch", "make_batch", "wheel_batch"]

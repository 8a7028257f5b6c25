"""Neural contextual bandits (Chapter 3): environments, networks, posteriors, agents, runs.

* :mod:`lib.bandits.environments` — classification data as ``K``-armed bandits, disjoint encoding;
* :mod:`lib.bandits.networks` — Zhou et al.'s symmetric network and the official code's MLP;
* :mod:`lib.bandits.posterior` — NeuralUCB's ``Z`` (full or diagonal), the linearized-Laplace
  posterior and its evidence maximization;
* :mod:`lib.bandits.theory` — the kernel-regime exploration parameter γ_t;
* :mod:`lib.bandits.agents` — random, greedy, ε-greedy, NeuralUCB, NeuralTS, Laplace agents;
* :mod:`lib.bandits.run` — play an agent and record regret, γ and bonuses.
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
from lib.bandits.environments import BANDIT_DATASETS, ContextualBandit, disjoint_encoding, make_bandit
from lib.bandits.networks import plain_network, symmetric_network
from lib.bandits.run import BanditRun, run_bandit
from lib.bandits.theory import TheoryConstants, theory_gamma, theory_step_size

__all__ = ["AGENTS", "EXPLORATIONS", "UNCERTAINTIES", "VARIANTS", "COVARIANCES", "Exploration", "Uncertainty",
           "Variant", "Covariance", "AgentSpec", "NeuralAgent", "RandomAgent",
           "agent_spec", "make_agent", "BANDIT_DATASETS", "ContextualBandit", "disjoint_encoding", "make_bandit",
           "plain_network", "symmetric_network", "BanditRun", "run_bandit", "TheoryConstants", "theory_gamma",
           "theory_step_size"]

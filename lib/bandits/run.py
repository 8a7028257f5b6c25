"""Play an agent on a bandit and record what happened."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from lib.bandits.agents import AgentSpec, make_agent
from lib.bandits.environments import ContextualBandit


@dataclass
class BanditRun:
    """The record of one run.

    Attributes:
        arms: ``[T]`` pulled arms; regret: ``[T]`` per-round regret (0 or 1 here).
        gammas: ``[T]`` the exploration scale γ used in each round (0 for greedy/ε-greedy/random).
        bonuses: ``[T]`` ``γ s(x)`` of the pulled arm (UCB/TS; 0 otherwise).
        fits: the evidence fits of Laplace agents (round, α, σ², log evidence).
        seconds: wall-clock time of the run; num_parameters: ``P`` (0 for random).
    """

    arms: list[int]
    regret: list[float]
    gammas: list[float]
    bonuses: list[float]
    fits: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    num_parameters: int = 0

    @property
    def cumulative_regret(self) -> list[float]:
        return torch.tensor(self.regret, dtype=torch.float64).cumsum(0).tolist()


def run_bandit(bandit: ContextualBandit, spec: AgentSpec, seed: int, *, device: torch.device | str = "cpu",
               progress: bool = False, description: str | None = None) -> BanditRun:
    """Play ``spec``'s agent (initialised from ``seed``) for ``bandit.horizon`` rounds."""
    agent = make_agent(spec, bandit.context_dim, bandit.num_arms, bandit.horizon, seed, device=device)
    rounds = range(bandit.horizon)
    if progress:
        from tqdm.auto import tqdm
        rounds = tqdm(rounds, desc=description or f"{spec.exploration} on {bandit.name}", leave=False)
    arms, regret, gammas, bonuses = [], [], [], []
    start = time.perf_counter()
    for t in rounds:
        contexts = bandit.contexts(t)
        arm = agent.select(contexts, t)
        agent.update(contexts[arm], bandit.reward(t, arm), t)
        arms.append(arm)
        regret.append(bandit.regret(t, arm))
        gammas.append(agent.last_gamma)
        bonuses.append(agent.last_bonus)
    return BanditRun(arms, regret, gammas, bonuses, list(getattr(agent, "fits", [])), time.perf_counter() - start,
                     getattr(agent, "num_parameters", 0))

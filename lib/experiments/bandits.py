"""Chapter 3 — neural contextual bandits: is NTK-based uncertainty useful for exploration?
(Zhou et al. 2020; Zhang et al. 2021; Wenger, Dangel & Kristiadi 2023, Sec. 4.)

Every experiment is a function of a JSON-like config returning plain lists and numbers, so
:class:`lib.cache.ResultsCache` stores it and an interrupted sweep resumes. A config holds the
bandit (``dataset``, ``horizon``, ``seed`` — the seed shuffles the rounds *and* initialises the
agent) and the agent (``agent``: an :class:`lib.bandits.AgentSpec` as a dict).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from lib.bandits import AgentSpec, TheoryConstants, agent_spec, make_bandit, run_bandit, theory_gamma
from lib.bandits.theory import theory_step_size
from lib.experiments import config_device
from lib.profiles import pick_profile

#: The agents of the main comparison: label -> (agent name, overrides; ``gamma="tuned"`` = grid).
MAIN_AGENTS: dict[str, tuple[str, dict]] = {
    "random": ("random", {}),
    "greedy": ("greedy", {}),
    "ε-greedy": ("epsilon-greedy", {}),
    "NeuralUCB, theory γ_t": ("neural-ucb", {"gamma": "theory"}),
    "NeuralUCB, tuned γ": ("neural-ucb", {"gamma": "tuned"}),
    "NeuralTS, theory γ_t": ("neural-ts", {"gamma": "theory"}),
    "NeuralTS, tuned γ": ("neural-ts", {"gamma": "tuned"}),
    "Laplace-UCB (evidence)": ("laplace-ucb", {}),
    "Laplace-TS (evidence)": ("laplace-ts", {}),
}


@dataclass(frozen=True)
class BanditSizes:
    """Sizes of Chapter 3's experiments for one profile."""

    datasets: tuple[str, ...]
    horizon: int
    seeds: int
    width: int
    gamma_grid: tuple[float, ...]
    width_dataset: str
    widths: tuple[int, ...]
    width_horizon: int
    width_seeds: int
    variant_dataset: str
    variant_horizon: int
    variant_seeds: int
    variant_steps: int            # J of the paper recipe
    training: tuple[tuple[str, int], ...] = ()   # AgentSpec fields overridden in this profile (e.g. quick)

    def as_dict(self) -> dict:
        return asdict(self)

    def agent(self, name: str, **overrides) -> AgentSpec:
        """:func:`lib.bandits.agent_spec` with this profile's width and training overrides."""
        return agent_spec(name, **{"width": self.width, **dict(self.training), **overrides})


SIZES = {
    "quick": BanditSizes(datasets=("magic", "shuttle"), horizon=150, seeds=2, width=32, gamma_grid=(0.01, 1.0),
                         width_dataset="magic", widths=(16, 64), width_horizon=100, width_seeds=2,
                         variant_dataset="magic", variant_horizon=100, variant_seeds=2, variant_steps=20,
                         training=(("warmup_rounds", 10), ("train_every", 25), ("train_steps", 20))),
    "book": BanditSizes(datasets=("mushroom", "shuttle", "magic"), horizon=800, seeds=3, width=100,
                        gamma_grid=(0.001, 0.01, 0.1, 1.0, 10.0), width_dataset="shuttle", widths=(32, 256, 2048),
                        width_horizon=500, width_seeds=2, variant_dataset="magic", variant_horizon=500,
                        variant_seeds=2, variant_steps=100),
    "paper": BanditSizes(datasets=("mushroom", "shuttle", "magic", "adult", "letter", "mnist"), horizon=10000,
                         seeds=10, width=100, gamma_grid=(0.001, 0.01, 0.1, 1.0, 10.0), width_dataset="shuttle",
                         widths=(32, 64, 128, 256, 512, 1024, 2048), width_horizon=10000, width_seeds=5,
                         variant_dataset="magic", variant_horizon=2000, variant_seeds=5, variant_steps=1000),
}


def sizes_for(profile: str) -> BanditSizes:
    """The size table of ``profile``."""
    return pick_profile(SIZES, profile)


def main_specs(sizes: BanditSizes) -> dict[str, list[AgentSpec]]:
    """Label -> the specs it needs (one, or one per γ of the grid for the tuned agents)."""
    specs = {}
    for label, (name, overrides) in MAIN_AGENTS.items():
        if overrides.get("gamma") == "tuned":
            specs[label] = [sizes.agent(name, **dict(overrides, gamma=g)) for g in sizes.gamma_grid]
        else:
            specs[label] = [sizes.agent(name, **overrides)]
    return specs


def run_config(dataset: str, horizon: int, seed: int, spec: AgentSpec, device: torch.device | str = "cpu") -> dict:
    """The cache config of one bandit run."""
    return {"dataset": dataset, "horizon": horizon, "seed": seed, "agent": spec.as_dict(), "device": str(device)}


def bandit_run(config: dict) -> dict:
    """Play one agent on one bandit (config of :func:`run_config`).

    Returns per-round ``regret`` (0/1), the γ used per round, the bonus ``γ s(x)`` of the pulled
    arm, the Laplace evidence fits, ``seconds`` and ``num_parameters``.
    """
    bandit = make_bandit(config["dataset"], config["horizon"], config["seed"])
    spec = AgentSpec.from_dict(config["agent"])
    run = run_bandit(bandit, spec, config["seed"], device=config_device(config))
    return {"regret": [int(r) for r in run.regret], "gammas": run.gammas, "bonuses": run.bonuses, "fits": run.fits,
            "seconds": run.seconds, "num_parameters": run.num_parameters}


def cumulative(results: list[dict]) -> torch.Tensor:
    """``[seeds, T]`` cumulative regret of several runs."""
    return torch.tensor([r["regret"] for r in results], dtype=torch.float64).cumsum(1)


def final_regret(results: list[dict]) -> torch.Tensor:
    """``[seeds]`` total regret (= mistakes) of several runs."""
    return cumulative(results)[:, -1]


def pick_in_hindsight(runs_per_gamma: dict[float, list[dict]]) -> tuple[float, bool]:
    """The γ with the smallest mean final regret over seeds, and whether it lies on the grid's edge.

    This is tuning *in hindsight* — on the very rounds being evaluated — as in the papers'
    grid searches; the chapter says so.
    """
    grid = sorted(runs_per_gamma)
    means = [float(final_regret(runs_per_gamma[g]).mean()) for g in grid]
    best = min(range(len(grid)), key=lambda i: means[i])
    return grid[best], best in (0, len(grid) - 1) and len(grid) > 1


def theory_gamma_curve(times: list[int], *, width: int, depth: int = 1, lam: float = 1.0, horizon: int,
                       steps: int, logdet_ratio: float = 0.0,
                       constants: TheoryConstants = TheoryConstants()) -> list[float]:
    """γ_t at ``times`` with a fixed ``log det(Z_t/λI)`` (0 gives a lower bound; the term grows with t)."""
    layers = depth + 1
    eta = theory_step_size(horizon, width, layers, lam, constants)
    return [theory_gamma(t, width=width, layers=layers, lam=lam, logdet_ratio=logdet_ratio, steps=steps,
                         step_size=eta, constants=constants) for t in times]


def theory_gamma_floor(horizon: int, *, depth: int = 1, lam: float = 1.0, steps: int,
                       constants: TheoryConstants = TheoryConstants()) -> float:
    """``lim_{m→∞} γ_T``: the width-independent part ``(λ + C₃TL)(1 − ηmλ)^{J/2} √(T/λ)`` plus the
    confidence term ``ν √(−2 log δ) + √λ S`` (with ``log det = 0``). With the theory's step size
    ``ηmλ = λ/(TL + λ)`` does not depend on ``m``, so only many gradient steps ``J`` shrink it."""
    layers = depth + 1
    contraction = 1.0 - lam / (horizon * layers + lam)
    c = constants
    return ((lam + c.C3 * horizon * layers) * contraction ** (steps / 2) * math.sqrt(horizon / lam)
            + c.nu * math.sqrt(-2 * math.log(c.delta)) + math.sqrt(lam) * c.S)


def variant_specs(sizes: BanditSizes, gamma: float) -> dict[str, AgentSpec]:
    """Paper recipe vs official-code practice, standard vs NTK parametrization (NeuralUCB, fixed γ)."""
    specs = {}
    for parametrization in ("standard", "ntk"):
        specs[f"paper recipe, {parametrization}"] = sizes.agent(
            "neural-ucb", gamma=gamma, variant="paper", covariance="full", parametrization=parametrization,
            lr=None, train_steps=sizes.variant_steps)
        specs[f"code practice, {parametrization}"] = sizes.agent(
            "neural-ucb", gamma=gamma, variant="code", covariance="diagonal", parametrization=parametrization)
    return specs

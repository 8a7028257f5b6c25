"""Chapter 3's configuration: agents, size tables per profile, and the configs of every sweep.

A config is one **batched run** (:func:`lib.bandits.batched.run_batch`): a problem, a horizon, a shared
:class:`lib.bandits.batched.BatchSpec` and one ``(seed, λ, γ)`` per model. Evaluation seeds are
``seed, seed + 1, …``; tuning seeds start at :data:`TUNING_SEED` and never overlap them (a seed shuffles
the rounds, draws the wheel's contexts and noise, and initialises the network).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from lib.bandits.batched import BatchSpec
from lib.options import Option
from lib.profiles import pick_profile

#: First tuning seed (tuning seeds: TUNING_SEED, TUNING_SEED + 1, …; evaluation seeds start at the notebook's seed).
TUNING_SEED = 1000

#: The official code's λ (its `--lamdba` default), used as weight decay where λ is not tuned.
OFFICIAL_LAMBDA = 1e-3

#: λ of the theory agent (γ_t's dominant terms fall with λ; λ = 1 is kinder to the theory than 1e-3).
THEORY_LAMBDA = 1.0


class Agent(Option):
    """The agents of the main comparison."""

    RANDOM = "random", "a uniformly random arm"
    GREEDY = "greedy", "argmax of the network (γ = 0), λ tuned"
    NEURAL_UCB = "NeuralUCB", "official diagonal U, (λ, γ) tuned jointly, γ = 0 in the grid"
    NEURAL_TS = "NeuralTS", "official diagonal U, (λ, ν) tuned jointly, ν = 0 in the grid"
    THEORY_UCB = "NeuralUCB, theory γ_t plugged in", "Zhou et al.'s γ_t (theorem's J) in the practical agent, λ = 1"
    LAPLACE_UCB = "Laplace-UCB", "diagonal Laplace refreshed at θ*, (α, σ²) by evidence, one posterior s.d."
    NEURAL_LINEAR = "NeuralLinear-UCB", "last-layer Laplace (Riquelme et al.'s neural-linear), evidence, one s.d."


#: Key of the batch of greedy "twins": greedy at every λ an exploring agent trains with (γ = 0, same training).
TWINS = "greedy twins"


class Ablation(Option):
    """The Laplace ablations (all UCB on the ablation problem, same seeds)."""

    NEURAL = "NeuralUCB (tuned γ)", "official stale diagonal U, γ tuned"
    DIAGONAL = "diagonal, evidence", "diagonal GGN at θ*, refreshed every training, evidence-set scale"
    DIAGONAL_TUNED = "diagonal, tuned scale", "the same with the scale multiplied by a tuned γ"
    DIAGONAL_STALE = "diagonal, refreshed rarely", "the kernel refreshed at θ* only every 50th training"
    ONLINE = "diagonal, online evidence", "(α, σ²) also set the training's weight decay 2ασ²/n"
    LAST_LAYER = "last layer, full", "full covariance of the readout layer at θ*, evidence-set"
    FULL = "all layers, full", "full GGN posterior in function space (NTK at θ*), evidence-set"


@dataclass(frozen=True)
class BanditSizes:
    """Sizes of Chapter 3's experiments for one profile."""

    problems: tuple[str, ...]          # main comparison ("wheel-δ" or UCI names)
    horizon: int
    eval_seeds: int
    tuning_seeds: int
    lams: tuple[float, ...]            # λ grid (weight decay and U's start)
    gammas: tuple[float, ...]          # NeuralUCB γ grid (with 0 = greedy)
    nus: tuple[float, ...]             # NeuralTS ν grid (with 0)
    laplace_gammas: tuple[float, ...]  # multipliers of the Laplace scale (with 1 = evidence)
    width: int
    lr: float
    batch_size: int
    max_steps: int
    budget_steps: tuple[int, ...]      # the budget sweep's step caps
    budget_horizon: int
    official_problem: str
    official_horizon: int
    ablation_problem: str
    ablation_horizon: int
    full_refresh_every: int            # trainings between refreshes of the full (function-space) Laplace kernel
    every_round_until: int = 2000
    train_every: int = 100
    tolerance: float = 1e-3

    def __post_init__(self) -> None:
        if max(self.budget_steps) <= self.max_steps:
            raise ValueError(f"The budget sweep needs a cap above the main one ({self.max_steps}) to show whether "
                             f"greedy has plateaued; got {self.budget_steps}.")

    def as_dict(self) -> dict:
        return asdict(self)

    def spec(self, **overrides) -> BatchSpec:
        """The profile's training recipe (mini-batches) with ``overrides``."""
        base = dict(width=self.width, lr=self.lr, batch_size=self.batch_size, max_steps=self.max_steps,
                    tolerance=self.tolerance, every_round_until=self.every_round_until, train_every=self.train_every)
        return BatchSpec(**{**base, **overrides})

    def official_spec(self, **overrides) -> BatchSpec:
        """The official code's recipe: per-sample SGD, lr 0.01, up to 1000 steps or an epoch loss <= 1e-3."""
        return replace(self.spec(**overrides), lr=1e-2, batch_size=1, max_steps=1000, tolerance=1e-3)


SIZES = {
    "quick": BanditSizes(problems=("wheel-0.95", "magic"), horizon=120, eval_seeds=3, tuning_seeds=1,
                         lams=(1e-3, 1e-1), gammas=(0.0, 1.0), nus=(0.0, 1.0), laplace_gammas=(0.3, 1.0),
                         width=32, lr=0.1, batch_size=32, max_steps=10, budget_steps=(2, 10, 20),
                         budget_horizon=100, official_problem="magic", official_horizon=12,
                         ablation_problem="wheel-0.95", ablation_horizon=100, full_refresh_every=10),
    "book": BanditSizes(problems=("wheel-0.95", "magic"), horizon=2000, eval_seeds=10, tuning_seeds=3,
                        lams=(1e-3, 1e-2, 1e-1), gammas=(0.0, 0.1, 1.0, 10.0), nus=(0.0, 0.1, 1.0, 10.0),
                        laplace_gammas=(0.1, 0.3, 1.0, 3.0, 10.0), width=100, lr=0.1, batch_size=32,
                        max_steps=30, budget_steps=(1, 3, 10, 30, 100), budget_horizon=1000,
                        official_problem="magic", official_horizon=200, ablation_problem="wheel-0.95",
                        ablation_horizon=1000,
                        full_refresh_every=50),
    "paper": BanditSizes(problems=("wheel-0.95", "magic", "shuttle", "mnist"), horizon=15000,
                         eval_seeds=10, tuning_seeds=3, lams=(1e-4, 1e-3, 1e-2, 1e-1, 1.0),
                         gammas=(0.0, 0.01, 0.1, 1.0, 10.0), nus=(0.0, 0.01, 0.1, 1.0, 10.0),
                         laplace_gammas=(0.1, 0.3, 1.0, 3.0, 10.0), width=100, lr=0.1, batch_size=32,
                         max_steps=30, budget_steps=(1, 3, 10, 30, 100, 300), budget_horizon=15000,
                         official_problem="shuttle",
                         official_horizon=15000, ablation_problem="wheel-0.95", ablation_horizon=15000,
                         full_refresh_every=100),
}


def sizes_for(profile: str) -> BanditSizes:
    """The size table of ``profile``."""
    return pick_profile(SIZES, profile)


def eval_seeds(sizes: BanditSizes, first: int = 0) -> list[int]:
    """The evaluation seeds ``first, first + 1, …``."""
    return list(range(first, first + sizes.eval_seeds))


def tuning_seeds(sizes: BanditSizes) -> list[int]:
    """The tuning seeds (from :data:`TUNING_SEED` on; disjoint from every evaluation seed below it)."""
    return list(range(TUNING_SEED, TUNING_SEED + sizes.tuning_seeds))


def batch_config(problem: str, horizon: int, spec: BatchSpec, models: list[tuple[int, float, float]],
                 device: str = "cpu") -> dict:
    """The cache config of one batched run: ``models`` = ``[(seed, λ, γ), …]``."""
    return {"problem": problem, "horizon": horizon, "spec": spec.as_dict(),
            "models": [[int(s), float(lam), float(g)] for s, lam, g in models], "device": str(device)}


def tuning_configs(sizes: BanditSizes, problem: str, device: str = "cpu") -> dict[str, dict]:
    """NeuralUCB (λ × γ) and NeuralTS (λ × ν, ν > 0) on the tuning seeds; γ = 0 is greedy with that λ."""
    seeds = tuning_seeds(sizes)
    ucb = [(s, lam, g) for lam in sizes.lams for g in sizes.gammas for s in seeds]
    ts = [(s, lam, v) for lam in sizes.lams for v in sizes.nus if v > 0 for s in seeds]
    return {"ucb": batch_config(problem, sizes.horizon, sizes.spec(rule="ucb"), ucb, device),
            "ts": batch_config(problem, sizes.horizon, sizes.spec(rule="ts"), ts, device)}


def twin_lams(picks: dict[str, tuple[float, float]]) -> dict[str, float]:
    """The λ (weight decay) each exploring agent trains with: its greedy twin is greedy at that λ."""
    return {Agent.NEURAL_UCB.value: picks["ucb"][0], Agent.NEURAL_TS.value: picks["ts"][0],
            Agent.THEORY_UCB.value: THEORY_LAMBDA, Agent.LAPLACE_UCB.value: OFFICIAL_LAMBDA,
            Agent.NEURAL_LINEAR.value: OFFICIAL_LAMBDA}


def twin_models(picks: dict[str, tuple[float, float]], seeds: list[int]) -> list[tuple[int, float, float]]:
    """Greedy (γ = 0) at every twin λ that is not greedy's own, all in one batch (λ in sorted order)."""
    lams = sorted(set(twin_lams(picks).values()) - {picks["greedy"][0]})
    return [(s, lam, 0.0) for lam in lams for s in seeds]


def evaluation_configs(sizes: BanditSizes, problem: str, picks: dict[str, tuple[float, float]], *, first: int = 0,
                       device: str = "cpu") -> dict[str, dict]:
    """The main comparison on the evaluation seeds with the picked ``(λ, γ)`` of each tuned agent, plus the batch
    of greedy twins (:data:`TWINS`, :func:`twin_models`)."""
    seeds = eval_seeds(sizes, first)
    T = sizes.horizon

    def models(lam: float, gamma: float) -> list[tuple[int, float, float]]:
        return [(s, lam, gamma) for s in seeds]

    out = {
        Agent.RANDOM.value: batch_config(problem, T, sizes.spec(rule="random"), models(1.0, 0.0), device),
        Agent.GREEDY.value: batch_config(problem, T, sizes.spec(rule="greedy"), models(picks["greedy"][0], 0.0),
                                         device),
        Agent.NEURAL_UCB.value: batch_config(problem, T, sizes.spec(rule="ucb"), models(*picks["ucb"]), device),
        Agent.NEURAL_TS.value: batch_config(problem, T, sizes.spec(rule="ts"), models(*picks["ts"]), device),
        Agent.THEORY_UCB.value: batch_config(problem, T, sizes.spec(rule="ucb", scale="theory"),
                                             models(THEORY_LAMBDA, 0.0), device),
        Agent.LAPLACE_UCB.value: batch_config(problem, T, sizes.spec(rule="ucb", posterior="laplace-diagonal"),
                                              models(OFFICIAL_LAMBDA, 1.0), device),
        Agent.NEURAL_LINEAR.value: batch_config(problem, T, sizes.spec(rule="ucb", posterior="laplace-last-layer"),
                                                models(OFFICIAL_LAMBDA, 1.0), device),
    }
    twins = twin_models(picks, seeds)
    if twins:
        out[TWINS] = batch_config(problem, T, sizes.spec(rule="greedy"), twins, device)
    return out


def budget_configs(sizes: BanditSizes, problem: str, picks: dict[str, tuple[float, float]], *, first: int = 0,
                   device: str = "cpu") -> dict[int, dict]:
    """Greedy (the first ``n`` models: γ = 0 with greedy's λ) and the tuned NeuralUCB (the next ``n``) in one batch
    per step cap of the budget sweep (evaluation seeds, ``budget_horizon`` rounds)."""
    seeds = eval_seeds(sizes, first)
    models = [(s, picks["greedy"][0], 0.0) for s in seeds] + [(s, *picks["ucb"]) for s in seeds]
    return {steps: batch_config(problem, sizes.budget_horizon, sizes.spec(rule="ucb", max_steps=steps), models, device)
            for steps in sizes.budget_steps}


def official_configs(sizes: BanditSizes, *, first: int = 0, device: str = "cpu") -> dict[str, dict]:
    """Greedy trained by the official per-sample recipe and by the chapter's mini-batch recipe (λ = 1e-3)."""
    seeds = eval_seeds(sizes, first)
    models = [(s, OFFICIAL_LAMBDA, 0.0) for s in seeds]
    p, T = sizes.official_problem, sizes.official_horizon
    return {"official (per-sample SGD)": batch_config(p, T, sizes.official_spec(rule="greedy"), models, device),
            "chapter (mini-batches)": batch_config(p, T, sizes.spec(rule="greedy"), models, device)}


def laplace_tuning_config(sizes: BanditSizes, device: str = "cpu") -> dict:
    """The diagonal Laplace agent with its scale multiplied by each γ of the grid, on the tuning seeds."""
    models = [(s, OFFICIAL_LAMBDA, g) for g in sizes.laplace_gammas for s in tuning_seeds(sizes)]
    return batch_config(sizes.ablation_problem, sizes.ablation_horizon,
                        sizes.spec(rule="ucb", posterior="laplace-diagonal"), models, device)


def ablation_configs(sizes: BanditSizes, neural_pick: tuple[float, float], laplace_gamma: float, *, first: int = 0,
                     device: str = "cpu") -> dict[str, dict]:
    """The Laplace ablations (:class:`Ablation`) on the evaluation seeds."""
    seeds = eval_seeds(sizes, first)
    p, T = sizes.ablation_problem, sizes.ablation_horizon

    def models(lam: float, gamma: float) -> list[tuple[int, float, float]]:
        return [(s, lam, gamma) for s in seeds]

    lap = dict(rule="ucb", posterior="laplace-diagonal")
    return {
        Ablation.NEURAL.value: batch_config(p, T, sizes.spec(rule="ucb"), models(*neural_pick), device),
        Ablation.DIAGONAL.value: batch_config(p, T, sizes.spec(**lap), models(OFFICIAL_LAMBDA, 1.0), device),
        Ablation.DIAGONAL_TUNED.value: batch_config(p, T, sizes.spec(**lap), models(OFFICIAL_LAMBDA, laplace_gamma),
                                                    device),
        Ablation.DIAGONAL_STALE.value: batch_config(p, T, sizes.spec(**lap, refresh_every=50),
                                                    models(OFFICIAL_LAMBDA, 1.0), device),
        Ablation.ONLINE.value: batch_config(p, T, sizes.spec(**lap, evidence="online"), models(OFFICIAL_LAMBDA, 1.0),
                                            device),
        Ablation.LAST_LAYER.value: batch_config(p, T, sizes.spec(rule="ucb", posterior="laplace-last-layer"),
                                                models(OFFICIAL_LAMBDA, 1.0), device),
        Ablation.FULL.value: batch_config(p, T, sizes.spec(rule="ucb", posterior="laplace-full",
                                                           refresh_every=sizes.full_refresh_every),
                                          models(OFFICIAL_LAMBDA, 1.0), device),
    }

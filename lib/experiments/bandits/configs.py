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
    EPSILON_GREEDY = "ε-greedy", "a random arm with probability ε (ε tuned), greedy's λ"
    SHUFFLED = "NeuralUCB, shuffled bonus", "NeuralUCB's (λ, γ) and widths, permuted at random across the arms"


#: Key of the batch of greedy "twins": greedy at every λ an exploring agent trains with (γ = 0, same training).
TWINS = "greedy twins"


class Ablation(Option):
    """The Laplace ablations (all UCB on the ablation problem, same seeds), and greedy for reference."""

    GREEDY = "greedy (λ = 1e-3)", "no exploration, the Laplace agents' weight decay: their greedy twin"
    NEURAL = "NeuralUCB (tuned γ)", "official stale diagonal U, γ tuned"
    NEURAL_FRESH = "NeuralUCB, U at θ*", "the same λ and γ, U recomputed from the gradients at the trained θ*"
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
    epsilons: tuple[float, ...] = (0.01, 0.03, 0.1)   # ε-greedy's grid (at greedy's λ; ε = 0 is greedy)
    control_problems: tuple[str, ...] = ("wheel-0.95",)  # where the shuffled-bonus control runs
    eps_problems: tuple[str, ...] = ("wheel-0.95", "magic")  # where ε-greedy is tuned and run
    linear_problems: tuple[str, ...] = ("wheel-0.95",)   # where NeuralLinear-UCB runs in the main comparison
    budget_retune: tuple[int, ...] = ()  # step caps (of budget_steps) at which NeuralUCB's γ is re-tuned
    extend_lams: bool = True             # second tuning stage: a decade beyond a λ picked at a grid edge
    snapshots: tuple[int, ...] = (250, 1000, 2000)      # rounds of the training-snapshot check
    snapshot_seeds: int = 6
    snapshot_holdout: int = 500
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
                         ablation_problem="wheel-0.95", ablation_horizon=100, full_refresh_every=10,
                         epsilons=(0.03, 0.1), budget_retune=(2, 20), snapshots=(30, 100), snapshot_seeds=3,
                         snapshot_holdout=40, control_problems=("wheel-0.95", "magic"),
                         linear_problems=("wheel-0.95", "magic"), extend_lams=False),
    # Sized to fit 20 minutes on 2 CPU cores (the cuts and what they cost are stated in the notebook's text):
    # λ grid 1e-3, 1e-2 (0.1 was far worse on both problems in an earlier tuning on the tuning seeds), extended
    # by a decade in the second stage when the pick is at an edge; γ/ν grids a decade apart, refined around
    # each pick in the second stage (ν = 10 dropped: a pick at ν = 1 is extended to 3 there); the budget sweep
    # at 3 caps (3, 30, 60: 60 steps move the weights 6 of the official 10 learning-rate units per round) over
    # 800 rounds, γ re-tuned at the outer two; ε-greedy and the shuffled bonus on the wheel only; NeuralLinear
    # only in the Laplace ablation (T = 1000); the official end-to-end run over 100 rounds.
    "book": BanditSizes(problems=("wheel-0.95", "magic"), horizon=2000, eval_seeds=10, tuning_seeds=3,
                        lams=(1e-3, 1e-2), gammas=(0.0, 0.1, 1.0, 10.0), nus=(0.0, 0.1, 1.0),
                        laplace_gammas=(0.1, 0.3, 1.0, 3.0, 10.0), width=100, lr=0.1, batch_size=32,
                        max_steps=30, budget_steps=(3, 30, 60), budget_horizon=800,
                        official_problem="magic", official_horizon=100, ablation_problem="wheel-0.95",
                        ablation_horizon=1000, full_refresh_every=50, budget_retune=(3, 60), snapshot_seeds=5,
                        linear_problems=(), eps_problems=("wheel-0.95",)),
    "paper": BanditSizes(problems=("wheel-0.95", "magic", "shuttle", "mnist"), horizon=15000,
                         eval_seeds=10, tuning_seeds=3, lams=(1e-4, 1e-3, 1e-2, 1e-1, 1.0),
                         gammas=(0.0, 0.01, 0.1, 1.0, 10.0), nus=(0.0, 0.01, 0.1, 1.0, 10.0),
                         laplace_gammas=(0.1, 0.3, 1.0, 3.0, 10.0), width=100, lr=0.1, batch_size=32,
                         max_steps=30, budget_steps=(1, 3, 10, 30, 100, 300), budget_horizon=15000,
                         official_problem="shuttle",
                         official_horizon=15000, ablation_problem="wheel-0.95", ablation_horizon=15000,
                         full_refresh_every=100, control_problems=("wheel-0.95", "magic", "shuttle", "mnist"),
                         linear_problems=("wheel-0.95", "magic", "shuttle", "mnist"),
                         eps_problems=("wheel-0.95", "magic", "shuttle", "mnist"),
                         budget_retune=(1, 3, 10, 30, 100, 300), snapshots=(500, 2000, 10000), snapshot_seeds=10),
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


def refine_values(pick: float, grid: tuple[float, ...]) -> list[float]:
    """The second-stage values around a first-stage pick: ``pick/3`` and ``3·pick``, or 0.01 and 0.03 when the
    pick is 0 (is a bonus below the grid's smallest positive value useful?); values already tried are left out."""
    values = [0.01, 0.03] if pick == 0 else [pick / 3, pick * 3]
    return [v for v in values if all(abs(v - g) > 1e-12 * max(1.0, g) for g in grid)]


def refine_configs(sizes: BanditSizes, problem: str, picks: dict[str, tuple[float, float]],
                   device: str = "cpu") -> dict[str, dict]:
    """Second tuning stage on the tuning seeds: NeuralUCB's γ and NeuralTS's ν refined at their picked λ
    (:func:`refine_values`), λ extended by a decade at the picked γ or ν when it is at an edge
    (:func:`extend_lam`), and ε-greedy's ε at greedy's λ (ε = 0 is greedy, already run)."""
    seeds = tuning_seeds(sizes)
    out = {}
    for kind, grid in (("ucb", sizes.gammas), ("ts", sizes.nus)):
        lam, value = picks[kind]
        cells = [(lam, v) for v in refine_values(value, grid)]
        if sizes.extend_lams:
            cells += [(v, value) for v in extend_lam(lam, sizes.lams)]
        models = [(s, la, v) for la, v in cells for s in seeds]
        if models:
            out[kind] = batch_config(problem, sizes.horizon, sizes.spec(rule=kind), models, device)
    if problem in sizes.eps_problems:
        eps = [(s, picks["greedy"][0], e) for e in sizes.epsilons for s in seeds]
        out["eps"] = dict(batch_config(problem, sizes.horizon, sizes.spec(rule="ucb"), eps, device),
                          control="epsilon-greedy")
    return out


def extend_lam(lam: float, grid: tuple[float, ...]) -> list[float]:
    """A decade beyond a λ picked at an edge of the grid (none if the pick is inside)."""
    if len(grid) < 2:
        return []
    if lam == min(grid):
        return [lam / 10]
    if lam == max(grid):
        return [lam * 10]
    return []


def twin_lams(picks: dict[str, tuple[float, float]]) -> dict[str, float]:
    """The λ (weight decay) each exploring agent trains with: its greedy twin is greedy at that λ."""
    return {Agent.NEURAL_UCB.value: picks["ucb"][0], Agent.NEURAL_TS.value: picks["ts"][0],
            Agent.THEORY_UCB.value: THEORY_LAMBDA, Agent.LAPLACE_UCB.value: OFFICIAL_LAMBDA,
            Agent.NEURAL_LINEAR.value: OFFICIAL_LAMBDA, Agent.EPSILON_GREEDY.value: picks["greedy"][0],
            Agent.SHUFFLED.value: picks["ucb"][0]}


def agents_on(sizes: BanditSizes, problem: str) -> list[str]:
    """The agents of the main comparison on ``problem`` (the shuffled-bonus control, NeuralLinear-UCB and ε-greedy
    only on ``sizes.control_problems``, ``sizes.linear_problems`` and ``sizes.eps_problems``)."""
    skip = set()
    if problem not in sizes.control_problems:
        skip.add(Agent.SHUFFLED.value)
    if problem not in sizes.linear_problems:
        skip.add(Agent.NEURAL_LINEAR.value)
    if problem not in sizes.eps_problems:
        skip.add(Agent.EPSILON_GREEDY.value)
    return [a.value for a in Agent if a.value not in skip]


def twin_models(picks: dict[str, tuple[float, float]], seeds: list[int],
                agents: list[str] | None = None) -> list[tuple[int, float, float]]:
    """Greedy (γ = 0) at every twin λ (of ``agents``; default all) that is not greedy's own, all in one batch
    (λ in sorted order)."""
    lams = sorted({lam for a, lam in twin_lams(picks).items() if agents is None or a in agents}
                  - {picks["greedy"][0]})
    return [(s, lam, 0.0) for lam in lams for s in seeds]


def evaluation_configs(sizes: BanditSizes, problem: str, picks: dict[str, tuple[float, float]], *, first: int = 0,
                       device: str = "cpu") -> dict[str, dict]:
    """The main comparison on the evaluation seeds with the picked ``(λ, γ)`` of each tuned agent (``picks``:
    ``greedy``, ``ucb``, ``ts``, ``eps``), plus the batch of greedy twins (:data:`TWINS`, :func:`twin_models`)."""
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
        Agent.EPSILON_GREEDY.value: dict(batch_config(problem, T, sizes.spec(rule="ucb"), models(*picks["eps"]),
                                                      device), control="epsilon-greedy"),
        Agent.SHUFFLED.value: dict(batch_config(problem, T, sizes.spec(rule="ucb"), models(*picks["ucb"]), device),
                                   control="shuffled-bonus"),
    }
    agents = agents_on(sizes, problem)
    out = {a: c for a, c in out.items() if a in agents}
    twins = twin_models(picks, seeds, agents)
    if twins:
        out[TWINS] = batch_config(problem, T, sizes.spec(rule="greedy"), twins, device)
    return out


def budget_grid(gamma: float) -> list[float]:
    """NeuralUCB's γ grid when it is re-tuned at another step cap: around the main pick (0 included)."""
    return [0.0, gamma / 3, gamma, 3 * gamma] if gamma > 0 else [0.0, 0.1, 1.0]


def budget_tuning_configs(sizes: BanditSizes, problem: str, picks: dict[str, tuple[float, float]],
                          device: str = "cpu") -> dict[int, dict]:
    """NeuralUCB at its picked λ with γ in :func:`budget_grid` on the tuning seeds, per re-tuned step cap
    (``sizes.budget_retune``), over ``budget_horizon`` rounds."""
    lam, gamma = picks["ucb"]
    models = [(s, lam, g) for g in budget_grid(gamma) for s in tuning_seeds(sizes)]
    return {steps: batch_config(problem, sizes.budget_horizon, sizes.spec(rule="ucb", max_steps=steps), models,
                                device)
            for steps in sizes.budget_retune if steps in sizes.budget_steps}


def budget_configs(sizes: BanditSizes, problem: str, picks: dict[str, tuple[float, float]], *, first: int = 0,
                   gammas: dict[int, float] | None = None, device: str = "cpu") -> dict[int, dict]:
    """Greedy (the first ``n`` models: γ = 0 with greedy's λ) and NeuralUCB (the next ``n``: its λ, and the γ
    re-tuned at that cap where ``gammas`` has one, else the main pick) in one batch per step cap of the budget
    sweep (evaluation seeds, ``budget_horizon`` rounds)."""
    seeds = eval_seeds(sizes, first)
    gammas = gammas or {}
    out = {}
    for steps in sizes.budget_steps:
        lam, gamma = picks["ucb"][0], gammas.get(steps, picks["ucb"][1])
        models = [(s, picks["greedy"][0], 0.0) for s in seeds] + [(s, lam, gamma) for s in seeds]
        out[steps] = batch_config(problem, sizes.budget_horizon, sizes.spec(rule="ucb", max_steps=steps), models,
                                  device)
    return out


def snapshot_config(sizes: BanditSizes, problem: str, *, first: int = 0, device: str = "cpu") -> dict:
    """The training-snapshot check (:func:`lib.experiments.bandits.diagnostics.training_snapshots`): greedy at the
    official λ on the first ``snapshot_seeds`` evaluation seeds."""
    seeds = eval_seeds(sizes, first)[:sizes.snapshot_seeds]
    return {"problem": problem, "models": [[s, OFFICIAL_LAMBDA, 0.0] for s in seeds],
            "spec": sizes.spec(rule="greedy").as_dict(), "official": sizes.official_spec(rule="greedy").as_dict(),
            "snapshots": list(sizes.snapshots), "holdout": sizes.snapshot_holdout, "device": str(device)}


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
        Ablation.GREEDY.value: batch_config(p, T, sizes.spec(rule="ucb"), models(OFFICIAL_LAMBDA, 0.0), device),
        Ablation.NEURAL.value: batch_config(p, T, sizes.spec(rule="ucb"), models(*neural_pick), device),
        Ablation.NEURAL_FRESH.value: dict(batch_config(p, T, sizes.spec(rule="ucb", posterior="laplace-diagonal"),
                                                       models(*neural_pick), device), control="fresh-ucb"),
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

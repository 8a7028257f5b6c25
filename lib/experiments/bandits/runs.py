"""Chapter 3's experiments as pure functions of JSON-like configs (cacheable, picklable by reference)."""

from __future__ import annotations

import math
import time

import torch

from lib.bandits.batched import BatchSpec, run_batch
from lib.bandits.controls import run_control
from lib.bandits.problems import make_batch
from lib.bandits.theory import TheoryConstants, theorem_steps, theory_gamma, theory_step_size
from lib.experiments import config_device

#: The entries of a :func:`batch_run` result that hold one value per model.
PER_MODEL = ("final", "curve", "z2", "coverage", "steps", "gamma_T", "alpha", "noise", "final_outer")

#: Points of the cumulative-regret curve kept per model.
CURVE_POINTS = 100


def batch_run(config: dict) -> dict:
    """One batched run (config of :func:`lib.experiments.bandits.configs.batch_config`).

    Returns, per model (lists in the order of ``config["models"]``): ``final`` total regret, ``curve``
    cumulative regret at ``rounds``, ``z2`` mean squared z-score and ``coverage`` of the 95 % interval of the
    next-round prediction errors over the second half of the rounds (NaN without a posterior), ``steps`` mean
    training steps per round, ``gamma_T`` the last γ, ``alpha``/``noise`` the last Laplace hyperparameters;
    ``final_outer`` on the wheel bandit (:func:`outer_regret`); and ``seconds`` for the whole batch. A config
    with a ``"control"`` entry plays the control agents :func:`lib.bandits.controls.run_control` (ε-greedy,
    shuffled bonus) instead.
    """
    spec = BatchSpec(**config["spec"])
    seeds = [int(m[0]) for m in config["models"]]
    lams = [float(m[1]) for m in config["models"]]
    gammas = [float(m[2]) for m in config["models"]]
    bandit = make_batch(config["problem"], config["horizon"], seeds)
    start = time.perf_counter()
    if config.get("control"):
        out = run_control(config["control"], spec, bandit, lams, gammas, seeds, device=config_device(config))
    else:
        out = run_batch(spec, bandit, lams, gammas, seeds, device=config_device(config))
    seconds = time.perf_counter() - start
    return {**record(out, config["horizon"], seconds), **outer_regret(config["problem"], bandit, out["regret"])}


def outer_regret(problem: str, bandit, regret: torch.Tensor) -> dict:
    """On the wheel bandit, ``final_outer``: the part of each model's total regret from rounds whose context lies
    outside the radius δ (where the rare high rewards are); empty for other problems."""
    if not problem.startswith("wheel-"):
        return {}
    outer = bandit.features.norm(dim=-1) > float(problem.removeprefix("wheel-"))      # [B, T]
    return {"final_outer": (regret * outer.to(regret.dtype)).sum(1).tolist()}


def record(out: dict, horizon: int, seconds: float) -> dict:
    """The cached record of a batched run (:func:`batch_run`) from the tensors of
    :func:`lib.bandits.batched.run_batch`."""
    T = horizon
    cumulative = out["regret"].cumsum(1)
    rounds = sorted({max(1, round(T * (i + 1) / CURVE_POINTS)) for i in range(CURVE_POINTS)})
    z = out["z"][:, T // 2:]
    finite = torch.isfinite(z)
    count = finite.sum(1).clamp_min(1)
    z2 = torch.where(finite, z * z, 0.0).sum(1) / count
    coverage = torch.where(finite, (z.abs() <= 1.959964).double(), 0.0).sum(1) / count
    none = finite.sum(1) == 0
    z2[none], coverage[none] = float("nan"), float("nan")
    return {"final": cumulative[:, -1].tolist(), "rounds": rounds,
            "curve": cumulative[:, [r - 1 for r in rounds]].tolist(),
            "z2": z2.tolist(), "coverage": coverage.tolist(), "steps": out["steps"].tolist(),
            "gamma_T": out["gamma_T"].tolist(), "alpha": out["alpha"].tolist(), "noise": out["noise"].tolist(),
            "seconds": seconds}


def theory_gamma_table(horizon: int, widths: list[float], *, lam: float = 1.0, steps: list[int] | None = None,
                       constants: TheoryConstants = TheoryConstants()) -> dict:
    """γ_T of Zhou et al. at ``t = T`` (one hidden layer, ``log det`` term 0, which only lowers it) against width.

    ``steps`` are the ``J`` to evaluate (default: 30, 1000 and the theorem's own ``J``). Also returns, per
    ``J``, the ``m → ∞`` limit (the width-independent terms) and the term-by-term split at each width.
    """
    layers = 2
    j_theorem = theorem_steps(horizon, layers=layers, lam=lam, constants=constants)
    steps = list(steps) if steps is not None else [30, 1000, j_theorem]
    c = constants
    table: dict = {"widths": list(widths), "J_theorem": j_theorem, "gamma": {}, "limit": {}, "terms": {}}
    for J in steps:
        # the step size enters only through η m λ = C4 λ / (T L + λ), the same at every width
        table["gamma"][J] = [theory_gamma(horizon, width=m, layers=layers, lam=lam, logdet_ratio=0.0, steps=J,
                                          step_size=theory_step_size(horizon, m, layers, lam, c), constants=c)
                             for m in widths]
        contraction = 1.0 - c.C4 * lam / (horizon * layers + lam)
        table["limit"][J] = ((lam + c.C3 * horizon * layers) * contraction ** (J / 2) * math.sqrt(horizon / lam)
                             + c.nu * math.sqrt(-2 * math.log(c.delta)) + math.sqrt(lam) * c.S)
    small = [m ** (-1 / 6) * math.sqrt(math.log(m)) for m in widths]
    T, L = horizon, layers
    table["terms"] = {
        "linearization (m^-1/6 terms)": [(lam + c.C3 * T * L) * s * L ** 3.5 * T ** (5 / 3) * lam ** (-5 / 3)
                                         * (1 + math.sqrt(T / lam)) for s in small],
        "optimisation at the theorem's J": [(lam + c.C3 * T * L) * (1.0 - c.C4 * lam / (T * L + lam)) ** (j_theorem / 2)
                                            * math.sqrt(T / lam)] * len(widths),
        "confidence (ν, δ, S)": [c.nu * math.sqrt(-2 * math.log(c.delta)) + math.sqrt(lam) * c.S] * len(widths),
    }
    return table


def width_for_gamma(horizon: int, target: float, *, lam: float = 1.0,
                    constants: TheoryConstants = TheoryConstants()) -> float:
    """The smallest width ``m`` (a power of 10, up to 10^300) at which γ_T with the theorem's ``J`` is below
    ``target``, or ``inf``."""
    J = theorem_steps(horizon, layers=2, lam=lam, constants=constants)
    for exponent in range(1, 301):
        m = 10.0 ** exponent
        g = theory_gamma(horizon, width=m, layers=2, lam=lam, logdet_ratio=0.0, steps=J,
                         step_size=theory_step_size(horizon, m, 2, lam, constants), constants=constants)
        if g < target:
            return m
    return math.inf

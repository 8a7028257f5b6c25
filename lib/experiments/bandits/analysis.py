"""Chapter 3's analysis: (λ, γ) picks on the tuning seeds with grid-edge warnings, and paired comparisons
over the evaluation seeds (every agent of a comparison plays the same seeds: same rounds, same initial network)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lib.stats import Interval, describe, holm, mean_interval, paired_difference

__all__ = ["Pick", "pick", "final_regret", "paired", "Comparison", "compare_to", "interval_words"]


@dataclass(frozen=True)
class Pick:
    """A tuned setting: ``agent`` on ``problem`` with ``lam`` and ``gamma`` (γ or ν), its mean regret over the
    tuning seeds, and warnings (a pick on a grid's edge may be better outside the grid)."""

    agent: str
    problem: str
    lam: float
    gamma: float
    tuning_regret: float
    edges: tuple[str, ...]


def _edges(value: float, grid: Sequence[float], name: str, *, low_is_edge: bool = True) -> list[str]:
    grid = sorted(set(grid))
    if len(grid) < 2:
        return []
    if low_is_edge and value == grid[0]:
        return [f"{name} at the grid's low end"]
    if value == grid[-1]:
        return [f"{name} at the grid's high end"]
    return []


def pick(result: Mapping, config: Mapping, *, agent: str, problem: str, gammas: Sequence[float] | None = None,
         name: str = "γ") -> Pick:
    """The ``(λ, γ)`` of a tuning batch with the smallest mean final regret over the tuning seeds.

    ``gammas`` restricts the candidates (e.g. ``[0.0]`` to tune greedy's λ alone). Ties go to the smaller γ, then
    the larger λ. Warnings: λ at either end; γ at the top (and at the bottom when 0 is not in the grid); γ = 0 or
    the smallest positive γ picked (the grid is coarse near 0).
    """
    by_setting: dict[tuple[float, float], list[float]] = {}
    for (_seed, lam, gamma), final in zip(config["models"], result["final"], strict=False):
        if gammas is None or gamma in gammas:
            by_setting.setdefault((lam, gamma), []).append(final)
    if not by_setting:
        raise ValueError(f"No tuning run of {agent} on {problem} matches γ in {gammas}.")
    means = {k: float(np.mean(v)) for k, v in by_setting.items()}
    (lam, gamma), regret = min(means.items(), key=lambda kv: (kv[1], kv[0][1], -kv[0][0]))
    lams = [k[0] for k in means]
    grid = [k[1] for k in means]
    edges = _edges(lam, lams, "λ")
    positive = sorted({g for g in grid if g > 0})
    if gamma == 0 and positive:
        edges.append(f"{name} = 0 picked (no exploration); the nearest positive {name} tried is {positive[0]:g}: "
                     "a smaller one might help")
    elif gamma > 0:
        edges += _edges(gamma, grid, name, low_is_edge=0.0 not in grid)
        if 0.0 in grid and positive and gamma == positive[0] and len(positive) > 1:
            edges.append(f"the smallest positive {name} of the grid: it is coarse between 0 and {gamma:g}")
    return Pick(agent, problem, lam, gamma, regret, tuple(edges))


def final_regret(result: Mapping) -> np.ndarray:
    """``[seeds]`` total regret of a batched run's models."""
    return np.asarray(result["final"], dtype=float)


def paired(a: Mapping, b: Mapping) -> Interval:
    """Paired t-interval of ``final(a) − final(b)`` over the shared seeds (same order)."""
    return paired_difference(final_regret(a), final_regret(b))


@dataclass(frozen=True)
class Comparison:
    """``agent − baseline`` regret on ``problem``: interval, Holm-adjusted p over the family, the words."""

    problem: str
    agent: str
    baseline: str
    interval: Interval
    adjusted_p: float
    words: str


def interval_words(interval: Interval, adjusted_p: float | None = None, *, what: str = "") -> str:
    """The house wording of a regret difference (lower is better)."""
    return describe(interval, larger="more regret than", smaller="less regret than",
                    same="regret indistinguishable from",
                    fmt=".1f", adjusted_p=adjusted_p, what=what)


def compare_to(results: Mapping[str, Mapping[str, Mapping]], baseline: str, agents: Sequence[str]) -> list[Comparison]:
    """Every ``agent`` against ``baseline`` on every problem of ``results[problem][agent]``, Holm-corrected
    over the whole family (all problems and agents stated together)."""
    raw = [(p, a, paired(results[p][a], results[p][baseline])) for p in results for a in agents if a != baseline]
    adjusted = holm([iv.p_value for _, _, iv in raw]) if raw else []
    return [Comparison(p, a, baseline, iv, float(q), interval_words(iv, float(q), what=baseline))
            for (p, a, iv), q in zip(raw, adjusted, strict=False)]


def mean_text(result: Mapping) -> str:
    """``mean [low, high]`` of a batch's final regret (t-interval over seeds)."""
    iv = mean_interval(final_regret(result))
    return f"{iv.estimate:.1f} [{iv.low:.1f}, {iv.high:.1f}]"


def markdown_table(rows: Sequence[Mapping]) -> str:
    """A Markdown table of ``rows`` (dicts with the same keys), for :func:`lib.notebook.say`."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)

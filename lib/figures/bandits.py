"""Chapter 3's figures, in the house style of :mod:`lib.plotting`.

Each function returns a matplotlib figure; the notebook passes it to :meth:`lib.notebook.Figures.show` with
its caption and alt text. Bands are ±1 s.e. over the evaluation seeds.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np

from lib.plotting import PALETTE, band, log_axis, panels

__all__ = ["theory_gamma", "regret_curves", "budget", "laplace_ablation", "paired_differences"]

_LINES = ["-", "--", ":", "-."]


def _grid(count: int) -> tuple[plt.Figure, list[plt.Axes]]:
    """``count`` panels: one row of up to 3 (house size), more rows for the paper profile's many problems."""
    if count <= 3:
        return panels(count)
    rows = -(-count // 3)
    fig, axes = plt.subplots(rows, 3, figsize=(15, 4.2 * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count]


def theory_gamma(table: Mapping) -> plt.Figure:
    """Left: γ_T against width for several J with their m → ∞ limits. Right: γ_T's terms at the theorem's J."""
    fig, axes = panels(2)
    widths = table["widths"]
    for i, (J, gamma) in enumerate(table["gamma"].items()):
        label = f"J = {J}" + (" (the theorem's)" if J == table["J_theorem"] else "")
        axes[0].plot(widths, gamma, color=PALETTE[i], linestyle=_LINES[i % 4], label=label)
        axes[0].axhline(table["limit"][J], color=PALETTE[i], linewidth=0.8, linestyle="-.")
    for i, (name, values) in enumerate(table["terms"].items()):
        axes[1].plot(widths, values, color=PALETTE[i + 3], linestyle=_LINES[i % 4], label=name)
    for ax in axes:
        log_axis(ax, "both")
        ax.set(xlabel="width m", xlim=(widths[0], widths[-1]))
    axes[0].set(ylabel="γ_T (log det term set to 0)", title="γ_T and its m → ∞ limit (dash-dotted)")
    axes[1].set(ylabel="size of the term", title="terms of γ_T at the theorem's J")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def regret_curves(results: Mapping[str, Mapping[str, Mapping]]) -> plt.Figure:
    """Cumulative regret against the round, one panel per problem, one band per agent."""
    fig, axes = _grid(len(results))
    for ax, (problem, agents) in zip(axes, results.items(), strict=False):
        shown = {a: r for a, r in agents.items() if not a.startswith("greedy at λ")}   # twins: in the table
        for i, (agent, result) in enumerate(shown.items()):
            band(ax, result["rounds"], np.asarray(result["curve"]), label=agent, color=PALETTE[i % len(PALETTE)],
                 marker=None, linestyle=_LINES[i % 4])
        ax.set(xlabel="round t", ylabel="cumulative regret", title=problem)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def budget(results: Mapping[str, Mapping[tuple[str, int], Mapping]], steps: tuple[int, ...]) -> plt.Figure:
    """Final regret against the training budget (step cap per round), greedy and the tuned NeuralUCB."""
    fig, axes = _grid(len(results))
    for ax, (problem, res) in zip(axes, results.items(), strict=False):
        for i, agent in enumerate(("greedy", "NeuralUCB")):
            runs = np.array([res[agent, s]["final"] for s in steps]).T       # [seeds, levels]
            band(ax, steps, runs, label=agent, color=PALETTE[i], linestyle=_LINES[i])
        log_axis(ax, "x")
        ax.set(xlabel="SGD steps per round (cap)", ylabel="total regret", title=problem)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def laplace_ablation(results: Mapping[str, Mapping]) -> plt.Figure:
    """Left: final regret of each variant (mean ± 1 s.e.). Middle: mean z² of the pulled arm's next-round
    prediction error, median over seeds (1 = calibrated). Right, where recorded: the epistemic z² = ((μ − f)/γs)²
    over all arms against the simulator's true means μ, median over seeds of the per-seed medians (χ²₁'s median
    0.455 = calibrated); outside (filled) and inside (open) the wheel's radius."""
    epistemic = any("epi_z2" in r for r in results.values())
    fig, axes = panels(3 if epistemic else 2)
    names = list(results)
    y = np.arange(len(names))
    finals = [np.asarray(results[n]["final"], dtype=float) for n in names]
    means = [f.mean() for f in finals]
    sems = [f.std(ddof=1) / np.sqrt(len(f)) if len(f) > 1 else 0.0 for f in finals]
    axes[0].errorbar(means, y, xerr=sems, marker="o", linestyle="none", color=PALETTE[0], capsize=3)
    axes[0].set(yticks=y, yticklabels=names, xlabel="total regret", title="regret")

    def median(name: str, key: str) -> float:
        v = np.asarray(results[name].get(key, [np.nan]), dtype=float)
        return float(np.median(v[np.isfinite(v)])) if np.isfinite(v).any() else np.nan

    axes[1].scatter([median(n, "z2") for n in names], y, color=PALETTE[1], zorder=3)
    axes[1].axvline(1.0, color="0.4", linewidth=1, linestyle="--")
    axes[1].set(yticks=y, yticklabels=[""] * len(names), xlabel="mean z² of the pulled arm (1 = calibrated)",
                title="next-round errors (with noise)")
    log_axis(axes[1], "x")
    if epistemic:
        axes[2].scatter([median(n, "epi_z2_outer") for n in names], y, color=PALETTE[2], zorder=3,
                        label="outside the radius")
        axes[2].scatter([median(n, "epi_z2_inner") for n in names], y, facecolors="none", edgecolors=PALETTE[3],
                        zorder=3, label="inside")
        axes[2].axvline(0.455, color="0.4", linewidth=1, linestyle="--")
        axes[2].set(yticks=y, yticklabels=[""] * len(names), xlabel="median ((μ − f)/γs)² (0.455 = calibrated)",
                    title="epistemic width vs true means")
        log_axis(axes[2], "x")
        axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def paired_differences(results: Mapping[str, Mapping[str, Mapping]], comparisons) -> plt.Figure:
    """Per problem: each exploring agent's total regret minus its greedy twin's, one dot per seed, with the paired
    95 % t-interval (bar) — what the verdicts use. Left of 0: exploration lowered the regret."""
    problems = list(results)
    fig, axes = _grid(len(problems))
    for ax, problem in zip(axes, problems, strict=False):
        rows = [c for c in comparisons if c.problem == problem]
        for j, c in enumerate(rows):
            diff = (np.asarray(results[problem][c.agent]["final"], dtype=float)
                    - np.asarray(results[problem][c.baseline]["final"], dtype=float))
            jitter = np.linspace(-0.15, 0.15, len(diff))
            ax.scatter(diff, j + jitter, s=12, color=PALETTE[0], alpha=0.6, zorder=3)
            ax.errorbar([c.interval.estimate], [j], xerr=[[c.interval.estimate - c.interval.low],
                                                          [c.interval.high - c.interval.estimate]],
                        marker="D", color=PALETTE[1], capsize=4, linestyle="none", zorder=4)
        ax.axvline(0.0, color="0.4", linewidth=1, linestyle="--")
        ax.set(yticks=range(len(rows)), yticklabels=[f"{c.agent}\n− {c.baseline}" for c in rows],
               xlabel="total regret difference (per seed)", title=problem)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return fig

"""Chapter 4's figures, in the house style of :mod:`lib.plotting`.

Each function returns a matplotlib figure; the notebook passes it to :meth:`lib.notebook.Figures.show` with its
caption and alt text. Bands are ±1 s.e. over seeds (each seed with its own data draw).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from lib.experiments.forgetting import analysis
from lib.experiments.forgetting.chapter import (
    Frontier,
    KernelBaseline,
    KernelScale,
    Linearized,
    WidthSweep,
    movement,
    per_run,
)
from lib.experiments.forgetting.configs import Arm
from lib.plotting import PALETTE, band, log_axis, panels

__all__ = ["ARM_STYLE", "confound", "matched", "frontier", "stability_plasticity", "kernel_overlap",
           "kernel_movement", "laziness", "empirical_overlap", "accuracy_matrices", "steps_to_target",
           "image_benchmark"]

#: Colour, marker and label of each arm, the same in every figure.
ARM_STYLE = {
    Arm.FIXED.value: (PALETTE[1], "s", "standard, one learning rate"),
    Arm.MATCHED.value: (PALETTE[0], "o", "standard, learning rate matched per width"),
    Arm.NTK.value: (PALETTE[2], "^", "NTK parametrization, one tuned rate"),
    Arm.MUP.value: (PALETTE[5], "D", "μP, base rate matched per width"),
}
#: The arms tuned to the target learning accuracy.
_TUNED = (Arm.MATCHED.value, Arm.NTK.value, Arm.MUP.value)
_EPOCH_STYLE = ("-", "--", ":", "-.")
_EPOCH_COLOR = ("0.2", PALETTE[4], PALETTE[3], PALETTE[6])


def confound(scale: KernelScale, sweep: WidthSweep, epochs: int) -> plt.Figure:
    """Θ(x, x) against width (standard parametrization), and the fixed-rate arm's learning accuracy and F_T."""
    fig, axes = panels(3)
    axes[0].plot(scale.widths, scale.standard, marker="o", color=PALETTE[1], label="standard parametrization")
    axes[0].axhline(scale.ntk, color=PALETTE[2], linestyle="--", label="NTK parametrization")
    log_axis(axes[0], "both")
    axes[0].set(xlabel="width m", ylabel="mean Θ(x, x) of the analytic NTK", title="kernel scale")
    axes[0].legend(fontsize=8)
    values = sweep.values[Arm.FIXED.value][epochs]
    color, marker, label = ARM_STYLE[Arm.FIXED.value]
    for ax, key, title in ((axes[1], "learning_accuracy", "learning accuracy"),
                           (axes[2], "average_forgetting", "average forgetting F_T")):
        band(ax, sweep.widths, 100 * values[key], color=color, marker=marker, label=label)
        log_axis(ax, "x")
        ax.set(xlabel="width m", ylabel=f"{title} (%)", title=f"{title}, {epochs} epoch per task")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def matched(sweep: WidthSweep, epochs: Sequence[int]) -> plt.Figure:
    """Rows: the matched and the NTK arm; columns: learning accuracy, F_T, a_jj − a_Tj and A_T against width, one
    line per number of epochs per task."""
    arms = (Arm.MATCHED.value, Arm.NTK.value)
    keys = ("learning_accuracy", "average_forgetting", "learned_minus_final", "average_accuracy")
    titles = ("learning accuracy (%)", "F_T, max-based (%)", "a_jj − a_Tj (%)", "average accuracy A_T (%)")
    fig, axes = plt.subplots(len(arms), len(keys), figsize=(19, 8.4), sharex=True)
    for row, arm in enumerate(arms):
        _, marker, label = ARM_STYLE[arm]
        for k, e in enumerate(epochs):
            values = sweep.values[arm][e]
            for col, key in enumerate(keys):
                band(axes[row, col], sweep.widths, 100 * values[key], color=_EPOCH_COLOR[k % 4], marker=marker,
                     linestyle=_EPOCH_STYLE[k % 4], label=f"{e} epoch{'s' if e > 1 else ''} per task")
        for col, title in enumerate(titles):
            ax = axes[row, col]
            log_axis(ax, "x")
            ax.set(ylabel=title, title=label)
            if row == len(arms) - 1:
                ax.set_xlabel("width m")
        axes[row, 0].legend(fontsize=8)
    for ax in axes[:, 1:3].ravel():
        ax.axhline(0, color="0.5", linewidth=0.8)
    fig.tight_layout()
    return fig


def frontier(front: Frontier, widths: Sequence[int]) -> plt.Figure:
    """F_T read off at fixed learning accuracies against width, one panel per tuned arm (matched, NTK, μP)."""
    arms = [a for a in _TUNED if a in front.at]
    fig, axes = panels(len(arms))
    for ax, arm in zip(axes, arms, strict=True):
        _, marker, label = ARM_STYLE[arm]
        for k, level in enumerate(front.levels):
            grid = front.at[arm][level]
            rows = grid[np.isfinite(grid).all(axis=1)]
            if len(rows):
                band(ax, widths, 100 * rows, color=_EPOCH_COLOR[k % 4], marker=marker,
                     label=f"at learning accuracy {100 * level:.0f} % ({len(rows)} seeds)")
        log_axis(ax, "x")
        ax.set(xlabel="width m", ylabel="F_T at fixed learning accuracy (%)", title=label)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no seed reaches these learning accuracies\nat every width", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9, color="0.4")
    fig.tight_layout()
    return fig


def stability_plasticity(sweep: WidthSweep, kernel: KernelBaseline, lin: Linearized | None = None) -> plt.Figure:
    """F_T against learning accuracy: every arm × width × epochs (mean ± s.e. over seeds; colour = width), the
    linearized networks (crosses) and the kernel model's curve over training time (τ = ∞ starred)."""
    fig, ax = plt.subplots(figsize=(8.4, 5.6))
    cmap = plt.get_cmap("viridis")
    widths = sweep.widths
    for arm, (_, marker, label) in ARM_STYLE.items():
        for e in sweep.epochs[arm]:
            values = sweep.values[arm][e]
            for w_index in range(len(widths)):
                la, f = 100 * values["learning_accuracy"][:, w_index], 100 * values["average_forgetting"][:, w_index]
                if not np.isfinite(la).any():
                    continue
                n = np.isfinite(la).sum()
                ax.errorbar(np.nanmean(la), np.nanmean(f), xerr=np.nanstd(la, ddof=1) / np.sqrt(n) if n > 1 else 0,
                            yerr=np.nanstd(f, ddof=1) / np.sqrt(n) if n > 1 else 0, marker=marker, linestyle="none",
                            color=cmap(w_index / max(1, len(widths) - 1)), markersize=6, capsize=2,
                            markeredgecolor="black" if e == max(sweep.epochs[arm]) else "none")
        ax.plot([], [], marker=marker, linestyle="none", color="0.4", label=label)
    if lin is not None:
        for w_index in range(len(widths)):
            ax.plot(np.nanmean(100 * lin.values["learning_accuracy"][:, w_index]),
                    np.nanmean(100 * lin.values["average_forgetting"][:, w_index]), marker="X", linestyle="none",
                    markersize=8, color=cmap(w_index / max(1, len(widths) - 1)), markeredgecolor="black")
        ax.plot([], [], marker="X", linestyle="none", color="0.4", label="linearized network (matched rate, 1 epoch)")
    la, f = 100 * kernel.learning_accuracy.mean(axis=0), 100 * kernel.forgetting.mean(axis=0)
    ax.plot(la[:-1], f[:-1], color="black", linestyle="-", linewidth=1.2,
            label="kernel model (analytic NTK), over training time τ")
    ax.plot(la[-1], f[-1], marker="*", markersize=14, color="black", linestyle="none", label="kernel model, τ = ∞")
    for w_index, width in enumerate(widths):
        ax.plot([], [], marker="o", linestyle="none", color=cmap(w_index / max(1, len(widths) - 1)),
                label=f"width {width}")
    ax.set(xlabel="learning accuracy (%)", ylabel="average forgetting F_T (%)",
           title="stability against plasticity (black edge: most epochs per task)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def kernel_overlap(kernel: KernelBaseline, sweep: WidthSweep, epochs: int, names: Sequence[str]) -> plt.Figure:
    """Left: the centred cross-task overlap of the analytic NTK (mean over draws). Middle: per-pair forgetting
    against overlap. Right: the widest matched network's per-pair forgetting against the kernel model's."""
    fig, axes = panels(3)
    overlap = np.mean([np.array(r["overlap_centred"]) for r in kernel.records], axis=0)
    image = axes[0].imshow(overlap, vmin=0, vmax=1, cmap="viridis")
    for (i, j), value in np.ndenumerate(overlap):
        axes[0].text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                     color="white" if value < 0.6 else "black")
    axes[0].set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
                title="centred cross-task NTK overlap ρ_ij")
    axes[0].grid(False)
    fig.colorbar(image, ax=axes[0], shrink=0.8)
    iu = np.triu_indices(len(names), k=1)
    rows = [r for c, r in zip(sweep.configs[Arm.MATCHED.value], sweep.records[Arm.MATCHED.value], strict=True)
            if c["epochs"] == epochs and c["width"] == sweep.widths[-1]]
    for s, record in enumerate(kernel.records):
        o = np.array(record["overlap_centred"])[iu]
        p = 100 * np.array(record["pair_forgetting"][kernel.matched_index])[iu]
        axes[1].scatter(o, p, color="black", s=14, label="kernel model" if s == 0 else None)
        if not rows[s].get("diverged"):
            q = 100 * np.array(rows[s]["pair_forgetting"])[iu]
            axes[1].scatter(o, q, color=PALETTE[0], s=14, alpha=0.7,
                            label=f"network, width {sweep.widths[-1]} (matched)" if s == 0 else None)
            axes[2].scatter(p, q, color=PALETTE[0], s=14, alpha=0.8)
    for ax in axes[1:]:
        ax.axhline(0, color="0.5", linewidth=0.8)
    axes[1].set(xlabel="overlap ρ_ij of tasks i < j", ylabel="drop on task i while training task j (pt)",
                title="per-pair forgetting against overlap")
    axes[1].legend(fontsize=8)
    axes[2].set(xlabel="kernel model: drop on task i during task j (pt)",
                ylabel=f"network, width {sweep.widths[-1]}: same drop (pt)", title="network against kernel, per pair")
    axes[2].axvline(0, color="0.5", linewidth=0.8)
    fig.tight_layout()
    return fig


def kernel_movement(sweep: WidthSweep, epochs: int) -> plt.Figure:
    """Left: centred shape change of the empirical NTK per task (task 1 solid, tasks 2–T dashed) against width, with
    the lazy-training slope m^(−1/2) for reference. Middle: F_T against the mean shape change, one point per run
    (marker: arm, colour: width). Right: relative parameter change per task against width."""
    fig, axes = panels(3)
    cmap = plt.get_cmap("viridis")
    arms = [a for a in _TUNED if a in sweep.values and epochs in sweep.values[a]]
    for arm in arms:
        color, marker, label = ARM_STYLE[arm]
        shape = movement(sweep, arm, epochs, "kernel_shape_change")         # [S, W, T]
        band(axes[0], sweep.widths, shape[:, :, 0], color=color, marker=marker, label=f"{label}: task 1")
        band(axes[0], sweep.widths, np.nanmean(shape[:, :, 1:], axis=2), color=color, marker=marker, linestyle="--")
        mean_shape = np.nanmean(shape, axis=2)                              # [S, W]
        f = 100 * sweep.values[arm][epochs]["average_forgetting"]
        for w_index in range(len(sweep.widths)):
            axes[1].scatter(mean_shape[:, w_index], f[:, w_index], marker=marker, s=22,
                            color=cmap(w_index / max(1, len(sweep.widths) - 1)), edgecolors="none", alpha=0.85)
        axes[1].scatter([], [], marker=marker, color="0.4", label=label)
        change = movement(sweep, arm, epochs, "parameter_change")
        band(axes[2], sweep.widths, np.nanmean(change, axis=2), color=color, marker=marker, label=label)
    first = np.nanmean(movement(sweep, arms[0], epochs, "kernel_shape_change")[:, 0, 0]) if arms else 1.0
    widths = np.asarray(sweep.widths, dtype=float)
    axes[0].plot(widths, first * (widths / widths[0]) ** -0.5, color="0.5", linestyle=":", label="∝ m^(−1/2)")
    for w_index, width in enumerate(sweep.widths):
        axes[1].scatter([], [], marker="o", color=cmap(w_index / max(1, len(sweep.widths) - 1)), label=f"width {width}")
    for ax in (axes[0], axes[2]):
        log_axis(ax, "both")
        ax.set_xlabel("width m")
    log_axis(axes[1], "x")
    axes[0].set(ylabel="relative shape change ‖R‖/‖s·HKH‖", title="kernel shape change per task (dashed: tasks 2–T)")
    axes[1].set(xlabel="mean kernel shape change per task (one run)", ylabel="F_T (%)",
                title="forgetting against kernel movement, per run")
    axes[2].set(ylabel="‖Δθ‖ / ‖θ‖ per task (mean over tasks)", title="parameters")
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def laziness(sweep: WidthSweep, front: Frontier, epochs: int, level: float) -> plt.Figure:
    """The three tuned arms against width, ``epochs`` per task: learning accuracy, F_T, and F_T read off at learning
    accuracy ``level`` (the frontier)."""
    fig, axes = panels(3)
    for arm in _TUNED:
        if arm not in sweep.values or epochs not in sweep.values[arm]:
            continue
        color, marker, label = ARM_STYLE[arm]
        values = sweep.values[arm][epochs]
        band(axes[0], sweep.widths, 100 * values["learning_accuracy"], color=color, marker=marker, label=label)
        band(axes[1], sweep.widths, 100 * values["average_forgetting"], color=color, marker=marker, label=label)
        if arm in front.at:
            grid = front.at[arm][level]
            rows = grid[np.isfinite(grid).all(axis=1)]
            if len(rows):
                band(axes[2], sweep.widths, 100 * rows, color=color, marker=marker,
                     label=f"{label} ({len(rows)} seeds)")
    for ax, ylabel, title in zip(axes, ("learning accuracy (%)", "F_T (%)", "F_T (%)"),
                                 (f"learning accuracy, {epochs} epoch per task", "forgetting at the picked rates",
                                  f"forgetting at learning accuracy {100 * level:.0f} %"), strict=True):
        log_axis(ax, "x")
        ax.set(xlabel="width m", ylabel=ylabel, title=title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def empirical_overlap(sweep: WidthSweep, kernel: KernelBaseline, epochs: int, tasks: int,
                      analytic: float | None = None) -> plt.Figure:
    """Left: the mean centred cross-task overlap of each network's empirical NTK on the probe, at initialization
    (dashed) and at the start of each later task (solid), against width, with the analytic NTK's on the same probe
    (``analytic``, line). Right: the share of each task's output change that lands on earlier tasks, against width,
    with the kernel model's share (line)."""
    fig, axes = panels(2)
    for arm in _TUNED:
        if arm not in sweep.values or epochs not in sweep.values[arm]:
            continue
        color, marker, label = ARM_STYLE[arm]
        init = per_run(sweep, arm, epochs, lambda r: float(np.nanmean(analysis.upper_pairs(
            analysis.block_overlap(r["probe_kernels"][0], tasks)))))
        during = per_run(sweep, arm, epochs, lambda r: float(np.nanmean(analysis.upper_pairs(
            analysis.overlap_during(r["probe_kernels"], tasks)))))
        share = per_run(sweep, arm, epochs, lambda r: analysis.drift_share(r["output_drift"]))
        band(axes[0], sweep.widths, during, color=color, marker=marker, label=f"{label}: during training")
        band(axes[0], sweep.widths, init, color=color, marker=marker, linestyle="--")
        band(axes[1], sweep.widths, share, color=color, marker=marker, label=label)
    if analytic is not None:
        axes[0].axhline(analytic, color="black", linewidth=1, label="analytic NTK, same probe")
    shares = [analysis.drift_share(r["output_drift"][kernel.matched_index]) for r in kernel.records
              if "output_drift" in r]
    if shares:
        axes[1].axhline(float(np.mean(shares)), color="black", linewidth=1,
                        label=f"kernel model (τ = {kernel.times[kernel.matched_index]:.3g})")
    axes[0].set(xlabel="width m", ylabel="mean centred overlap ρ_ij over task pairs",
                title="cross-task overlap of the empirical NTK (dashed: at initialization)")
    axes[1].set(xlabel="width m", ylabel="drift on earlier tasks / drift on the task trained",
                title="where each task's output change lands")
    for ax in axes:
        log_axis(ax, "x")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def accuracy_matrices(sweep: WidthSweep, arm: str, epochs: Sequence[int], seed_index: int,
                      names: Sequence[str]) -> plt.Figure:
    """Accuracy matrices of the narrowest and the widest network of ``arm`` (one seed), for each epochs value."""
    widths = (sweep.widths[0], sweep.widths[-1])
    fig, axes = plt.subplots(len(epochs), 2, figsize=(10, 4.2 * len(epochs)), squeeze=False)
    image = None
    for i, e in enumerate(epochs):
        for j, width in enumerate(widths):
            rows = [r for c, r in zip(sweep.configs[arm], sweep.records[arm], strict=True) if c["epochs"] == e
                    and c["width"] == width]
            a = 100 * np.array(rows[seed_index]["accuracy"], dtype=float)
            ax = axes[i, j]
            image = ax.imshow(a, vmin=0, vmax=100, cmap="viridis")
            for (t, k), value in np.ndenumerate(a):
                ax.text(k, t, f"{value:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if value < 60 else "black")
            ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names, yticklabels=names,
                   xlabel="evaluated on task", ylabel="after training on task" if j == 0 else "",
                   title=f"width {width}, {e} epoch{'s' if e > 1 else ''} per task")
            ax.grid(False)
    fig.colorbar(image, ax=axes, shrink=0.7, label="test accuracy (%)")
    return fig


def steps_to_target(sweep: WidthSweep, epochs: int, tasks: int) -> plt.Figure:
    """Per width: how many tasks reached the training-accuracy target within ``epochs`` epochs (checked after every
    epoch), and the final training accuracy on each task (mean over tasks and seeds)."""
    fig, axes = panels(2)
    for arm in (Arm.MATCHED.value, Arm.NTK.value):
        color, marker, label = ARM_STYLE[arm]
        band(axes[0], sweep.widths, sweep.reached[arm][epochs], color=color, marker=marker, label=label)
        final = np.array([[np.mean([curve[-1] for curve in r["train_curve"]]) if not r.get("diverged") else np.nan
                           for r in [r for c, r in zip(sweep.configs[arm], sweep.records[arm], strict=True)
                                     if c["epochs"] == epochs and c["width"] == width]]
                          for width in sweep.widths]).T
        band(axes[1], sweep.widths, 100 * final, color=color, marker=marker, label=label)
    axes[0].set(xlabel="width m", ylabel=f"tasks reaching the target (of {tasks})", ylim=(-0.2, tasks + 0.2),
                title=f"reached within {epochs} epochs per task")
    axes[1].set(xlabel="width m", ylabel="training accuracy at the end of each task (%)",
                title=f"after {epochs} epochs per task")
    for ax in axes:
        log_axis(ax, "x")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def image_benchmark(result) -> plt.Figure:
    """An image benchmark's learning accuracy and F_T against the WRN's widen factor, per epochs value."""
    fig, axes = panels(2)
    for k, (e, values) in enumerate(result.values.items()):
        for ax, key in zip(axes, ("learning_accuracy", "average_forgetting"), strict=True):
            band(ax, result.widths, 100 * values[key], color=PALETTE[k], label=f"{e} epochs per task")
    for ax, ylabel in zip(axes, ("learning accuracy (%)", "average forgetting F_T (%)"), strict=True):
        log_axis(ax, "x")
        ax.set(xlabel="widen factor k (WRN-16-k)", ylabel=ylabel, title=result.run)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig

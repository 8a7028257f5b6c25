"""Chapter 4's figures, in the house style of :mod:`lib.plotting`.

Each function returns a matplotlib figure; the notebook passes it to :meth:`lib.notebook.Figures.show` with its
caption and alt text. Bands are ±1 s.e. over seeds (each seed with its own data draw).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from lib.experiments.forgetting.chapter import Frontier, KernelBaseline, KernelScale, Linearized, WidthSweep, movement
from lib.experiments.forgetting.configs import Arm
from lib.plotting import PALETTE, band, log_axis, panels

__all__ = ["ARM_STYLE", "confound", "matched", "frontier", "stability_plasticity", "kernel_overlap",
           "kernel_movement", "accuracy_matrices", "steps_to_target", "image_benchmark"]

#: Colour, marker and label of each arm, the same in every figure.
ARM_STYLE = {
    Arm.FIXED.value: (PALETTE[1], "s", "standard, one learning rate"),
    Arm.MATCHED.value: (PALETTE[0], "o", "standard, learning rate matched per width"),
    Arm.NTK.value: (PALETTE[2], "^", "NTK parametrization, one tuned rate"),
}
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
    """F_T read off at fixed learning accuracies against width (left: matched arm, right: NTK arm)."""
    fig, axes = panels(2)
    for ax, arm in zip(axes, (Arm.MATCHED.value, Arm.NTK.value), strict=True):
        _, marker, label = ARM_STYLE[arm]
        for k, level in enumerate(front.levels):
            grid = front.at[arm][level]
            rows = grid[np.isfinite(grid).all(axis=1)]
            if len(rows):
                band(ax, widths, 100 * rows, color=_EPOCH_COLOR[k % 4], marker=marker,
                     label=f"at learning accuracy {100 * level:.0f} % ({len(rows)} seeds)")
        log_axis(ax, "x")
        ax.set(xlabel="width m", ylabel="F_T at fixed learning accuracy (%)", title=label)
        ax.legend(fontsize=8)
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
    """Centred shape change of the empirical NTK per task (task 1 included) and parameter change, against width."""
    fig, axes = panels(3)
    for arm in (Arm.MATCHED.value, Arm.NTK.value):
        color, marker, label = ARM_STYLE[arm]
        shape = movement(sweep, arm, epochs, "kernel_shape_change")         # [S, W, T]
        band(axes[0], sweep.widths, shape[:, :, 0], color=color, marker=marker, label=f"{label}: task 1")
        band(axes[0], sweep.widths, np.nanmean(shape[:, :, 1:], axis=2), color=color, marker=marker, linestyle="--",
             label=f"{label}: tasks 2–T (mean)")
        scale = movement(sweep, arm, epochs, "kernel_log_scale")
        band(axes[1], sweep.widths, np.abs(scale[:, :, 0]), color=color, marker=marker, label=f"{label}: task 1")
        band(axes[1], sweep.widths, np.nanmean(np.abs(scale[:, :, 1:]), axis=2), color=color, marker=marker,
             linestyle="--")
        change = movement(sweep, arm, epochs, "parameter_change")
        band(axes[2], sweep.widths, np.nanmean(change, axis=2), color=color, marker=marker, label=label)
    for ax, ylabel, title in zip(axes, ("relative shape change ‖R‖/‖s·HKH‖", "|log s| (centred scale change)",
                                        "‖Δθ‖ / ‖θ‖ per task (mean over tasks)"),
                                 ("kernel shape, per task", "kernel scale, per task", "parameters"), strict=True):
        log_axis(ax, "both")
        ax.set(xlabel="width m", ylabel=ylabel, title=title)
    axes[0].legend(fontsize=7)
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

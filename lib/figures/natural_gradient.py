"""Chapter 2's figures, in the house style of :mod:`lib.plotting`.

Each function takes a stage result of :mod:`lib.experiments.natural_gradient.chapter` and returns a matplotlib
figure; the notebook passes it to :meth:`lib.notebook.Figures.show` with its caption and alt text. Bands are the
mean ±1 s.e. over seeds (geometric means for stability constants: the band is drawn on log values).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lib.experiments.natural_gradient.chapter import (
    METHOD_NAMES,
    RACE_NAMES,
    ConditionOne,
    ConditionTwo,
    PracticalRace,
    TeachingRace,
)
from lib.plotting import PALETTE, band, log_axis, panels

__all__ = ["gram_spectrum", "jacobian_change", "stability_scope", "teaching_race", "practical_race"]

PART_STYLE = {"total": ("black", "-", "total ‖J_θ − J_θ₀‖"), "activation": (PALETTE[1], "--", "activation part"),
              "smooth": (PALETTE[0], ":", "smooth (weight) part")}
METHOD_COLORS = {"sgd": PALETTE[2], "adam": PALETTE[4], "ngd": PALETTE[0], "kfac": PALETTE[1]}
RACE_COLORS = {"ngd": PALETTE[0], "gd": PALETTE[2], "adam": PALETTE[4], "linearized-ngd": PALETTE[3],
               "gd-stable": PALETTE[7], "ngd-softplus": PALETTE[5], "ngd-undamped": PALETTE[1]}


def _log_band(ax: plt.Axes, x, runs: np.ndarray, **kwargs) -> None:
    """Geometric mean ±1 s.e. (of the log) over rows."""
    logs = np.log10(np.asarray(runs, dtype=float))
    mean = logs.mean(axis=0)
    sem = logs.std(axis=0, ddof=1) / np.sqrt(len(logs)) if len(logs) > 1 else np.zeros_like(mean)
    line, = ax.plot(x, 10 ** mean, marker=kwargs.pop("marker", "o"), markersize=4, **kwargs)
    ax.fill_between(x, 10 ** (mean - sem), 10 ** (mean + sem), color=line.get_color(), alpha=0.2, linewidth=0)


def _ticks_at(axis, values) -> None:
    """Major ticks (labelled) exactly at the measured ``values`` of a log axis, no minor labels."""
    from matplotlib.ticker import FixedLocator, NullLocator

    axis.set_major_locator(FixedLocator(sorted({float(v) for v in values})))
    axis.set_minor_locator(NullLocator())


def gram_spectrum(c1: ConditionOne) -> plt.Figure:
    """λ₀ and κ = λ_max/λ₀ of the Gram matrix against width, full-rank widths only; crosses mark rank deficiency."""
    fig, (ax1, ax2) = panels(2)
    positive = [v for line in c1.lines for v in line.lambda_min[:, line.full_rank].ravel() if v > 0]
    floor = 0.3 * min(positive) if positive else 1e-12
    for i, line in enumerate(c1.lines):
        color = "black" if line.architecture == "cnn" else PALETTE[i % len(PALETTE)]
        ok, x = line.full_rank, np.asarray(line.widths)
        if ok.any():
            band(ax1, x[ok], line.lambda_min[:, ok], label=line.label, color=color)
            band(ax2, x[ok], line.lambda_max[:, ok] / line.lambda_min[:, ok], label=line.label, color=color)
        if (~ok).any():
            ax1.plot(x[~ok], np.full((~ok).sum(), floor), linestyle="none", marker="x", color=color, markersize=8)
        if line.infinite:
            ax1.axhline(line.infinite[0], color=color, linestyle="--", linewidth=1)
            ax2.axhline(line.infinite[1] / line.infinite[0], color=color, linestyle="--", linewidth=1)
    for ax in (ax1, ax2):
        log_axis(ax, "both")
        ax.set_xlabel("width m (hidden units, or channels for the CNN)")
    ax1.set(ylabel=r"$\lambda_0=\lambda_{\min}(G_0)$", title="(C1): smallest Gram eigenvalue")
    ax2.set(ylabel=r"$\kappa=\lambda_{\max}/\lambda_0$", title="conditioning of the Gram matrix")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _fit_line(ax: plt.Axes, x, runs: np.ndarray, color: str) -> None:
    """Least-squares power law through the geometric mean over rows."""
    lx = np.log10(np.asarray(x, dtype=float))
    b, a = np.polyfit(lx, np.log10(np.asarray(runs, dtype=float)).mean(axis=0), 1)
    xs = np.geomspace(min(x), max(x), 20)
    ax.plot(xs, 10 ** (a + b * np.log10(xs)), color=color, linewidth=0.8, alpha=0.7)


def jacobian_change(c2: ConditionTwo) -> plt.Figure:
    """Per activation, the Jacobian change ``max_k ‖J_θk − J_θ0‖₂`` and its two parts against width (the quantity the
    width verdicts are about), the activation part's Frobenius norm (the quantity of the m^{−1/4} heuristic), fitted
    laws and slope guides; last panel: C′ = 3‖ΔJ‖₂/√λ₀ per activation with the theorem's 1/2."""
    names = list(c2.widths)
    fig, axes = panels(min(len(names) + 1, 3))
    for ax, name in zip(axes, names[:2], strict=False):
        sweep = c2.widths[name]
        ok, x = sweep.full_rank, np.asarray(sweep.x)
        for part, (color, style, label) in PART_STYLE.items():
            values = sweep.change[part][:, ok]
            _log_band(ax, x[ok], values, color=color, linestyle=style, label=f"{label} (spectral)")
            if ok.sum() >= 2:
                _fit_line(ax, x[ok], values, color)
        _log_band(ax, x[ok], sweep.change["activation_fro"][:, ok], color=PART_STYLE["activation"][0],
                  linestyle="-.", marker="s", label="activation part (Frobenius)")
        anchor = float(np.exp(np.log(sweep.change["total"][:, ok][:, 0]).mean()))
        for exponent, style in ((-0.5, (0, (1, 3))), (-0.25, (0, (5, 5)))):
            ax.plot(x[ok], anchor * (x[ok] / x[ok][0]) ** exponent, color="0.5", linestyle=style, linewidth=1,
                    label=f"slope {exponent:g} (guide)")
        log_axis(ax, "both")
        _ticks_at(ax.xaxis, x[ok])
        ax.set(xlabel="width m (hidden units)", ylabel=r"$\max_k\|J_{\theta_k}-J_{\theta_0}\|$ (and parts)",
               title=f"{name}: Jacobian change and its parts")
    axes[0].legend(fontsize=7)
    if len(axes) > len(names[:2]):
        ax = axes[-1]
        for i, name in enumerate(names[:2]):
            sweep = c2.widths[name]
            ok, x = sweep.full_rank, np.asarray(sweep.x)
            _log_band(ax, x[ok], sweep.c_prime["total"][:, ok], color=PALETTE[i], label=f"{name}: C′")
        ax.axhline(0.5, color="0.3", linewidth=1, label="the theorem's 1/2")
        log_axis(ax, "both")
        _ticks_at(ax.xaxis, x[ok])
        ax.set(xlabel="width m (hidden units)", ylabel=r"$C'=3\max_k\|\Delta J\|_2/\sqrt{\lambda_0}$",
               title="stability constant C′")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def stability_scope(c2: ConditionTwo) -> plt.Figure:
    """C′ against the number of training points N at two widths, and against width for deeper MLPs and the CNN."""
    fig, (ax1, ax2) = panels(2)
    for sweep, width, style in ((c2.against_n, c2.n_width, "-"), (c2.against_n_narrow, c2.n_width // 4, "--")):
        ok = sweep.full_rank
        for part in ("total", "activation", "smooth"):
            color, _, label = PART_STYLE[part]
            _log_band(ax1, np.asarray(sweep.x)[ok], sweep.c_prime[part][:, ok], color=color, linestyle=style,
                      label=f"{label}, m = {width}")
    ax1.axhline(0.5, color="0.3", linewidth=1)
    log_axis(ax1, "both")
    _ticks_at(ax1.xaxis, c2.against_n.x)
    ax1.set(xlabel="training points N", ylabel="C′", title="C′ against N (ReLU, one hidden layer)")
    ax1.legend(fontsize=7)
    widths = set()
    for i, (depth, s) in enumerate(c2.depths.items()):
        keep = s.full_rank
        widths |= set(np.asarray(s.x)[keep].tolist())
        _log_band(ax2, np.asarray(s.x)[keep], s.c_prime["total"][:, keep], color=PALETTE[i], label=f"MLP, L = {depth}")
    ax2.axhline(0.5, color="0.3", linewidth=1)
    log_axis(ax2, "both")
    _ticks_at(ax2.xaxis, widths)
    ax2.set(xlabel="MLP width m (hidden units, bottom axis)", ylabel="C′ (total)",
            title=f"C′ for deeper MLPs and the CNN (N = {c2.n})")
    handles, labels = ax2.get_legend_handles_labels()
    keep = c2.cnn_full_rank
    if keep.any():  # the CNN on its own (top) axis: channels are not hidden units
        top = ax2.twiny()
        channels = np.asarray(c2.cnn_channels)[keep]
        _log_band(top, channels, c2.cnn["c_prime"][:, keep], color="black", linestyle="--",
                  label="CNN, total only (top axis: channels)")
        log_axis(top, "x")
        _ticks_at(top.xaxis, channels)
        top.set_xlabel("CNN channels (black, dashed)")
        more, names = top.get_legend_handles_labels()
        handles, labels = handles + more, labels + names
    ax2.legend(handles, labels, fontsize=8)
    fig.tight_layout()
    return fig


def teaching_race(race: TeachingRace) -> plt.Figure:
    """Residual against step for every optimizer, and the per-step contraction ‖r_{k+1}‖/‖r_k‖ of NGD (and its
    controls) against step, with the theorem's guaranteed linear rates."""
    fig, (ax1, ax2) = panels(2)
    for name, residuals in race.residuals.items():
        if name.startswith("ngd-"):
            continue
        steps = np.arange(residuals.shape[1])
        _log_band(ax1, steps, np.maximum(residuals, 1e-16), color=RACE_COLORS[name], label=RACE_NAMES[name],
                  marker="o" if residuals.shape[1] < 30 else None)
    ax1.axhline(race.floor, color="0.5", linewidth=1, linestyle=":")
    ax1.set_yscale("log")
    ax1.set_xscale("symlog", linthresh=10)
    ax1.set_xlim(left=0)
    ax1.set(xlabel="step k", ylabel=r"residual $\|y-u_k\|_2$", title=f"full batch, N = {race.n}, m = {race.width}")
    ax1.legend(fontsize=8)
    for name, style in (("ngd", "-"), ("ngd-softplus", "--"), ("ngd-undamped", ":")):
        if name not in race.residuals:
            continue
        r = race.residuals[name]
        keep = r[:, :-1].mean(axis=0) > race.floor
        ratio = r[:, 1:] / r[:, :-1]
        k = np.arange(1, r.shape[1])
        _log_band(ax2, k[keep], ratio[:, keep], color=RACE_COLORS.get(name, PALETTE[5]), linestyle=style,
                  label=RACE_NAMES.get(name, name))
    gd = race.residuals["gd-stable"] if "gd-stable" in race.residuals else race.residuals["gd"]
    ratio = gd[:, 1:] / gd[:, :-1]
    ax2.plot(np.arange(1, 9), np.full(8, _geo_last(ratio)), color=RACE_COLORS["gd"], linewidth=1.5,
             label="GD at η < 2N/λ_max (late rate)")
    for c, style in ((0.1, "--"), (0.25, "-.")):
        eta = (1 - 2 * c) / (1 + c) ** 2
        ax2.axhline(np.sqrt(1 - eta), color="0.4", linestyle=style, linewidth=1,
                    label=f"theorem's bound √(1−η), C = {c:g}")
    ax2.set_yscale("log")
    ax2.set(xlabel="step k", ylabel=r"$\|r_{k}\|_2/\|r_{k-1}\|_2$",
            title="per-step contraction (steps above the cutoff)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _geo_last(ratio: np.ndarray, steps: int = 50) -> float:
    """Geometric mean contraction over the last ``steps`` steps and all seeds."""
    return float(np.exp(np.log(ratio[:, -steps:]).mean()))


def practical_race(race: PracticalRace) -> plt.Figure:
    """Test accuracy and training loss against epochs and against the optimizer's own seconds."""
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 7.5))
    for method, records in race.runs.items():
        length = min(len(r["epoch"]) for r in records)
        epochs = np.array(records[0]["epoch"][:length])
        seconds = np.array([r["seconds"][:length] for r in records]).mean(axis=0)
        acc = 100 * np.array([r["eval_accuracy"][:length] for r in records])
        loss = np.array([r["train_loss"][:length] for r in records])
        color, label = METHOD_COLORS[method], METHOD_NAMES[method]
        marker = "o" if length < 40 else None
        band(axes[0, 0], epochs, acc, color=color, label=label, marker=marker)
        band(axes[0, 1], seconds[1:], acc[:, 1:], color=color, label=label, marker=marker)
        band(axes[1, 0], epochs, loss, color=color, marker=marker)
        band(axes[1, 1], seconds[1:], loss[:, 1:], color=color, marker=marker)
    for ax in axes[:, 0]:
        ax.axvline(race.sizes.epochs, color="0.5", linewidth=1, linestyle=":")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)
        ax.set_xlabel("epoch")
    for ax in axes[:, 1]:
        for method, times in race.times.items():
            if np.mean(times) > 0:
                ax.axvline(float(np.mean(times)), color=METHOD_COLORS[method], linewidth=1, linestyle=":")
        log_axis(ax, "x")
        ax.set_xlabel("optimizer's CPU time (s), from the first logged point")
    for ax in axes[0]:
        ax.set(ylabel="test accuracy (%)", ylim=(max(0.0, ax.get_ylim()[0]), 100))
    for ax in axes[1]:
        ax.set_yscale("log")
        ax.set_ylabel("training cross-entropy")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig

"""Chapter 1's figures, in the house style of :mod:`lib.plotting`.

Each function takes a stage's result from :mod:`lib.experiments.kernel_regime.chapter` and returns a matplotlib
figure; the notebook passes it to :meth:`lib.notebook.Figures.show` with its caption and alt text. Bands are the
mean ±1 s.e. over seeds (:func:`lib.plotting.band`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lib.experiments.kernel_regime.analysis import LOG_FLOOR
from lib.experiments.kernel_regime.chapter import (
    WRN,
    AlphaSweep,
    Catapult,
    Controls,
    Convergence,
    Factorial,
    GPComparison,
)
from lib.experiments.kernel_regime.configs import Optimizer, Parametrization
from lib.plotting import PALETTE, band, log_axis, panels

__all__ = ["convergence", "factorial_change", "factorial_performance", "controls", "catapult", "alpha_sweep",
           "gp_comparison", "wide_resnet", "PARAMETRIZATION_STYLE"]

#: Colour and label of each parametrization, the same in every figure.
PARAMETRIZATION_STYLE = {"standard": (PALETTE[1], "standard"), "ntk": (PALETTE[0], "NTK"),
                         "mup": (PALETTE[2], "μP (mean field)")}
_OPTIMIZER = {"gd": "full-batch GD", "sgd": "SGD (batch 32)", "adam": "Adam (batch 32)"}


def convergence(conv: Convergence) -> plt.Figure:
    """Relative distance of the empirical from the analytic NTK against width, one band per depth."""
    fig, (ax,) = panels(1)
    widths = np.asarray(conv.widths, dtype=float)
    for i, (depth, runs) in enumerate(conv.errors.items()):
        band(ax, widths, runs, label=f"depth {depth}: slope {conv.slopes[depth].estimate:.2f}", color=PALETTE[i])
    first = next(iter(conv.errors.values())).mean(axis=0)[0]
    ax.plot(widths, first * (widths / widths[0]) ** -0.5, color="black", linestyle="--", linewidth=1,
            label="slope −1/2 (theory)")
    log_axis(ax, "both")
    ax.set(xlabel="hidden width n", ylabel="‖Θ̂ − Θ∞‖_F / ‖Θ∞‖_F", title="empirical vs analytic NTK at initialization")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


_RATE_STYLE = {0.5: "--", 1.0: "-", 2.0: ":"}


def factorial_change(fac: Factorial) -> plt.Figure:
    """Kernel shape change (1 − CKA) against width: one panel per optimizer, one colour per parametrization. GD and
    SGD: one line style per fixed rate c (dashed 0.5, solid 1, dotted 2); Adam: the tuned rate. Open markers: the
    cell's tuned rate."""
    fig, axes = panels(3)
    for ax, o in zip(axes, Optimizer, strict=False):
        for p in Parametrization:
            color, label = PARAMETRIZATION_STYLE[p.value]
            rates = [fac.picks[(p.value, o.value)]] if o is Optimizer.ADAM else fac.fixed_rates
            for rate in rates:
                arrays = fac.slices[(p.value, o.value, rate)]
                style = "-" if o is Optimizer.ADAM else _RATE_STYLE.get(rate, "-.")
                tuned = fac.picks[(p.value, o.value)] == rate
                name = label if o is Optimizer.ADAM else f"{label}, c = {rate:g}"
                band(ax, fac.widths, np.maximum(arrays["shape"], LOG_FLOOR), color=color, linestyle=style,
                     marker="o" if tuned else None, label=name + (" (tuned)" if tuned else ""))
        log_axis(ax, "both")
        ax.set(xlabel="hidden width n", ylabel="shape change 1 − CKA(Θ₀, Θ_T)" if o is Optimizer.GD else None,
               title=_OPTIMIZER[o.value])
        ax.legend(fontsize=6, ncol=1)
    fig.tight_layout()
    return fig


def factorial_performance(fac: Factorial) -> plt.Figure:
    """Test accuracy (top) and final training loss (bottom) against width at each cell's tuned rate (mean ±1 s.e.
    over seeds)."""
    fig, axes = plt.subplots(2, 3, figsize=(15.0, 7.6), sharex=True)
    for j, o in enumerate(Optimizer):
        for p in Parametrization:
            color, label = PARAMETRIZATION_STYLE[p.value]
            arrays = fac.tuned(p.value, o.value)
            band(axes[0, j], fac.widths, 100 * arrays["test_accuracy"], label=label, color=color)
            band(axes[1, j], fac.widths, arrays["train_loss"], color=color)
        log_axis(axes[0, j], "x")
        log_axis(axes[1, j], "both")
        axes[0, j].set(title=_OPTIMIZER[o.value] + " (tuned rate)", ylabel="test accuracy (%)" if j == 0 else None)
        axes[1, j].set(xlabel="hidden width n", ylabel="final training loss" if j == 0 else None)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def controls(fac: Factorial, ctl: Controls) -> plt.Figure:
    """Left: the NTK network's shape change against width under GD at the control rate — ReLU centred at the end of
    training and at equal loss, GELU, uncentred — with a slope −2 guide. Right: test accuracy of kernel regression
    with the final minus the initial kernel at each width (GD at c = 1), one colour per parametrization."""
    fig, axes = panels(2)
    widths = np.asarray(ctl.widths, dtype=float)
    relu = fac.slices[("ntk", "gd", ctl.rate)]
    lines = [("ReLU, end of training", relu["shape"], PALETTE[0], "-"),
             ("ReLU, at equal loss", relu["shape_at_target"], PALETTE[0], ":"),
             ("GELU, end of training", ctl.arms["gelu"]["shape"], PALETTE[3], "-"),
             ("ReLU uncentred, end", ctl.arms["uncentred"]["shape"], PALETTE[4], "--")]
    for label, runs, color, style in lines:
        if np.all(np.isfinite(runs)):
            band(axes[0], widths, np.maximum(runs, LOG_FLOOR), label=label, color=color, linestyle=style)
    start = np.nanmean(ctl.arms["gelu"]["shape"][:, 0])
    axes[0].plot(widths, start * (widths / widths[0]) ** -2.0, color="black", linestyle="--", linewidth=1,
                 label="slope −2 (smooth theory)")
    log_axis(axes[0], "both")
    axes[0].set(xlabel="hidden width n", ylabel="1 − CKA(Θ₀, Θ_T)", title=f"NTK network, GD, c = {ctl.rate:g}")
    axes[0].legend(fontsize=7)
    for p in Parametrization:
        color, label = PARAMETRIZATION_STYLE[p.value]
        arrays = fac.slices[(p.value, "gd", 1.0)]
        band(axes[1], widths, 100 * (arrays["kernel_accuracy_final"] - arrays["kernel_accuracy_initial"]),
             label=label, color=color)
    axes[1].axhline(0, color="black", linewidth=0.8)
    log_axis(axes[1], "x")
    axes[1].set(xlabel="hidden width n", ylabel="Θ_T − Θ₀ regression accuracy (pt)",
                title="after-kernel test (GD, c = 1)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def catapult(cat: Catapult, shown: int = 4) -> plt.Figure:
    """Left: training loss against step for ``shown`` rates (first seed). Middle: ``λ_max(Θ_t)/λ₀``. Right: per
    rate, the final ``η λ_T / 2N`` and the kernel's shape change (mean ±1 s.e. over seeds), ReLU solid, the GELU
    control dashed."""
    fig, axes = panels(3)
    rates = cat.rates
    picked = [rates[int(round(k))] for k in np.linspace(0, len(rates) - 1, shown)]
    for i, c in enumerate(picked):
        r = cat.records[c][0]
        losses = np.asarray(r["losses"], dtype=float)
        status = " (diverged)" if r["diverged"] else " (collapsed)" if r["collapsed"] else ""
        axes[0].plot(np.arange(len(losses)), losses, color=PALETTE[i], label=f"c = {c:g}{status}")
        axes[1].plot(r["lambda_steps"], np.asarray(r["lambdas"]) / r["lambda0"], color=PALETTE[i],
                     label=f"c = {c:g}")
        if not r["diverged"] and not r["collapsed"]:
            axes[1].axhline(1 / c, color=PALETTE[i], linestyle=":", linewidth=1)
    log_axis(axes[0], "y")
    axes[0].set(xlabel="gradient-descent step", ylabel="training loss", title="loss")
    log_axis(axes[1], "y")
    axes[1].set(xlabel="gradient-descent step", ylabel="λ_max(Θ_t) / λ_max(Θ₀)",
                title="top kernel eigenvalue (dotted: stability edge 1/c)")
    axes[0].legend(fontsize=8)
    ok = [c for c in rates if not any(r["diverged"] or r["collapsed"] for r in cat.records[c])]
    edge = np.array([[r["edge"] for r in cat.records[c]] for c in ok]).T
    shape = np.array([[max(r["shape"], LOG_FLOOR) for r in cat.records[c]] for c in ok]).T
    band(axes[2], ok, edge, label="η λ_max(Θ_T) / 2N at the end", color=PALETTE[0])
    band(axes[2], ok, shape, label="shape change 1 − CKA", color=PALETTE[1])
    axes[2].axvline(1.0, color="0.5", linestyle="--", linewidth=1)
    for c in rates:
        if c not in ok:   # shade each failed rate on its own (failures need not be monotone in c)
            axes[2].axvspan(c / 1.15, c * 1.15, color="0.85", label="diverged or collapsed" if c == min(
                x for x in rates if x not in ok) else None)
    gelu = [c for c in sorted(cat.gelu) if not any(r["diverged"] or r["collapsed"] for r in cat.gelu[c])]
    if gelu:
        band(axes[2], gelu, np.array([[r["edge"] for r in cat.gelu[c]] for c in gelu]).T, color=PALETTE[0],
             label="GELU: η λ_max(Θ_T) / 2N", linestyle="--", marker="s")
        band(axes[2], gelu, np.array([[max(r["shape"], LOG_FLOOR) for r in cat.gelu[c]] for c in gelu]).T,
             color=PALETTE[1], label="GELU: 1 − CKA", linestyle="--", marker="s")
    log_axis(axes[2], "both")
    axes[2].set_xlim(min(rates) / 1.3, max(rates) * 1.3)
    axes[2].set(xlabel="learning rate c (units of 2N/λ_max(Θ₀))", title="where the runs end")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def alpha_sweep(al: AlphaSweep) -> plt.Figure:
    """Left: kernel shape change and scale change against α. Middle: test accuracy. Right: final training loss
    and the parameters' relative change."""
    fig, axes = panels(3)
    a = al.alphas
    band(axes[0], a, np.maximum(al.arrays["shape"].T, LOG_FLOOR), label="shape 1 − CKA", color=PALETTE[1])
    band(axes[0], a, np.maximum(np.abs(al.arrays["scale"].T), LOG_FLOOR), label="|log ‖Θ_T‖/‖Θ₀‖|",
         color=PALETTE[0])
    if al.gelu:
        band(axes[0], al.gelu_alphas, np.maximum(al.gelu["shape"].T, LOG_FLOOR), label="shape, GELU",
             color=PALETTE[1], linestyle="--", marker="s")
    log_axis(axes[0], "both")
    axes[0].set(xlabel="output scale α", ylabel="kernel change", title="kernel change")
    axes[0].legend(fontsize=8)
    band(axes[1], a, 100 * al.arrays["test_accuracy"].T, color=PALETTE[2], label="network")
    band(axes[1], a, 100 * al.arrays["kernel_accuracy_final"].T, color=PALETTE[3], linestyle="--",
         label="regression with Θ_T")
    band(axes[1], a, 100 * al.arrays["kernel_accuracy_initial"].T, color=PALETTE[4], linestyle=":",
         label="regression with Θ₀")
    log_axis(axes[1], "x")
    axes[1].set(xlabel="output scale α", ylabel="test accuracy (%)", title="test accuracy")
    axes[1].legend(fontsize=8)
    band(axes[2], a, al.arrays["train_loss"].T, label="final training loss", color=PALETTE[3])
    band(axes[2], a, al.arrays["parameters"].T, label="‖θ_T − θ₀‖ / ‖θ₀‖", color=PALETTE[4])
    log_axis(axes[2], "both")
    axes[2].set(xlabel="output scale α", title="training loss and parameter change")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def gp_comparison(gp: GPComparison) -> plt.Figure:
    """Left and middle: the narrowest and widest nets (plain, thin; centred, dashed) over the NTK-GP band.
    Right: calibration against width — the centred nets' distance from the NTK-GP mean (in NTK-GP standard
    deviations), the plain nets' mean z², and the ensemble/NTK-GP variance ratio."""
    fig, axes = panels(3)
    for ax, r in zip(axes[:2], (gp.records[0], gp.records[-1]), strict=False):
        grid_x, mu, sd = np.asarray(r["grid"]), np.asarray(r["gp_mean"]), np.asarray(r["gp_std"])
        ax.fill_between(grid_x, mu - 2 * sd, mu + 2 * sd, color="0.85", label="NTK-GP ± 2 s.d.")
        ax.plot(grid_x, mu, color="black", label="NTK-GP mean")
        for j, f in enumerate(r["plain"][:6]):
            ax.plot(grid_x, f, color=PALETTE[1], linewidth=0.8, alpha=0.8, label="plain nets" if j == 0 else None)
        for j, f in enumerate(r["centred"][:3]):
            ax.plot(grid_x, f, color=PALETTE[0], linewidth=1, linestyle="--",
                    label="centred nets" if j == 0 else None)
        ax.scatter(r["x_train"], r["y_train"], color=PALETTE[2], zorder=3, s=14, label="training data")
        ax.set(xlabel="input x", ylabel="output f(x)", title=f"width {r['width']}", ylim=(-3, 3))
    axes[0].legend(loc="lower right", fontsize=7)
    s = gp.stats
    band(axes[2], gp.widths, s["centred_rms"].T, label="centred: RMS(f − μ) / RMS σ", color=PALETTE[0])
    band(axes[2], gp.widths, s["z2"].T, label="plain: mean z² (1 = calibrated)", color=PALETTE[1])
    axes[2].plot(gp.widths, s["variance_ratio"], color=PALETTE[3], marker="s", label="ensemble var / NTK-GP var")
    axes[2].axhline(1.0, color="0.5", linestyle="--", linewidth=1)
    log_axis(axes[2], "both")
    axes[2].set(xlabel="hidden width n", title="nets vs the NTK-GP")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def wide_resnet(wrn: WRN) -> plt.Figure:
    """Left: training accuracy against step. Right: the kernel's scale and shape change against step."""
    fig, axes = panels(2)
    rows = wrn.record["checkpoints"]
    steps = [r["step"] for r in rows]
    axes[0].plot(steps, [100 * r["train_accuracy"] for r in rows], marker="o", color=PALETTE[2])
    axes[0].set(xlabel="SGD step", ylabel="training accuracy (%)", title="training")
    axes[1].plot(steps, [r["scale"] for r in rows], marker="o", color=PALETTE[0], label="scale log ‖Θ_t‖/‖Θ₀‖")
    axes[1].plot(steps, [r["shape"] for r in rows], marker="s", color=PALETTE[1], label="shape 1 − CKA(Θ₀, Θ_t)")
    right = axes[1].twinx()
    right.plot(steps, [r["relative"] for r in rows], marker="^", color="0.5", linestyle=":",
               label="‖Θ_t − Θ₀‖/‖Θ₀‖ (mixes both; right axis)")
    right.set(ylabel="relative change ‖Θ_t − Θ₀‖/‖Θ₀‖")
    right.grid(False)
    axes[1].set(xlabel="SGD step", ylabel="scale (log ratio), shape (1 − CKA)", title="kernel change against step 0")
    lines = axes[1].get_legend_handles_labels()
    extra = right.get_legend_handles_labels()
    axes[1].legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=8)
    fig.tight_layout()
    return fig

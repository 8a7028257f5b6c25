"""Chapter 5's figures, in the house style of :mod:`lib.plotting`.

Each function returns a matplotlib figure; the notebook passes it to :meth:`lib.notebook.Figures.show`
with its caption and alt text. Bands are ±1 s.e. over data draws (seeds averaged within a draw); error
bars on exponents are 95 % bootstrap intervals over draws and seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from lib.experiments.scaling_laws.analysis import LearnerRuns
from lib.learning_curves import Spectrum
from lib.plotting import PALETTE, band, interval_markers, log_axis, panels
from lib.scaling import ExponentFit

__all__ = ["data_scaling", "exponent_summary", "spectra", "width_scaling", "kernel_evolution", "LEARNER_STYLE"]

#: Colour and label of each learner, the same in every figure.
LEARNER_STYLE = {
    "network (uncentred)": (PALETTE[1], "network, uncentred (random f₀)"),
    "network (centred)": (PALETTE[0], "network, centred (f − f₀)"),
    "empirical_ntk": (PALETTE[2], "kernel: empirical NTK at init"),
    "infinite_ntk": (PALETTE[3], "kernel: infinite-width NTK"),
}


def _style(name: str) -> tuple[str, str]:
    return LEARNER_STYLE.get(name, ("0.3", name))


def data_scaling(sizes: Sequence[int], learners: Mapping[str, LearnerRuns]) -> plt.Figure:
    """Test 0/1 error, test MSE and training error against ``n`` for every learner (log-log)."""
    fig, axes = panels(3)
    for name, runs in learners.items():
        color, label = _style(name)
        band(axes[0], sizes, 100 * runs.by_draw("test_error"), label=label, color=color)
        band(axes[1], sizes, runs.by_draw("test_mse"), color=color)
        band(axes[2], sizes, 100 * runs.by_draw("train_error") + 1e-2, color=color)
    for ax, ylabel, title in zip(axes, ("test error (%)", "test MSE (summed over outputs)",
                                        "training error (%) + 0.01"),
                                 ("classification error", "squared error", "training error")):
        log_axis(ax, "both")
        ax.set(xlabel="training-set size n", ylabel=ylabel, title=title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _grouped_intervals(ax: plt.Axes, groups: Sequence[str], fits: Mapping[str, Sequence[ExponentFit]]) -> None:
    """One interval marker per learner in each group along x, side by side (``fits[learner][group]``)."""
    width = 0.8 / max(1, len(fits))
    for j, (name, row) in enumerate(fits.items()):
        color, label = _style(name)
        xs = np.arange(len(groups)) + (j - (len(fits) - 1) / 2) * width
        interval_markers(ax, xs, [f.exponent for f in row], [f.low for f in row], [f.high for f in row],
                         label=label, color=color)


def exponent_summary(by_metric: Mapping[str, Mapping[str, ExponentFit]],
                     sensitivity: Mapping[str, Mapping[str, ExponentFit]]) -> plt.Figure:
    """Left: each learner's exponent per metric with its interval. Right: exponents over sub-ranges of ``n``."""
    fig, (left, right) = panels(2)
    metrics = list(by_metric)
    names = list(next(iter(by_metric.values())))
    _grouped_intervals(left, metrics, {name: [by_metric[m][name] for m in metrics] for name in names})
    left.set_xticks(range(len(metrics)), metrics)
    left.set(ylabel="data-scaling exponent α (error ∝ n^−α)", title="exponents, all sizes")
    left.legend(fontsize=8)
    windows = list(next(iter(sensitivity.values())))
    _grouped_intervals(right, windows, {name: [sensitivity[name][w] for w in windows] for name in sensitivity})
    right.set_xticks(range(len(windows)), [w.replace(" (", "\n(") for w in windows], fontsize=7)
    right.set(ylabel="exponent α of the test error", title="sensitivity to the fitted range of n")
    fig.tight_layout()
    return fig


def spectra(named: Mapping[str, Spectrum], sizes: Sequence[int], predicted: Mapping[str, np.ndarray],
            control: Mapping[str, np.ndarray], measured: Mapping[str, np.ndarray]) -> plt.Figure:
    """Eigenvalues, target power beyond mode k, and predicted vs measured MSE of kernel regression.

    Args:
        named: ``{learner name: Spectrum}``.
        predicted: ``{name: [X]}`` predicted MSE; control: ``{name: [X, repeats]}`` MSE with training sets drawn
            from the spectrum's own pool; measured: ``{name: [D, X]}`` test MSE on fresh data.
    """
    fig, axes = panels(3)
    for name, spectrum in named.items():
        color, label = _style(name)
        k = np.arange(1, len(spectrum.eigenvalues) + 1)
        keep = spectrum.eigenvalues > 0
        axes[0].plot(k[keep], spectrum.eigenvalues[keep], color=color, label=label)
        tail = spectrum.tail()[1:-1]
        axes[1].plot(k[:-1][tail > 0], tail[tail > 0], color=color, label=label)
        axes[2].plot(sizes, predicted[name], color=color, linestyle="--", label=f"{label}: predicted")
        axes[2].plot(sizes, np.asarray(control[name]).mean(axis=1), color=color, marker="x", linestyle="none",
                     label=f"{label}: pool control")
        band(axes[2], sizes, measured[name], color=color, label=f"{label}: measured on fresh data", linestyle="none")
    for ax, (xlabel, ylabel, title) in zip(axes, [("mode k", "eigenvalue η_k", "kernel eigenvalues"),
                                                  ("mode k", "target power beyond mode k, T(k)",
                                                   "where the target lives"),
                                                  ("training-set size n", "test MSE", "predicted vs measured")]):
        log_axis(ax, "both")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    for n in (min(sizes), max(sizes)):
        axes[1].axvline(n, color="0.6", linewidth=0.8, linestyle=":")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    return fig


def width_scaling(widths: Sequence[int], distance: Mapping[str, np.ndarray], error: Mapping[str, np.ndarray],
                  infinite_error: Mapping[str, np.ndarray], n: int) -> plt.Figure:
    """Left: ``‖f − f_lin‖/‖f_lin‖`` on test inputs against width per parametrization (largest ``n``).
    Right: test error against width, with each parametrization's infinite-width prediction (dashed)."""
    fig, (left, right) = panels(2)
    colours = dict(zip(distance, PALETTE))
    names = {"standard": "standard", "ntk": "NTK", "mean_field": "mean-field (μP)"}
    for name in distance:
        label = names.get(name, name)
        band(left, widths, distance[name], label=label, color=colours[name])
        band(right, widths, 100 * error[name], label=f"{label}: network", color=colours[name])
        if name in infinite_error and np.all(np.isfinite(infinite_error[name])):
            right.plot(widths, 100 * infinite_error[name].mean(axis=0), color=colours[name], linestyle="--",
                       label=f"{label}: infinite-width NTK")
    log_axis(left, "both")
    log_axis(right, "x")
    left.set(xlabel="hidden width", ylabel="relative distance to the linearized net",
             title=f"network vs its linearization (n = {n})")
    right.set(xlabel="hidden width", ylabel="test error (%)", title=f"test error (n = {n})")
    left.legend(fontsize=8)
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def kernel_evolution(records: Sequence[Mapping]) -> plt.Figure:
    """Shape (first-order shape change, eigenspace overlap, target alignment), scale and Fort et al.'s distances,
    and test errors along training."""
    steps = np.maximum(np.asarray(records[0]["steps"], dtype=float), 0.5)
    fig, axes = panels(3)

    def rows(key: str) -> np.ndarray:
        return np.array([r[key] for r in records], dtype=float)

    band(axes[0], steps, rows("shape_change"), label="shape change ‖R‖/‖s·HΘ₀H‖", color=PALETTE[0])
    band(axes[0], steps, rows("centred_scale"), label="centred scale s", color=PALETTE[3])
    band(axes[0], steps, rows("overlap_to_init"), label="top-K eigenspace overlap with initial", color=PALETTE[1])
    band(axes[0], steps, rows("target_alignment"), label="kernel–target alignment", color=PALETTE[2])
    axes[0].set(ylabel="change / scale / overlap / alignment", title="shape and scale")

    def positive(key: str) -> np.ndarray:  # the distance of a kernel to itself is 0: left out on a log axis
        values = rows(key)
        return np.where(values > 0, values, np.nan)

    band(axes[1], steps, positive("fort_to_init"), label="to the initial kernel", color=PALETTE[4])
    band(axes[1], steps, positive("fort_to_final"), label="to the final kernel", color=PALETTE[5])
    log_axis(axes[1], "y")
    axes[1].set(ylabel="Fort et al.'s kernel distance", title="Fort et al.'s distance")
    band(axes[2], steps, 100 * rows("kernel_error"), label="kernel regression with Θ_t", color=PALETTE[0])
    band(axes[2], steps, 100 * rows("network_error"), label="centred network", color="black", marker="x")
    axes[2].set(ylabel="test error (%)", title="test error")
    for ax in axes:
        log_axis(ax, "x")
        ax.set_xlabel("optimizer step (step 0 drawn at 0.5)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig

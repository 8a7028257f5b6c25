"""Chapter 5's experiments as stages the notebook (or a command line) calls in order.

Each stage runs its sweeps through a :class:`lib.cache.ResultsCache` (finished configs are never redone)
and returns a small dataclass with everything the text and the figures need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from lib.cache import ResultsCache
from lib.experiments.scaling_laws import analysis, configs, runs
from lib.experiments.scaling_laws.configs import Kernel, Parametrization, Recipe, ScalingSizes
from lib.learning_curves import Spectrum, predicted_error, tail_power_exponent
from lib.records import stack
from lib.scaling import ExponentFit, power_law_exponent
from lib.stats import Interval, trend

__all__ = ["Tuning", "tune", "DataScaling", "data_scaling", "SpectralPrediction", "spectral_prediction",
           "WidthScaling", "width_scaling", "KernelEvolution", "kernel_evolution"]


@dataclass(frozen=True)
class Tuning:
    """Picked network schedules and kernel ridges (per size), with the picks for display."""

    schedules: dict
    ridges: dict
    picks: list


def tune(sizes: ScalingSizes, task: str, device: torch.device, cache: ResultsCache) -> Tuning:
    """Tune both network recipes (learning rate × epochs) and both kernels' ridges on the tuning draw."""
    net_configs = configs.network_tuning_configs(sizes, task, device)
    net_records = cache.sweep(runs.network_run, net_configs, desc="tuning networks")
    schedules, net_picks = analysis.pick_network_schedules(net_records, net_configs)
    kernel_configs = configs.kernel_tuning_configs(sizes, task, device)
    kernel_records = cache.sweep(runs.kernel_run, kernel_configs, desc="tuning kernels")
    ridges, kernel_picks = analysis.pick_ridges(kernel_records, kernel_configs)
    return Tuning(schedules, ridges, net_picks + kernel_picks)


@dataclass(frozen=True)
class DataScaling:
    """Errors of the four learners on the evaluation draws, their exponents and paired comparisons."""

    sizes: list
    learners: dict
    exponents: dict          # metric -> learner -> ExponentFit
    sensitivity: dict        # learner -> window -> ExponentFit (test error)
    centred_vs_infinite: list  # per size: (Interval of centred − infinite error, Holm-adjusted p)
    centred_vs_empirical: list
    uncentred_vs_centred: list
    exponent_gaps: dict      # "a − b" -> Interval of the exponent difference (paired bootstrap over draws)
    diverged: int


def data_scaling(sizes: ScalingSizes, task: str, device: torch.device, cache: ResultsCache,
                 tuning: Tuning) -> DataScaling:
    """The tuned networks and kernels on every evaluation draw and seed."""
    net_configs = configs.network_evaluation_configs(sizes, task, device, tuning.schedules)
    net_records = cache.sweep(runs.network_run, net_configs, desc="networks")
    kernel_configs = configs.kernel_evaluation_configs(sizes, task, device)
    kernel_records = cache.sweep(runs.kernel_run, kernel_configs, desc="kernels")
    learners = analysis.learner_runs(net_records, net_configs, kernel_records, kernel_configs, tuning.ridges)
    x = list(sizes.sizes)
    by_metric = {"0/1 error": analysis.exponents(x, learners),
                 "MSE": analysis.exponents(x, learners, metric="test_mse")}
    sensitivity = {name: analysis.fit_range_sensitivity(x, runs_) for name, runs_ in learners.items()}
    centred = learners[f"network ({Recipe.CENTRED.value})"]
    uncentred = learners[f"network ({Recipe.UNCENTRED.value})"]
    gaps = {"centred − infinite": analysis.exponent_difference(x, centred, learners[Kernel.INFINITE.value]),
            "centred − empirical": analysis.exponent_difference(x, centred, learners[Kernel.EMPIRICAL.value]),
            "uncentred − centred": analysis.exponent_difference(x, uncentred, centred)}
    return DataScaling(
        x, learners, by_metric, sensitivity,
        analysis.paired_by_draw(centred, learners[Kernel.INFINITE.value]),
        analysis.paired_by_draw(centred, learners[Kernel.EMPIRICAL.value]),
        analysis.paired_by_draw(uncentred, centred), gaps,
        int(sum(sum(r["diverged"]) for r in net_records)))


@dataclass(frozen=True)
class SpectralPrediction:
    """Spectra of both kernels, the predicted learning curves and exponents, and the measured ones."""

    sizes: list              # the sizes compared (n <= M/4)
    spectra: dict            # kernel -> Spectrum
    predicted: dict          # kernel -> [X] predicted test MSE at the tuned ridge
    measured: dict           # kernel -> [D, X] measured test MSE
    tail_exponents: dict     # kernel -> β from T(k) over the fitted range
    predicted_exponents: dict  # kernel -> slope fit of the predicted curve
    measured_exponents: dict   # kernel -> ExponentFit of the measured MSE
    mean_ratio: dict         # kernel -> mean predicted / measured MSE over sizes


def spectral_prediction(sizes: ScalingSizes, task: str, device: torch.device, cache: ResultsCache,
                        tuning: Tuning, scaling: DataScaling) -> SpectralPrediction:
    """Predict each kernel's MSE learning curve from its spectrum on ``M = spectrum_points`` pool samples.

    The pool stands in for the input distribution, which is fair only while ``n ≪ M``: predictions, the
    tail exponent and the measured exponent are compared over the sizes ``n ≤ M/4``.
    """
    spec_configs = configs.spectrum_configs(sizes, task, device)
    records = cache.sweep(runs.spectrum_run, spec_configs, desc="spectra")
    columns = [i for i, n in enumerate(sizes.sizes) if 4 * n <= sizes.spectrum_points]
    if len(columns) < 2:
        raise ValueError(f"spectrum_points = {sizes.spectrum_points} leaves fewer than two sizes n <= M/4.")
    x = [sizes.sizes[i] for i in columns]
    out: dict[str, dict] = {k: {} for k in ("spectra", "predicted", "measured", "tail", "pred_exp", "meas_exp",
                                           "ratio")}
    for config, record in zip(spec_configs, records):
        name = config["kernel"]
        spectrum = Spectrum(np.asarray(record["eigenvalues"]), np.asarray(record["power"]), record["ridge_scale"])
        predicted = np.array([predicted_error(spectrum, [n], ridge=tuning.ridges[name][n])[0] for n in x])
        learner = scaling.learners[name]
        measured = learner.by_draw("test_mse")[:, columns]
        out["spectra"][name] = spectrum
        out["predicted"][name] = predicted
        out["measured"][name] = measured
        out["tail"][name] = -tail_power_exponent(spectrum, min(x), max(x)).slope
        out["pred_exp"][name] = -float(np.polyfit(np.log(x), np.log(predicted), 1)[0])
        out["meas_exp"][name] = power_law_exponent(x, learner.test_mse[:, columns], groups=learner.groups
                                                   if len(set(learner.groups)) > 1 else None)
        out["ratio"][name] = float(np.mean(predicted / measured.mean(axis=0)))
    return SpectralPrediction(x, out["spectra"], out["predicted"], out["measured"], out["tail"], out["pred_exp"],
                              out["meas_exp"], out["ratio"])


@dataclass(frozen=True)
class WidthScaling:
    """The width experiment at the largest size: ``[seeds, widths]`` arrays per parametrization."""

    widths: list
    n: int
    distance: dict           # parametrization -> [S, W] distance to the linearized net
    distance_to_infinite: dict
    error: dict
    infinite_error: dict
    linearized_error: dict
    slopes: dict             # parametrization -> Interval of d log10(distance) / d log10(width)
    learning_rates: dict     # parametrization -> [W] mean learning rate used


def width_scaling(sizes: ScalingSizes, task: str, device: torch.device, cache: ResultsCache) -> WidthScaling:
    """Standard, NTK and mean-field nets at ``η = c N / λ_max`` against their linearizations, over widths."""
    width_configs = configs.width_configs(sizes, task, device)
    records = cache.sweep(runs.width_run, width_configs, desc="widths")
    widths = list(sizes.widths)
    fields: dict[str, dict] = {k: {} for k in ("distance_to_linearized", "distance_to_infinite", "error",
                                              "infinite_error", "linearized_error", "learning_rate")}
    slopes: dict[str, Interval] = {}
    for p in Parametrization:
        rows = [(c, r) for c, r in zip(width_configs, records) if c["parametrization"] == p.value]
        for key in fields:
            # [W * S, X] -> [S, W] at the largest size
            values = stack([r for _, r in rows], key)[:, -1]
            fields[key][p.value] = values.reshape(len(widths), sizes.width_seeds).T
        slopes[p.value] = trend(widths, np.log10(fields["distance_to_linearized"][p.value]), resamples=2000)
    return WidthScaling(widths, max(sizes.width_sizes), fields["distance_to_linearized"],
                        fields["distance_to_infinite"], fields["error"], fields["infinite_error"],
                        fields["linearized_error"], slopes,
                        {p: v.mean(axis=0).tolist() for p, v in fields["learning_rate"].items()})


@dataclass(frozen=True)
class KernelEvolution:
    """Kernel-evolution records (one per seed) and the after-kernel comparison."""

    records: list
    after_vs_initial: list   # per after-size: Interval of after − initial test error over seeds
    after_sizes: list
    learning_rate: float
    epochs: int


def kernel_evolution(sizes: ScalingSizes, task: str, device: torch.device, cache: ResultsCache,
                     tuning: Tuning) -> KernelEvolution:
    """The centred network at ``n = evolution_train`` with its tuned schedule, kernels at checkpoints."""
    n = sizes.evolution_train
    _, lr, epochs = next(row for row in tuning.schedules[Recipe.CENTRED.value] if row[0] == n)
    ridge = tuning.ridges[Kernel.EMPIRICAL.value][n]
    evo_configs = configs.evolution_configs(sizes, task, device, learning_rate=lr, epochs=epochs, ridge=ridge)
    records = cache.sweep(runs.evolution_run, evo_configs, desc="kernel evolution")
    after = stack(records, "after_error")
    initial = stack(records, "initial_error")
    from lib.stats import paired_difference

    comparisons = [paired_difference(after[:, i], initial[:, i]) for i in range(after.shape[1])]
    return KernelEvolution(records, comparisons, list(records[0]["after_sizes"]), lr, epochs)


def exponent_table(by_metric: Mapping[str, Mapping[str, ExponentFit]]) -> str:
    """Markdown table: learner × metric exponents with intervals."""
    metrics = list(by_metric)
    names = list(next(iter(by_metric.values())))
    lines = ["| learner | " + " | ".join(f"α ({m})" for m in metrics) + " |",
             "|---|" + "---:|" * len(metrics)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(by_metric[m][name].text() for m in metrics) + " |")
    return "\n".join(lines)

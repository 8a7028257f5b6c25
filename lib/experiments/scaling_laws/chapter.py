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
from lib.stats import Interval, Verdict, describe, trend

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
                 tuning: Tuning, *, first: int = 0) -> DataScaling:
    """The tuned networks and kernels on every evaluation draw and seed (``first, first + 1, …``)."""
    net_configs = configs.network_evaluation_configs(sizes, task, device, tuning.schedules, first=first)
    net_records = cache.sweep(runs.network_run, net_configs, desc="networks")
    kernel_configs = configs.kernel_evaluation_configs(sizes, task, device, first=first)
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
                        tuning: Tuning, scaling: DataScaling, *, first: int = 0) -> SpectralPrediction:
    """Predict each kernel's MSE learning curve from its spectrum on ``M = spectrum_points`` pool samples.

    The pool stands in for the input distribution, which is fair only while ``n ≪ M``: predictions, the
    tail exponent and the measured exponent are compared over the sizes ``n ≤ M/4``.
    """
    spec_configs = configs.spectrum_configs(sizes, task, device, first=first)
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


def width_scaling(sizes: ScalingSizes, task: str, device: torch.device, cache: ResultsCache, *,
                  first: int = 0) -> WidthScaling:
    """Standard, NTK and mean-field nets at ``η = c N / λ_max`` against their linearizations, over widths."""
    width_configs = configs.width_configs(sizes, task, device, first=first)
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
                     tuning: Tuning, *, first: int = 0) -> KernelEvolution:
    """The centred network at ``n = evolution_train`` with its tuned schedule, kernels at checkpoints."""
    n = sizes.evolution_train
    _, lr, epochs = next(row for row in tuning.schedules[Recipe.CENTRED.value] if row[0] == n)
    ridge = tuning.ridges[Kernel.EMPIRICAL.value][n]
    evo_configs = configs.evolution_configs(sizes, task, device, learning_rate=lr, epochs=epochs, ridge=ridge,
                                            first=first)
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


_WORDS = dict(larger="higher than", smaller="lower than", same="not distinguishable from", fmt=".3f")
_GAP = dict(larger="positive", smaller="negative", same="not distinguishable from zero", fmt=".3f")


def data_scaling_summary(scaling: DataScaling, sizes: ScalingSizes) -> dict:
    """The numbers and verdict words the text of Experiment 1 and the findings use (percentages for errors)."""
    learners = scaling.learners
    at = {name: 100 * runs.by_draw().mean(axis=0) for name, runs in learners.items()}
    (last, p_last), (first, p_first) = scaling.centred_vs_infinite[-1], scaling.centred_vs_infinite[0]
    f0, p_f0 = scaling.uncentred_vs_centred[-1]
    e = scaling.exponents["0/1 error"]
    gaps = scaling.exponent_gaps
    centred = scaling.sensitivity[f"network ({Recipe.CENTRED.value})"]
    spread = max(f.exponent for f in centred.values()) - min(f.exponent for f in centred.values())
    width = float(np.mean([f.high - f.low for f in centred.values()]))
    return dict(
        n_max=scaling.sizes[-1], n_min=scaling.sizes[0], k=len(scaling.sizes),
        draws=f"{sizes.draws} data draws × {sizes.seeds} seeds",
        err_u=at["network (uncentred)"][-1], err_c=at["network (centred)"][-1], err_e=at["empirical_ntk"][-1],
        err_i=at["infinite_ntk"][-1],
        vs_inf=describe(last, adjusted_p=p_last, what="the infinite NTK's", **_WORDS),
        vs_inf_small=describe(first, adjusted_p=p_first, what="the infinite NTK's", **_WORDS),
        f0_words=describe(f0, adjusted_p=p_f0, what="the centred network's", **_WORDS), f0_points=100 * f0.estimate,
        a_u=e["network (uncentred)"].text(), a_c=e["network (centred)"].text(), a_e=e["empirical_ntk"].text(),
        a_i=e["infinite_ntk"].text(), gap_ci=describe(gaps["centred − infinite"], **_GAP),
        gap_ce=describe(gaps["centred − empirical"], **_GAP),
        gap_uc=describe(gaps["uncentred − centred"], **_GAP), gap_uc_value=gaps["uncentred − centred"].estimate,
        exponent_verdict=describe(gaps["centred − infinite"], larger="larger than", smaller="smaller than",
                                  same="not distinguishable from", what="the infinite-width NTK's", fmt=".3f"),
        range_words=(f"moves by {spread:.2f} between sub-ranges of n, more than the typical width of its interval "
                     f"({width:.2f}), so we do not extrapolate it" if spread > width else
                     f"moves by {spread:.2f} between sub-ranges of n, less than the typical width of its interval "
                     f"({width:.2f})"),
        train_max=max(100 * r.train_error.mean(axis=0).max() for r in learners.values()),
        diverged=scaling.diverged)


def spectral_summary(spectral: SpectralPrediction, sizes: ScalingSizes) -> dict:
    """Numbers of Experiment 2, and whether the prediction gets the kernels' order right at every size."""
    e, i = Kernel.EMPIRICAL.value, Kernel.INFINITE.value
    predicted_order = np.sign(spectral.predicted[e] - spectral.predicted[i])
    measured_order = np.sign(spectral.measured[e].mean(axis=0) - spectral.measured[i].mean(axis=0))
    agree = int((predicted_order == measured_order).sum())
    return dict(n0=spectral.sizes[0], n1=spectral.sizes[-1], m=sizes.spectrum_points,
                beta_e=spectral.tail_exponents[e], beta_i=spectral.tail_exponents[i],
                pred_e=spectral.predicted_exponents[e], pred_i=spectral.predicted_exponents[i],
                meas_e=spectral.measured_exponents[e].text(), meas_i=spectral.measured_exponents[i].text(),
                ratio_e=spectral.mean_ratio[e], ratio_i=spectral.mean_ratio[i],
                ratio_lo=min(spectral.mean_ratio.values()), ratio_hi=max(spectral.mean_ratio.values()),
                order_words=(f"orders the two kernels as measured at {agree} of {len(spectral.sizes)} sizes"))


def width_summary(width: WidthScaling) -> dict:
    """Numbers of Experiment 3: slope words per parametrization, distances at the largest width, and the verdict."""
    words = dict(larger="rises", smaller="falls", same="does not change measurably", fmt=".2f")
    out = {f"slope_{p}": describe(width.slopes[p], **words) for p in width.slopes}
    out.update({f"dist_{p}": float(width.distance[p].mean(axis=0)[-1]) for p in width.distance})
    lazy = [p for p in (Parametrization.STANDARD.value, Parametrization.NTK.value)
            if width.slopes[p].verdict is Verdict.SMALLER]
    mean_field = width.slopes[Parametrization.MEAN_FIELD.value]
    steeper = [p for p in lazy if width.slopes[p].high < mean_field.low]
    if len(lazy) == 2 and len(steeper) == 2:
        verdict = ("Under one step rule both the standard and the NTK networks approach their linearizations as they "
                   "widen, measurably faster than the mean-field network: laziness follows the step relative to the "
                   "stability limit and the output scale, not the standard/NTK label")
    elif lazy:
        verdict = (f"Only the {' and '.join(lazy)} network(s) approach their linearizations measurably as they widen; "
                   "the data do not separate the parametrizations cleanly at these widths")
    else:
        verdict = "No parametrization approaches its linearization measurably over these widths"
    out.update(width_max=width.widths[-1], width_n=width.n, verdict=verdict)
    return out


def evolution_summary(evolution: KernelEvolution, sizes: ScalingSizes) -> dict:
    """Numbers of Experiment 4: kernel measures at the start and the end (means over seeds), and the verdict on
    shape versus scale (``1 − CKA`` against ``|1 − scale ratio|``)."""

    def mean(key: str, index: int) -> float:
        return float(np.mean([r[key][index] for r in evolution.records]))

    keys = ("cka_to_init", "overlap_to_init", "target_alignment", "scale_to_init", "fort_to_init", "kernel_error",
            "network_error")
    out = {f"{k}_end": mean(k, -1) for k in keys}
    out.update({f"{k}_start": mean(k, 0) for k in keys})
    shape, scale = 1 - out["cka_to_init_end"], abs(1 - out["scale_to_init_end"])
    out.update(block_start=mean("block_deviation", 0), block_end=mean("block_deviation", 1),
               n_after=evolution.after_sizes[-1], width=sizes.width, evolution_n=sizes.evolution_train,
               shape_change=shape, scale_change=scale,
               shape_or_scale="more in scale than in shape" if scale > shape else "more in shape than in scale",
               after=describe(evolution.after_vs_initial[-1], larger="higher", smaller="lower",
                              same="not distinguishable from", what="the initial kernel's", fmt=".3f"))
    return out


def findings_summary(scaling: DataScaling, spectral: SpectralPrediction, width: WidthScaling,
                     evolution: KernelEvolution, sizes: ScalingSizes) -> dict:
    """Everything the chapter's findings cite: the four experiments' summaries in one dict (distinct keys)."""
    parts = [data_scaling_summary(scaling, sizes), spectral_summary(spectral, sizes), width_summary(width),
             evolution_summary(evolution, sizes)]
    merged: dict = {}
    for part in parts:
        clash = set(merged) & set(part)
        if clash:
            raise KeyError(f"Summary keys defined twice: {sorted(clash)}.")
        merged.update(part)
    return merged

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
from lib.scaling import ExponentFit
from lib.stats import Interval, Verdict, describe, holm, mean_interval

__all__ = ["run_chapter", "Tuning", "tune", "DataScaling", "data_scaling", "SpectralPrediction", "spectral_prediction",
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
    exponent_gaps: dict      # "a − b" -> (Interval of the exponent difference, paired t over draws; Holm p)
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
    raw = {"centred − infinite": analysis.exponent_difference(x, centred, learners[Kernel.INFINITE.value]),
           "centred − empirical": analysis.exponent_difference(x, centred, learners[Kernel.EMPIRICAL.value]),
           "uncentred − centred": analysis.exponent_difference(x, uncentred, centred)}
    adjusted = holm([iv.p_value for iv in raw.values()])  # three exponent verdicts stated together
    gaps = {name: (iv, float(p)) for (name, iv), p in zip(raw.items(), adjusted)}
    return DataScaling(
        x, learners, by_metric, sensitivity,
        analysis.paired_by_draw(centred, learners[Kernel.INFINITE.value]),
        analysis.paired_by_draw(centred, learners[Kernel.EMPIRICAL.value]),
        analysis.paired_by_draw(uncentred, centred), gaps,
        int(sum(sum(r["diverged"]) for r in net_records)))


@dataclass(frozen=True)
class SpectralPrediction:
    """Spectra of both kernels, the predicted learning curves, the pool control and the measured test errors."""

    sizes: list              # the sizes compared (n <= M/4)
    spectra: dict            # kernel -> Spectrum
    predicted: dict          # kernel -> [X] predicted MSE at the tuned ridge
    control: dict            # kernel -> [X, repeats] MSE of KRR trained on pool subsets, tested on the rest of the pool
    measured: dict           # kernel -> [D, X] measured test MSE
    tail_exponents: dict     # kernel -> β, the decay of T(k) over the fitted range
    eigen_exponents: dict    # kernel -> b, the decay of η_k over the same range
    predicted_exponents: dict  # kernel -> exponent of the predicted curve
    control_exponents: dict    # kernel -> exponent of the pool control
    measured_exponents: dict   # kernel -> ExponentFit of the measured test MSE
    control_ratio: dict      # kernel -> mean predicted / pool-control MSE
    test_ratio: dict         # kernel -> mean predicted / measured test MSE


def spectral_prediction(sizes: ScalingSizes, task: str, device: torch.device, cache: ResultsCache,
                        tuning: Tuning, scaling: DataScaling, *, first: int = 0) -> SpectralPrediction:
    """Predict each kernel's MSE learning curve from its spectrum on ``M = spectrum_points`` pool samples.

    Two comparisons: with the **pool control** (training sets drawn from the pool, tested on the rest of it —
    the distribution the equations are given), which checks the equations; and with the measured test errors
    on fresh data, which adds the error of estimating a distribution's spectrum from ``M`` samples (the
    pool's own spectrum puts all target power into ``M`` modes, which steepens ``T(k)`` near ``M``). Sizes
    ``n ≤ M/4``.
    """
    spec_configs = configs.spectrum_configs(sizes, task, device, tuning.ridges, first=first)
    records = cache.sweep(runs.spectrum_run, spec_configs, desc="spectra")
    columns = [i for i, n in enumerate(sizes.sizes) if 4 * n <= sizes.spectrum_points]
    if len(columns) < 2:
        raise ValueError(f"spectrum_points = {sizes.spectrum_points} leaves fewer than two sizes n <= M/4.")
    x = [sizes.sizes[i] for i in columns]
    out: dict[str, dict] = {k: {} for k in SpectralPrediction.__dataclass_fields__ if k != "sizes"}
    for config, record in zip(spec_configs, records):
        name = config["kernel"]
        spectrum = Spectrum(np.asarray(record["eigenvalues"]), np.asarray(record["power"]), record["ridge_scale"])
        predicted = np.array([predicted_error(spectrum, [n], ridge=tuning.ridges[name][n])[0] for n in x])
        learner = scaling.learners[name]
        measured = learner.by_draw("test_mse")[:, columns]
        control = np.asarray(record["control_mse"])
        k = np.arange(min(x), max(x) + 1)
        out["spectra"][name] = spectrum
        out["predicted"][name] = predicted
        out["control"][name] = control
        out["measured"][name] = measured
        out["tail_exponents"][name] = -tail_power_exponent(spectrum, min(x), max(x)).slope
        out["eigen_exponents"][name] = -float(np.polyfit(np.log(k), np.log(spectrum.eigenvalues[k - 1]), 1)[0])
        out["predicted_exponents"][name] = -float(np.polyfit(np.log(x), np.log(predicted), 1)[0])
        out["control_exponents"][name] = -float(np.polyfit(np.log(x), np.log(control.mean(axis=1)), 1)[0])
        sub = analysis.LearnerRuns(name, learner.test_error[:, columns], learner.test_mse[:, columns],
                                   learner.train_error[:, columns], learner.groups)
        out["measured_exponents"][name] = analysis.exponent_fit(x, sub, metric="test_mse")
        out["control_ratio"][name] = float(np.mean(predicted / control.mean(axis=1)))
        out["test_ratio"][name] = float(np.mean(predicted / measured.mean(axis=0)))
    return SpectralPrediction(x, **out)


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
    slopes: dict             # parametrization -> Interval of d log10(distance) / d log10(width), t over seeds
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
        per_seed = [np.polyfit(np.log10(widths), np.log10(row), 1)[0]
                    for row in fields["distance_to_linearized"][p.value]]
        slopes[p.value] = mean_interval(per_seed)
    return WidthScaling(widths, max(sizes.width_sizes), fields["distance_to_linearized"],
                        fields["distance_to_infinite"], fields["error"], fields["infinite_error"],
                        fields["linearized_error"], slopes,
                        {p: v.mean(axis=0).tolist() for p, v in fields["learning_rate"].items()})


@dataclass(frozen=True)
class KernelEvolution:
    """Kernel-evolution records (one per seed) and the after-kernel comparison."""

    records: list
    after_sizes: list
    after_level: tuple       # (Interval of after − initial test error at the largest n over seeds, Holm p)
    after_exponent: Interval  # α_after − α_initial, paired t over seeds
    learning_rate: float
    steps: int
    half_fraction: float     # fraction of training after which Fort's distance to the final kernel has halved


def kernel_evolution(sizes: ScalingSizes, task: str, device: torch.device, cache: ResultsCache,
                     tuning: Tuning, *, first: int = 0) -> KernelEvolution:
    """The centred network at ``n = evolution_train`` with its tuned schedule, kernels at checkpoints, and its
    after kernel used for kernel regression at every size (fresh training sets, tuned ridges)."""
    n = sizes.evolution_train
    _, lr, steps = next(row for row in tuning.schedules[Recipe.CENTRED.value] if row[0] == n)
    evo_configs = configs.evolution_configs(sizes, task, device, learning_rate=lr, steps=steps,
                                            ridges=tuning.ridges[Kernel.EMPIRICAL.value], first=first)
    records = cache.sweep(runs.evolution_run, evo_configs, desc="kernel evolution")
    after, initial = stack(records, "after_error"), stack(records, "initial_error")
    seeds = np.arange(len(records))
    zeros = np.zeros_like(after)
    after_runs = analysis.LearnerRuns("after kernel", after, zeros, zeros, seeds)
    initial_runs = analysis.LearnerRuns("initial kernel", initial, zeros, zeros, seeds)
    x = list(records[0]["after_sizes"])
    level = analysis.paired_by_draw(after_runs, initial_runs)[-1]
    gap = analysis.exponent_difference(x, after_runs, initial_runs, unit="seeds (one data draw)")
    to_final = stack(records, "fort_to_final").mean(axis=0)
    marks = np.asarray(records[0]["steps"], dtype=float)
    half = float(marks[np.argmax(to_final <= to_final[0] / 2)] / marks[-1])
    return KernelEvolution(records, x, level, gap, lr, steps, half)


def exponent_table(by_metric: Mapping[str, Mapping[str, ExponentFit]]) -> str:
    """Markdown table: learner × metric exponents with intervals."""
    metrics = list(by_metric)
    names = list(next(iter(by_metric.values())))
    lines = ["| learner | " + " | ".join(f"α ({m})" for m in metrics) + " |",
             "|---|" + "---:|" * len(metrics)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(by_metric[m][name].text() for m in metrics) + " |")
    return "\n".join(lines)


_WORDS = dict(larger="higher than", smaller="lower than", same="not distinguishable from", fmt=".1f", unit=" pt")


def _points(interval: Interval) -> Interval:
    """A difference of error rates in percentage points."""
    return Interval(100 * interval.estimate, 100 * interval.low, 100 * interval.high, interval.confidence,
                    interval.n, interval.p_value, interval.method)
_GAP = dict(larger="positive", smaller="negative", same="not distinguishable from zero", fmt=".3f")


def data_scaling_summary(scaling: DataScaling, sizes: ScalingSizes) -> dict:
    """The numbers and verdict words the text of Experiment 1 and the findings use (percentages for errors)."""
    learners = scaling.learners
    at = {name: 100 * runs.by_draw().mean(axis=0) for name, runs in learners.items()}
    (last, p_last), (first, p_first) = scaling.centred_vs_infinite[-1], scaling.centred_vs_infinite[0]
    (last_e, p_last_e) = scaling.centred_vs_empirical[-1]
    f0, p_f0 = scaling.uncentred_vs_centred[-1]
    e = scaling.exponents["0/1 error"]
    gaps = scaling.exponent_gaps
    centred = scaling.sensitivity[f"network ({Recipe.CENTRED.value})"]
    spread = max(f.exponent for f in centred.values()) - min(f.exponent for f in centred.values())
    width = float(np.mean([f.high - f.low for f in centred.values()]))
    assessed = all(iv.n >= 3 for iv, _ in scaling.centred_vs_infinite)
    gap_value = gaps["centred − infinite"][0].estimate
    lower_everywhere = assessed and all(iv.high < 0 and p <= 0.05 for iv, p in scaling.centred_vs_infinite)
    higher_everywhere = assessed and all(iv.low > 0 and p <= 0.05 for iv, p in scaling.centred_vs_infinite)
    level = ("lower than the infinite NTK's at every size: in level, the network beats its kernel"
             if lower_everywhere else
             "higher than the infinite NTK's at every size: a fully connected network trained with Adam does not "
             "beat its kernels at these sizes, consistent with Lee et al. {cite}`lee2020finite`, who find that "
             "infinite-width kernels often beat finite fully connected networks trained without large learning "
             "rates, L2 regularization or ensembling"
             if higher_everywhere else
             "neither lower nor higher than the infinite NTK's at every size (the verdict per size is in Experiment 1)")

    def gap(name: str, **words: str) -> str:
        interval, p = gaps[name]
        return describe(interval, adjusted_p=p, **{"fmt": ".3f", **words})

    return dict(
        n_max=scaling.sizes[-1], n_min=scaling.sizes[0], k=len(scaling.sizes), draws_n=sizes.draws,
        draws=f"{sizes.draws} data draws × {sizes.seeds} seeds",
        err_u=at["network (uncentred)"][-1], err_c=at["network (centred)"][-1], err_e=at["empirical_ntk"][-1],
        err_i=at["infinite_ntk"][-1], level=level,
        vs_inf=describe(_points(last), adjusted_p=p_last, what="the infinite NTK's", **_WORDS),
        vs_inf_small=describe(_points(first), adjusted_p=p_first, what="the infinite NTK's", **_WORDS),
        vs_emp=describe(_points(last_e), adjusted_p=p_last_e, what="the empirical NTK's", **_WORDS),
        f0_words=describe(_points(f0), adjusted_p=p_f0, what="the centred network's", **_WORDS),
        f0_points=100 * f0.estimate,
        a_u=e["network (uncentred)"].text(), a_c=e["network (centred)"].text(), a_e=e["empirical_ntk"].text(),
        a_i=e["infinite_ntk"].text(), gap_ci=gap("centred − infinite", **_GAP),
        gap_ce=gap("centred − empirical", **_GAP), gap_uc=gap("uncentred − centred", **_GAP),
        gap_uc_value=gaps["uncentred − centred"][0].estimate,
        exponent_verdict=gap("centred − infinite", larger="larger than", smaller="smaller than",
                             same="not distinguishable from", what="the infinite-width NTK's"),
        range_words=(f"moves by {spread:.2f} between sub-ranges of n ({spread / max(abs(gap_value), 1e-12):.1f} times "
                     f"the network–kernel gap, and more than the typical width of its interval, {width:.2f}), so any "
                     "ranking holds only for this range of n and we do not extrapolate it" if spread > width else
                     f"moves by {spread:.2f} between sub-ranges of n, less than the typical width of its interval "
                     f"({width:.2f})"),
        train_max=max(100 * r.train_error.mean(axis=0).max() for r in learners.values()),
        diverged=("no tuned network run diverged" if scaling.diverged == 0 else
                  f"{scaling.diverged} tuned network runs diverged"))


def spectral_summary(spectral: SpectralPrediction, sizes: ScalingSizes) -> dict:
    """Numbers of Experiment 2 (``_e``: empirical NTK, ``_i``: infinite NTK)."""
    out = dict(n0=spectral.sizes[0], n1=spectral.sizes[-1], m=sizes.spectrum_points)
    for key, name in (("e", Kernel.EMPIRICAL.value), ("i", Kernel.INFINITE.value)):
        beta, b = spectral.tail_exponents[name], spectral.eigen_exponents[name]
        out.update({f"beta_{key}": beta, f"b_{key}": b, f"pred_{key}": spectral.predicted_exponents[name],
                    f"control_{key}": spectral.control_exponents[name],
                    f"meas_{key}": spectral.measured_exponents[name].text(),
                    f"ratio_control_{key}": spectral.control_ratio[name],
                    f"ratio_test_{key}": spectral.test_ratio[name],
                    f"regime_{key}": "β < 2b" if beta < 2 * b else "β ≥ 2b, where the exponent is capped"})
    ratios = list(spectral.control_ratio.values())
    n0, n1, m = spectral.sizes[0], spectral.sizes[-1], sizes.spectrum_points
    # the pool average includes the n training images (error ≈ 0): a share n/M that grows with n
    pool_bias = float(np.log((1 - n0 / m) / (1 - n1 / m)) / np.log(n1 / n0))
    small_b = [k for k in ("e", "i") if out[f"b_{k}"] <= 1]
    out.update(control_range=(f"{min(ratios):.2f}×" if abs(max(ratios) - min(ratios)) < 0.005 else
                              f"{min(ratios):.2f}–{max(ratios):.2f}×"),
               pool_bias=pool_bias,
               b_caveat=(" The eigenvalues fall more slowly than 1/k (b ≤ 1), outside the range in which E ∝ p^(−β) is "
                         "derived; the predicted curves solve the equations numerically." if small_b else ""))
    return out


def width_summary(width: WidthScaling) -> dict:
    """Numbers of Experiment 3: slope words per parametrization, distances at the largest width, and the verdict."""
    words = dict(larger="rises", smaller="falls", same="does not change measurably", fmt=".2f")
    out = {f"slope_{p}": describe(width.slopes[p], **words) for p in width.slopes}
    out.update({f"dist_{p}": float(width.distance[p].mean(axis=0)[-1]) for p in width.distance})
    out.update({f"dist_inf_{p}": float(width.distance_to_infinite[p].mean(axis=0)[-1])
                for p in (Parametrization.STANDARD.value, Parametrization.NTK.value)})
    names = {Parametrization.STANDARD.value: "standard", Parametrization.NTK.value: "NTK",
             Parametrization.MEAN_FIELD.value: "mean-field"}
    order = sorted(width.slopes, key=lambda p: width.slopes[p].estimate)
    falling = [p for p in order if width.slopes[p].verdict is Verdict.SMALLER and width.slopes[p].n >= 3]
    mean_field = width.slopes[Parametrization.MEAN_FIELD.value]
    lazy_faster = all(width.slopes[p].high < mean_field.low
                      for p in (Parametrization.STANDARD.value, Parametrization.NTK.value))
    if not falling:
        verdict = "No parametrization approaches its linearization measurably over these widths and seeds"
    else:
        listed = [names[p] for p in falling]
        listed = ", ".join(listed[:-1]) + " and " + listed[-1] if len(listed) > 1 else listed[0]
        verdict = (f"At η = N/λ_max the distance falls with width for the {listed} "
                   f"network{'s' if len(falling) > 1 else ''} (fastest first)")
        if lazy_faster:
            verdict += "; the standard and NTK networks approach their linearizations measurably faster than the " \
                       "mean-field one"
        if Parametrization.MEAN_FIELD.value in falling:
            verdict += (". The mean-field network's distance falls too, over these widths and steps, unlike the "
                        "O(1) feature movement of the mean-field limit; only one step rule (c = 1) was run, so this "
                        "does not say how the picture changes with the step")
    out.update(width_max=width.widths[-1], width_n=width.n, verdict=verdict)
    return out


def evolution_summary(evolution: KernelEvolution, sizes: ScalingSizes) -> dict:
    """Numbers of Experiment 4: kernel measures at the start and the end (means over seeds), the first-order
    verdict on shape against scale (``|log s|`` against ``‖R‖/‖s·HK₀H‖``, :func:`lib.kernel_alignment.scale_and_shape`),
    and the after kernel against the initial one."""

    def mean(key: str, index: int) -> float:
        return float(np.mean([r[key][index] for r in evolution.records]))

    keys = ("cka_to_init", "overlap_to_init", "target_alignment", "scale_to_init", "fort_to_init", "kernel_error",
            "network_error", "centred_scale", "shape_change", "full_kernel_error", "trace_kernel_error")
    out = {f"{k}_end": mean(k, -1) for k in keys}
    out.update({f"{k}_start": mean(k, 0) for k in keys})
    log_scale = float(np.mean([abs(np.log(r["centred_scale"][-1])) for r in evolution.records]))
    shape = out["shape_change_end"]
    level, p = evolution.after_level
    out.update(block_start=mean("block_deviation", 0), block_end=mean("block_deviation", 1),
               n_after=evolution.after_sizes[-1], width=sizes.width, evolution_n=sizes.evolution_train,
               log_scale=log_scale, half_fraction=evolution.half_fraction, evolution_steps=evolution.steps,
               pace=_pace(evolution),
               shape_or_scale="more in scale than in shape" if log_scale > shape else "more in shape than in scale",
               after=describe(_points(level), adjusted_p=p, larger="higher than", smaller="lower than",
                              same="not distinguishable from", what="the initial kernel's", fmt=".1f", unit=" pt"),
               after_exponent=describe(evolution.after_exponent, larger="larger than", smaller="smaller than",
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


def _pace(evolution: KernelEvolution) -> str:
    """When Fort et al.'s distance to the final kernel halves, bracketed by the checkpoints that observe it."""
    marks = np.asarray(evolution.records[0]["steps"], dtype=float)
    to_final = stack(evolution.records, "fort_to_final").mean(axis=0)
    at = int(np.argmax(to_final <= to_final[0] / 2))
    low, high = marks[max(at - 1, 0)] / marks[-1], marks[at] / marks[-1]
    bracket = f"between the checkpoints at {low:.0%} and {high:.0%} of the {int(marks[-1])} steps"
    if high <= 0.25:
        return f"it halves {bracket}: a fast early phase, as Fort et al. describe"
    if low >= 0.25:
        return f"it halves {bracket}: the kernel keeps moving through much of training"
    return f"it halves {bracket}, which does not separate a fast early phase from steady drift"


def run_chapter(profile: str, device: torch.device, cache: ResultsCache, *, seed: int = 0) -> None:
    """Run every sweep of Chapter 5 in the notebook's order (``tools/sweep.py`` calls this to fill ``cache``;
    the notebook then renders from it). ``seed`` is the first evaluation draw, as in the notebook."""
    sizes = configs.sizes_for(profile)
    task = configs.tasks_to_run(sizes, profile=profile, device=device)[0][0]
    tuning = tune(sizes, task, device, cache)
    scaling = data_scaling(sizes, task, device, cache, tuning, first=seed)
    spectral_prediction(sizes, task, device, cache, tuning, scaling, first=seed)
    width_scaling(sizes, task, device, cache, first=seed)
    kernel_evolution(sizes, task, device, cache, tuning, first=seed)

"""Chapter 1's experiments as stages the notebook (or a command line) calls in order.

Each stage runs its sweeps through a :class:`lib.cache.ResultsCache` (finished configs are never redone) and
returns a small dataclass with everything the text and the figures need; each ``*_summary`` function returns the
dict of numbers and verdict words that the notebook's ``say(...)`` cells fill in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lib.cache import ResultsCache
from lib.experiments.kernel_regime import analysis, configs, runs
from lib.experiments.kernel_regime.configs import KernelRegimeSizes, Optimizer, Parametrization
from lib.records import grid
from lib.stats import Interval, describe, paired_difference, trend

__all__ = ["Convergence", "convergence", "Tuning", "tune", "Factorial", "factorial", "Catapult", "catapult",
           "AlphaSweep", "alpha_sweep", "GPComparison", "gp_comparison", "WRN", "wide_resnet", "run_chapter",
           "convergence_summary", "factorial_summary", "factorial_table", "catapult_summary", "alpha_summary",
           "gp_summary", "wrn_summary", "findings_summary"]

NAMES = {"standard": "standard", "ntk": "NTK", "mup": "μP", "gd": "GD", "sgd": "SGD", "adam": "Adam"}


def _words(interval: Interval, *, what: str = "", fmt: str = ".2f", unit: str = "", **words) -> str:
    """:func:`lib.stats.describe`, but with fewer than three repetitions a plain "not assessed" with the estimate."""
    if interval.n < 3:
        return (f"not assessed ({interval.estimate:{fmt}}{unit}; {interval.n} seeds are too few for a verdict in "
                "this profile)")
    return describe(interval, what=what, fmt=fmt, unit=unit, **words)


def _percent(interval: Interval) -> Interval:
    return Interval(100 * interval.estimate, 100 * interval.low, 100 * interval.high, interval.confidence,
                    interval.n, interval.p_value, interval.method)


# -------------------------------------------------------------------------- 1. empirical -> analytic NTK


@dataclass(frozen=True)
class Convergence:
    """``errors[depth]``: ``[S, W]`` relative distances; ``slopes[depth]``: slope of log10 error per decade of
    width (bootstrap over seeds)."""

    widths: list
    errors: dict
    slopes: dict


def convergence(sizes: KernelRegimeSizes, device: torch.device, cache: ResultsCache, *, first: int = 0
                ) -> Convergence:
    """The empirical NTK at initialization against the analytic kernel, over depth × width × seed."""
    conv_configs = configs.convergence_configs(sizes, device, first=first)
    records = cache.sweep(runs.empirical_vs_infinite, conv_configs, desc="empirical vs analytic NTK")
    table = grid(records, conv_configs, ("depth", "width", "seed"), "relative_error")   # [D, W, S]
    widths = list(sizes.convergence_widths)
    errors = {d: table[i].T for i, d in enumerate(sizes.convergence_depths)}
    slopes = {d: trend(widths, np.log10(e)) for d, e in errors.items()}
    return Convergence(widths, errors, slopes)


def convergence_summary(conv: Convergence) -> dict:
    """Numbers of Experiment 1: errors at the narrowest and widest width, and the fitted exponents against −1/2."""
    depths = list(conv.errors)
    out = dict(width_narrow=conv.widths[0], width_wide=conv.widths[-1], depth_max=depths[-1])
    for d in depths:
        mean = conv.errors[d].mean(axis=0)
        out[f"err_narrow_{d}"], out[f"err_wide_{d}"] = float(mean[0]), float(mean[-1])
        out[f"slope_{d}"] = describe(conv.slopes[d], null=-0.5, larger="shallower than", smaller="steeper than",
                                     same="consistent with", what="−1/2", fmt=".2f")
    out["err_narrow_deep"], out["err_wide_deep"] = out[f"err_narrow_{depths[-1]}"], out[f"err_wide_{depths[-1]}"]
    out["slope_first"], out["slope_deep"] = out[f"slope_{depths[0]}"], out[f"slope_{depths[-1]}"]
    return out


# ---------------------------------------------------------------------------------- 2. the factorial design


@dataclass(frozen=True)
class Tuning:
    """``picks[(parametrization, optimizer)]``: the picked rate (one per cell, all widths); ``rows``: one
    :class:`analysis.Pick` per cell (for the table)."""

    picks: dict
    rows: list


def tune(sizes: KernelRegimeSizes, device: torch.device, cache: ResultsCache) -> Tuning:
    """Every cell's learning-rate grid on the tuning seed at every width; the pick minimizes the final training loss
    averaged over widths."""
    tuning_configs = configs.tuning_configs(sizes, device)
    records = cache.sweep(runs.factorial_run, tuning_configs, desc="tuning learning rates")
    picks, rows = analysis.pick_rates(records, tuning_configs)
    return Tuning(picks, rows)


#: Result fields of the factorial design kept as ``[S, W]`` arrays per slice.
FACTORIAL_KEYS = ("train_loss", "train_accuracy", "test_accuracy", "test_loss", "scale", "shape", "relative", "fort",
                  "parameters", "edge", "learning_rate", "lambda0", "lambda_ratio", "active_fraction", "dead_fraction",
                  "active_fraction_initial")


@dataclass(frozen=True)
class Factorial:
    """The evaluation runs as slices ``slices[(parametrization, optimizer, rate)][key]`` (``[S, W]``), the tuned
    picks, the width trends of the shape change and of the size of the scale change per slice
    (:func:`analysis.width_trends`), and the slices with a diverged run."""

    widths: list
    seeds: list
    slices: dict
    picks: dict
    fixed_rates: list
    shape_trends: dict
    scale_trends: dict
    diverged: list

    def tuned(self, parametrization: str, optimizer: str) -> dict:
        """The slice of a cell at its tuned rate."""
        return self.slices[(parametrization, optimizer, self.picks[(parametrization, optimizer)])]


def factorial(sizes: KernelRegimeSizes, device: torch.device, cache: ResultsCache, tuning: Tuning, *,
              first: int = 0) -> Factorial:
    """Every cell on the evaluation seeds ``first, first + 1, …`` (each its own data draw) at the fixed rates
    ``c`` of the design (GD/SGD) and at its tuned rate."""
    eval_configs = configs.evaluation_configs(sizes, device, tuning.picks, first=first)
    records = cache.sweep(runs.factorial_run, eval_configs, desc="factorial design")
    slices = analysis.factorial_slices(records, eval_configs, FACTORIAL_KEYS)
    widths = list(sizes.widths)
    diverged = sorted({(c["parametrization"], c["optimizer"], c["rate"])
                       for c, r in zip(eval_configs, records, strict=True) if r["diverged"]})
    return Factorial(widths, list(range(first, first + sizes.seeds)), slices, dict(tuning.picks),
                     list(sizes.fixed_rates), analysis.width_trends(widths, slices, "shape"),
                     analysis.width_trends(widths, slices, "scale"), diverged)


def _cell(p: str, o: str) -> str:
    return f"{NAMES[p]} + {NAMES[o]}"


def _slice_name(p: str, o: str, rate: float) -> str:
    return f"{_cell(p, o)}, " + (f"lr {rate:g}" if o == Optimizer.ADAM.value else f"c = {rate:g}")


def _p_text(p: float) -> str:
    return "< 0.001" if p < 1e-3 else f"{p:.2g}"


def _trend_words(entry: tuple | None, *, fmt: str = ".2f") -> str:
    if entry is None:
        return "not assessed (a run diverged)"
    interval, p = entry
    return _words(interval, larger="grows with width", smaller="falls with width", same="shows no trend in width",
                  adjusted_p=p, fmt=fmt)


def _lazier(entry: tuple | None) -> bool:
    return entry is not None and entry[0].n >= 3 and entry[0].high < 0 and entry[1] <= 0.05


def factorial_table(fac: Factorial) -> str:
    """Markdown table, one row per slice (cell and rate; the tuned rate marked): test accuracy, training loss,
    final η λ_max(Θ_T)/2N, active (unit, input) pairs, the scale and shape change at the narrowest and widest
    width (means over seeds) and the shape trend with its Holm-adjusted p-value."""
    lines = ["| cell, rate | test acc. | train loss | ηλ_T/2N | active pairs | scale log‖Θ_T‖/‖Θ₀‖ | shape 1 − CKA | "
             "shape: slope of log₁₀ per decade of width (Holm p) |", "|---|---|---|---|---|---|---|---|"]
    for (p, o, rate), arrays in fac.slices.items():

        def ends(key: str, fmt: str, arrays=arrays) -> str:
            m = np.nanmean(arrays[key], axis=0)
            return f"{m[0]:{fmt}} → {m[-1]:{fmt}}"

        entry = fac.shape_trends.get((p, o, rate))
        slope = f"{entry[0].text('.2f')} ({_p_text(entry[1])})" if entry else "— (a run diverged)"
        tuned = " (tuned)" if fac.picks[(p, o)] == rate else ""
        edge = ends("edge", ".2f") if o != Optimizer.ADAM.value else "—"
        lines.append(f"| {_slice_name(p, o, rate)}{tuned} | {ends('test_accuracy', '.1%')} | "
                     f"{ends('train_loss', '.3f')} | {edge} | {ends('active_fraction', '.0%')} | "
                     f"{ends('scale', '+.2f')} | {ends('shape', '.1e')} | {slope} |")
    return ("Each entry is narrowest → widest width, mean over seeds.\n\n" + "\n".join(lines)).replace("%", " %")


def factorial_summary(fac: Factorial) -> dict:
    """Numbers and verdicts of Experiment 2: which slices get lazier with width at each fixed c, the paired slope
    contrasts at c = 1, the tuned cells, the rate the stability rule gives the standard network, and unit death."""
    out: dict = {}
    gd_sgd = (Optimizer.GD.value, Optimizer.SGD.value)
    for rate in fac.fixed_rates:
        for o in gd_sgd:
            lazier = [NAMES[p] for p in Parametrization.values() if _lazier(fac.shape_trends.get((p, o, rate)))]
            flat = [NAMES[p] for p in Parametrization.values() if not _lazier(fac.shape_trends.get((p, o, rate)))]
            key = f"{o}_{str(rate).replace('.', '_')}"
            out[f"lazier_{key}"] = ", ".join(lazier) or "none"
            out[f"flat_{key}"] = ", ".join(flat) or "none"
            for p in Parametrization.values():
                out[f"shape_{p}_{key}"] = _trend_words(fac.shape_trends.get((p, o, rate)))
    for p in Parametrization.values():
        for o in Optimizer.values():
            out[f"tuned_{p}_{o}"] = _trend_words(fac.shape_trends.get((p, o, fac.picks[(p, o)])))
            out[f"pick_{p}_{o}"] = fac.picks[(p, o)]
    log_shape = {k: np.log10(np.maximum(v["shape"], analysis.LOG_FLOOR)) for k, v in fac.slices.items()}
    for o in gd_sgd:
        for a in ("standard", "mup"):
            diff = log_shape[(a, o, 1.0)] - log_shape[("ntk", o, 1.0)]
            out[f"slope_{a}_minus_ntk_{o}"] = (
                _words(trend(fac.widths, diff), larger="less steep than", smaller="steeper than",
                       same="not distinguishable from", what="the NTK network's")
                if np.all(np.isfinite(diff)) else "not assessed (a run diverged)")
    low, high = min(fac.fixed_rates), max(fac.fixed_rates)
    decided = [NAMES[p] for p in Parametrization.values()
               if _lazier(fac.shape_trends.get((p, "gd", low))) and not _lazier(fac.shape_trends.get((p, "gd", high)))]
    out["decides_words"] = (
        f"For the {' and '.join(decided)} network{'s' if len(decided) > 1 else ''}, the step relative to the stability "
        f"limit decides whether the network gets lazier with width: lazier at c = {low:g}, not at c = {high:g}"
        if decided else "No network is lazier at the small fixed rate and not at the large one")
    std = fac.slices[("standard", "gd", 1.0)]
    rate_ratio = float(np.mean(std["learning_rate"][:, 0]) / np.mean(std["learning_rate"][:, -1]))
    tuned_acc = np.array([np.nanmean(fac.tuned(p, o)["test_accuracy"], axis=0)
                          for p in Parametrization.values() for o in Optimizer.values()])
    tuned_loss = np.array([np.nanmean(fac.tuned(p, o)["train_loss"], axis=0)
                           for p in Parametrization.values() for o in Optimizer.values()])
    dead = {p: float(np.nanmean(fac.slices[(p, "gd", 2.0)]["dead_fraction"][:, -1])) for p in Parametrization.values()}
    active = {(p, c): float(np.nanmean(fac.slices[(p, "gd", c)]["active_fraction"][:, -1]))
              for p in Parametrization.values() for c in fac.fixed_rates}
    out.update(
        seeds=len(fac.seeds), width_narrow=fac.widths[0], width_wide=fac.widths[-1],
        width_ratio=fac.widths[-1] / fac.widths[0], rate_ratio=rate_ratio,
        acc_min=float(tuned_acc.min()), acc_max=float(tuned_acc.max()), loss_min=float(tuned_loss.min()),
        loss_max=float(tuned_loss.max()),
        dead_standard_2=dead["standard"], dead_ntk_2=dead["ntk"], dead_mup_2=dead["mup"],
        active_mup_0_5=active[("mup", 0.5)], active_mup_2=active[("mup", 2.0)],
        active_ntk_0_5=active[("ntk", 0.5)],
        diverged=("no evaluation run diverged" if not fac.diverged else
                  "runs diverged in " + ", ".join(_slice_name(*k) for k in fac.diverged)
                  + ", which are left out of the trends"))
    return out


# ------------------------------------------------------------------------------ 3. lazy -> catapult -> divergence


@dataclass(frozen=True)
class Catapult:
    """Catapult records ``records[c]`` (one per seed) for each rate ``c`` (units of 2N/λ_max(Θ̂₀))."""

    rates: list
    records: dict
    seeds: list


def catapult(sizes: KernelRegimeSizes, device: torch.device, cache: ResultsCache, *, first: int = 0) -> Catapult:
    """Full-batch GD on the NTK-parametrized net over rates, tracking λ_max(Θ_t)."""
    cat_configs = configs.catapult_configs(sizes, device, first=first)
    records = cache.sweep(runs.catapult_run, cat_configs, desc="catapult sweep")
    by_rate: dict[float, list] = {}
    for c, r in zip(cat_configs, records, strict=False):
        by_rate.setdefault(c["rate"], []).append(r)
    return Catapult(list(sizes.catapult_rates), by_rate, list(range(first, first + sizes.catapult_seeds)))


def _phase(records: list) -> str:
    """``"diverged"`` if a seed diverged, ``"collapsed"`` if a seed ended untrained, else ``"trained"``."""
    if any(r["diverged"] for r in records):
        return "diverged"
    return "collapsed" if any(r["collapsed"] for r in records) else "trained"


def catapult_summary(cat: Catapult) -> dict:
    """Numbers of Experiment 3: the phase of every rate (trained on all seeds, or how many seeds diverged or collapsed
    — no divergence, but a training loss above half its initial value), for the trained rates above the stability
    limit the loss spike, the fall of λ_max and where the run ends, and the hidden units' activity and weight norms
    at the largest trained rate against the lazy rate."""
    phases = {c: _phase(cat.records[c]) for c in cat.rates}
    stable = [c for c in cat.rates if phases[c] == "trained"]
    failed = [c for c in cat.rates if phases[c] != "trained"]
    first_fail = min(failed) if failed else float("inf")
    window = [c for c in stable if c < first_fail]
    above = [c for c in window if c > 1]
    below = [c for c in window if c < 1]

    def mean(c: float, key: str) -> float:
        return float(np.mean([r[key] for r in cat.records[c]]))

    def count(c: float) -> str:
        d = sum(r["diverged"] for r in cat.records[c])
        k = sum(r["collapsed"] for r in cat.records[c])
        parts = ([f"{d}/{len(cat.records[c])} seeds diverged"] if d else []) + \
                ([f"{k}/{len(cat.records[c])} collapsed"] if k else [])
        return f"at c = {c:g}, " + " and ".join(parts)

    words = ("; ".join(count(c) for c in failed) if failed else
             "no rate of the grid diverged or collapsed: the grid does not reach the divergent phase")
    edges = [r["edge"] for c in above for r in cat.records[c]]
    nan = float("nan")
    out = dict(c_max=max(window) if window else nan, failure_words=words, n_above=len(above), seeds=len(cat.seeds),
               lam_ratio_above=min(mean(c, "lambda_ratio") for c in above) if above else nan,
               peak_above=max(mean(c, "peak_loss_ratio") for c in above) if above else nan,
               edge_above_max=max(edges) if edges else nan,
               lam_dev_below=max(abs(r["lambda_ratio"] - 1) for c in below for r in cat.records[c]) if below else nan,
               shape_below=max(mean(c, "shape") for c in below) if below else nan,
               below_list=", ".join(f"{c:g}" for c in below),
               shape_above=max(mean(c, "shape") for c in above) if above else nan,
               fort_above=max(mean(c, "fort") for c in above) if above else nan,
               c_low=below[0] if below else nan, acc_high=nan,
               acc_low=mean(below[0], "test_accuracy") if below else nan,
               acc_change="not assessed", generalization_words="not assessed",
               loss_high=mean(max(above), "train_loss") if above else nan,
               loss_low=mean(below[0], "train_loss") if below else nan)
    if above and below:
        hi, lo = max(above), below[0]
        out.update(active_high=mean(hi, "active_fraction"), active_low=mean(lo, "active_fraction"),
                   active_initial=mean(lo, "active_fraction_initial"), dead_high=mean(hi, "dead_fraction"),
                   dead_low=mean(lo, "dead_fraction"),
                   hidden_growth=mean(hi, "hidden_norm") / mean(hi, "hidden_norm_initial"),
                   readout_growth=mean(hi, "readout_norm") / mean(hi, "readout_norm_initial"))
    out["edge_words"] = ("every one inside the stability region of its final kernel" if edges and max(edges) < 1 else
                         "at or slightly beyond the stability edge of the final kernel, still training"
                         if edges else "none")
    if below and above:
        a = [r["test_accuracy"] for r in cat.records[max(above)]]
        b = [r["test_accuracy"] for r in cat.records[below[0]]]
        out["acc_high"] = float(np.mean(a))
        gap = paired_difference(a, b)
        out["generalization_words"] = (
            "too few seeds in this profile to compare" if gap.n < 3 else
            "in these bias-free ReLU networks, large steps switch hidden units off and generalization drops"
            if gap.high < 0 else "the large-step end point generalizes better" if gap.low > 0 else
            "no difference in test accuracy is detected")
        out["acc_change"] = _words(_percent(gap), larger="higher than", smaller="lower than",
                                   same="not distinguishable from", what="the lazy run's", fmt=".1f", unit=" pt")
    return out


# ------------------------------------------------------------------------------------------ 4. output scale α


@dataclass(frozen=True)
class AlphaSweep:
    """``arrays[key]``: ``[A, S]`` over the output scales and seeds; ``shape_trend``: slope of log10 shape change
    per decade of α; ``accuracy_gap``: test accuracy at the smallest minus the largest α, paired over seeds."""

    alphas: list
    arrays: dict
    shape_trend: Interval
    accuracy_gap: Interval
    seeds: list


def alpha_sweep(sizes: KernelRegimeSizes, device: torch.device, cache: ResultsCache, *, first: int = 0
                ) -> AlphaSweep:
    """The centred NTK-parametrized net at fixed width with output scale α, GD at half the stability limit."""
    a_configs = configs.alpha_configs(sizes, device, first=first)
    records = cache.sweep(runs.alpha_run, a_configs, desc="output scale α")
    keys = ("train_loss", "test_accuracy", "shape", "scale", "parameters", "relative")
    arrays = {k: grid(records, a_configs, ("alpha", "seed"), k) for k in keys}
    alphas = np.asarray(sizes.alphas, dtype=float)
    ok = np.all(np.isfinite(arrays["shape"]), axis=1)          # α values where no seed diverged
    shape_trend = (trend(alphas[ok], np.log10(np.maximum(arrays["shape"][ok], analysis.LOG_FLOOR)).T)
                   if ok.sum() >= 2 else None)
    acc = arrays["test_accuracy"]
    gap = paired_difference(acc[0], acc[-1])
    return AlphaSweep(alphas.tolist(), arrays, shape_trend, gap, list(range(first, first + sizes.alpha_seeds)))


def alpha_summary(al: AlphaSweep) -> dict:
    """Numbers of Experiment 4."""
    m = {k: np.nanmean(v, axis=1) for k, v in al.arrays.items()}
    return dict(alpha_min=al.alphas[0], alpha_max=al.alphas[-1], shape_small=float(m["shape"][0]),
                shape_large=float(m["shape"][-1]), scale_small=float(m["scale"][0]), scale_large=float(m["scale"][-1]),
                params_small=float(m["parameters"][0]), params_large=float(m["parameters"][-1]),
                acc_small=float(m["test_accuracy"][0]), acc_large=float(m["test_accuracy"][-1]),
                acc_best=float(np.max(m["test_accuracy"])), alpha_best=al.alphas[int(np.argmax(m["test_accuracy"]))],
                loss_max=float(np.nanmax(m["train_loss"])), seeds=len(al.seeds),
                shape_slope=_words(al.shape_trend, larger="rises with α", smaller="falls with α",
                                   same="shows no trend in α") if al.shape_trend else "not assessed",
                acc_gap=_words(_percent(al.accuracy_gap), larger="higher than", smaller="lower than",
                               same="not distinguishable from", what=f"that at α = {al.alphas[-1]:g}", fmt=".1f",
                               unit=" pt"))


# ------------------------------------------------------------------------------------ 5. networks vs NTK-GP


@dataclass(frozen=True)
class GPComparison:
    """The 1-D records per width and their calibration statistics (:func:`analysis.calibration`)."""

    widths: list
    records: list
    stats: dict
    rms_trend: Interval


def gp_comparison(sizes: KernelRegimeSizes, cache: ResultsCache, *, first: int = 0) -> GPComparison:
    """Plain and centred NTK-parametrized nets of every width against the NTK-GP's mean and variance."""
    gp_configs = configs.gp_config(sizes, first=first)
    records = cache.sweep(runs.gp_run, gp_configs, desc="networks vs NTK-GP")
    stats = analysis.calibration(records)
    widths = list(sizes.gp_widths)
    return GPComparison(widths, records, stats, trend(widths, np.log10(stats["centred_rms"]).T))


def gp_summary(gp: GPComparison) -> dict:
    """Numbers of Experiment 5 (means over nets)."""
    s = gp.stats
    return dict(width_narrow=gp.widths[0], width_wide=gp.widths[-1], nets=len(gp.records[0]["plain"]),
                rms_narrow=float(s["centred_rms"][0].mean()), rms_wide=float(s["centred_rms"][-1].mean()),
                rms_slope=describe(gp.rms_trend, larger="grows with width", smaller="falls with width",
                                   same="shows no trend in width", fmt=".2f"),
                z2_narrow=float(s["z2"][0].mean()), z2_wide=float(s["z2"][-1].mean()),
                cover_narrow=float(s["coverage"][0].mean()), cover_wide=float(s["coverage"][-1].mean()),
                var_narrow=float(s["variance_ratio"][0]), var_wide=float(s["variance_ratio"][-1]),
                train=len(gp.records[0]["x_train"]), calibration_words=_calibration_words(s, gp.widths))


def _calibration_words(s: dict, widths: list) -> str:
    """Whether the widest ensemble is close to the NTK-GP (mean z² within 1 ± 0.5 and coverage ≥ 90 %)."""
    z2, cover = float(s["z2"][-1].mean()), float(s["coverage"][-1].mean())
    if abs(z2 - 1) <= 0.5 and cover >= 0.9:
        return (f"at width {widths[-1]} the ensemble is close to calibrated against the NTK-GP: a wide network's "
                "predictions are, to this accuracy, a draw from it")
    trend_words = "falls" if s["z2"][-1].mean() < s["z2"][0].mean() else "does not fall"
    rms = float(s["centred_rms"][-1].mean())
    return (f"the mean z² {trend_words} with width, but even at width {widths[-1]} the networks are not NTK-GP draws "
            f"(mean z² {z2:.2f} rather than 1, {cover:.0%} of points inside ±2σ rather than 95 %): the centred "
            f"networks are still {rms:.2f} NTK-GP standard deviations (RMS) from its mean, so the NTK-GP's variance "
            "does not yet describe their uncertainty")


# ------------------------------------------------------------------------------------------ 6. a Wide ResNet


@dataclass(frozen=True)
class WRN:
    """The Wide ResNet record (checkpoints with accuracy and kernel change)."""

    record: dict


def wide_resnet(sizes: KernelRegimeSizes, device: torch.device, cache: ResultsCache, *, first: int = 0) -> WRN:
    """WRN-16-k on a Fashion-MNIST subset with warm-up + cosine schedule, kernel at checkpoints."""
    (record,) = cache.sweep(runs.wrn_run, configs.wrn_config(sizes, device, first=first), desc="Wide ResNet")
    return WRN(record)


def wrn_summary(wrn: WRN, sizes: KernelRegimeSizes) -> dict:
    """Numbers of Experiment 6: the end of training and the first checkpoint after the start."""
    rows = wrn.record["checkpoints"]
    end, early = rows[-1], rows[1]
    return dict(k=sizes.wrn_widen_factor, params=f"{wrn.record['parameters_count']:,}", n=sizes.wrn_train,
                epochs=wrn.record["epochs"], steps=wrn.record["steps"], probe=sizes.wrn_probe,
                train_acc=end["train_accuracy"], test_acc=wrn.record["test_accuracy"], scale=end["scale"],
                shape=end["shape"], relative=end["relative"], early_step=early["step"], early_scale=early["scale"],
                early_shape=early["shape"], early_relative=early["relative"], early_acc=early["train_accuracy"],
                ratio=float(np.exp(end["scale"])),
                early_fraction=early["shape"] / end["shape"] if end["shape"] > 0 else float("nan"),
                shape_words=(f"it changes the *shape* of its kernel (1 − CKA = {end['shape']:.2f}), not only its "
                             "size: it is not in the kernel regime" if end["shape"] > 0.05 else
                             f"its kernel's shape changes little (1 − CKA = {end['shape']:.3f})"))


def findings_summary(conv: Convergence, fac: Factorial, tuning: Tuning, cat: Catapult, al: AlphaSweep,
                     gp: GPComparison, wrn: WRN, sizes: KernelRegimeSizes) -> dict:
    """Everything the findings cite, prefixed by experiment (``conv_``, ``fac_``, ``cat_``, ``alpha_``, ``gp_``,
    ``wrn_``)."""
    parts = {"conv": convergence_summary(conv), "fac": factorial_summary(fac), "cat": catapult_summary(cat),
             "alpha": alpha_summary(al), "gp": gp_summary(gp), "wrn": wrn_summary(wrn, sizes)}
    return {f"{prefix}_{k}": v for prefix, part in parts.items() for k, v in part.items()}


def run_chapter(profile: str, device: torch.device, cache: ResultsCache, *, seed: int = 0) -> None:
    """Run every stage of Chapter 1 in notebook order (fills the cache; the notebook then renders from it)."""
    sizes = configs.sizes_for(profile)
    convergence(sizes, device, cache, first=seed)
    tuning = tune(sizes, device, cache)
    factorial(sizes, device, cache, tuning, first=seed)
    catapult(sizes, device, cache, first=seed)
    alpha_sweep(sizes, device, cache, first=seed)
    gp_comparison(sizes, cache, first=seed)
    wide_resnet(sizes, device, cache, first=seed)


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
from lib.notebook import fill
from lib.records import grid
from lib.stats import Interval, describe, mean_interval, paired_difference, trend

__all__ = ["Convergence", "convergence", "Tuning", "tune", "Factorial", "factorial", "Controls", "controls",
           "Catapult", "catapult",
           "AlphaSweep", "alpha_sweep", "GPComparison", "gp_comparison", "WRN", "wide_resnet", "run_chapter",
           "convergence_summary", "factorial_summary", "factorial_table", "catapult_table", "catapult_summary",
           "alpha_summary",
           "gp_summary", "wrn_summary", "findings_summary", "equal_loss_table", "equal_loss_summary",
           "controls_summary", "catapult_controls_summary", "design_text", "convergence_text", "factorial_text",
           "equal_loss_text", "controls_text", "catapult_text", "alpha_text", "gp_text", "wrn_text", "findings_text"]

NAMES = {"standard": "standard", "ntk": "NTK", "mup": "μP", "gd": "GD", "sgd": "SGD", "adam": "Adam"}


def _words(interval: Interval, *, what: str = "", fmt: str = ".2f", unit: str = "", **words) -> str:
    """:func:`lib.stats.describe`, but with fewer than three repetitions a plain "not assessed" with the estimate."""
    if interval.n < 3:
        return (f"not assessed ({interval.estimate:{fmt}}{unit}; {interval.n} seeds are too few for a verdict in "
                "this profile)")
    return describe(interval, what=what, fmt=fmt, unit=unit, **words)


def _log_shape(arr: np.ndarray) -> np.ndarray:
    return np.log10(np.maximum(arr, analysis.LOG_FLOOR))


def _join(items: list) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``; ``"none"`` when empty."""
    items = list(items)
    if not items:
        return "none"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _vs_theory(interval: Interval | None, target: float, margin: float, what: str, *, fmt: str = ".2f") -> str:
    """A slope against a theory's value with an equivalence margin: "within ±margin of" when the whole interval lies
    inside ``target ± margin``; "steeper/shallower than" when it excludes ``target`` by more than that; otherwise "not
    distinguishable from …, but not shown to be within ±margin" (a non-rejection is not an agreement)."""
    if interval is None:
        return "not assessed (a run diverged)"
    if interval.n < 3:
        return _words(interval, null=target, larger="above", smaller="below", same="not distinguishable from",
                      what=what, fmt=fmt)
    detail = f"{interval.text(fmt)}, {interval.method}, n = {interval.n}"
    if target - margin <= interval.low and interval.high <= target + margin:
        return f"within ±{margin:g} of {what} ({detail})"
    if interval.high < target:
        return f"steeper than {what} ({detail})"
    if interval.low > target:
        return f"shallower than {what} ({detail})"
    return f"not distinguishable from {what}, but not shown to be within ±{margin:g} of it ({detail})"


def _seed_slopes(widths: list, runs: np.ndarray) -> np.ndarray:
    """Per seed (rows of ``runs [S, W]``), the OLS slope of ``log10 runs`` per decade of ``widths``."""
    x = np.log10(np.asarray(widths, dtype=float))
    y = _log_shape(runs)
    xc = x - x.mean()
    return (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)


def _local(widths: list, runs: np.ndarray, part: str = "wide") -> Interval | None:
    """The t-interval of the per-seed log-log slope over the three widest (``part="wide"``) or narrowest widths."""
    if not np.all(np.isfinite(runs)) or len(widths) < 3:
        return None
    cols = slice(-3, None) if part == "wide" else slice(0, 3)
    return mean_interval(_seed_slopes(list(widths)[cols], runs[:, cols]))


def _levels_off(widths: list, runs: np.ndarray) -> Interval | None:
    """Per seed, the local slope over the three widest widths minus that over the three narrowest (t-interval):
    above 0 means the curve flattens — a power law is the wrong model, the change may level off."""
    if not np.all(np.isfinite(runs)) or len(widths) < 4:
        return None
    w = list(widths)
    return mean_interval(_seed_slopes(w[-3:], runs[:, -3:]) - _seed_slopes(w[:3], runs[:, :3]))


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
        out[f"slope_{d}"] = _vs_theory(conv.slopes[d], -0.5, 0.1, "−1/2")
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
                  "active_fraction_initial", "target_step", "target_loss", "shape_at_target", "scale_at_target",
                  "kernel_accuracy_initial", "kernel_accuracy_final")


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
    target_trends: dict

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
                     analysis.width_trends(widths, slices, "scale"), diverged,
                     analysis.width_trends(widths, slices, "shape_at_target"))


@dataclass(frozen=True)
class Controls:
    """The control arms (:class:`configs.Control`) on the NTK network under GD at ``c =`` :data:`configs.CONTROL_RATE`,
    ``arms[control][key]`` ``[S, W]`` on the design's seeds and draws (each run pairs with its ReLU, centred twin in
    the design's slice ``("ntk", "gd", CONTROL_RATE)``)."""

    widths: list
    arms: dict
    rate: float


def controls(sizes: KernelRegimeSizes, device: torch.device, cache: ResultsCache, *, first: int = 0) -> Controls:
    """The GELU and uncentred arms of the factorial design."""
    ctl_configs = configs.control_configs(sizes, device, first=first)
    records = cache.sweep(runs.factorial_run, ctl_configs, desc="controls: GELU, uncentred")
    arms = {}
    for arm in configs.Control.values():
        pairs = [(c, r) for c, r in zip(ctl_configs, records, strict=True) if c["control"] == arm]
        cfg, rec = [c for c, _ in pairs], [r for _, r in pairs]
        arms[arm] = {key: grid(rec, cfg, ("seed", "width"), key) for key in FACTORIAL_KEYS}
        first_loss = {(c["seed"], c["width"]): r["losses"][0] for c, r in pairs}
        arms[arm]["initial_loss"] = np.array([[first_loss[(s, w)] for w in sizes.widths]
                                              for s in range(first, first + sizes.seeds)])
    return Controls(list(sizes.widths), arms, configs.CONTROL_RATE)


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
    return _words(interval, larger="grows with width", smaller="falls with width",
                  same="has no width trend established", adjusted_p=p, fmt=fmt)


def _lazier(entry: tuple | None) -> bool:
    return entry is not None and entry[0].n >= 3 and entry[0].high < 0 and entry[1] <= 0.05


def factorial_table(fac: Factorial) -> str:
    """Markdown table, one row per slice (cell and rate; the tuned rate marked): test accuracy, training loss,
    final η λ_max(Θ_T)/2N, active (unit, input) pairs, the scale and shape change at the narrowest and widest
    width (means over seeds) and the shape trend with its Holm-adjusted p-value."""
    lines = ["| cell, rate | test acc. | train loss | ηλ_T/2N | active pairs | scale log‖Θ_T‖/‖Θ₀‖ | shape 1 − CKA | "
             "shape: slope of log₁₀ per decade of width (Holm p) | local slope, 3 widest widths |",
             "|---|---|---|---|---|---|---|---|---|"]
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
                     f"{ends('scale', '+.2f')} | {ends('shape', '.1e')} | {slope} | "
                     f"{local.text('.2f') if (local := _local(fac.widths, arrays['shape'])) else '—'} |")
    return (f"Each entry is narrowest → widest width, mean over seeds. Slopes: least squares over all widths with a "
            f"95 % t-interval over the {len(fac.seeds)} seeds' slopes (unadjusted); p: Holm-adjusted across the "
            f"{len(fac.slices)} slices. The table is exploratory; the contrasts the text relies on are the paired ones "
            "(outside this Holm family). A curve that bends shows a local slope at the widest widths different from "
            "the overall one.\n\n" + "\n".join(lines)).replace("%", " %")


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
            out[f"lazier_{key}"] = _join(lazier)
            out[f"flat_{key}"] = _join(flat)
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
    interaction = {}
    for p in Parametrization.values():
        a, b = fac.slices[(p, "gd", high)]["shape"], fac.slices[(p, "gd", low)]["shape"]
        if np.all(np.isfinite(a)) and np.all(np.isfinite(b)):      # same seeds and data draws: paired per seed
            interaction[p] = mean_interval(_seed_slopes(fac.widths, a) - _seed_slopes(fac.widths, b))
    decided = [NAMES[p] for p, iv in interaction.items() if iv.n >= 3 and iv.low > 0]
    out["interaction"] = "; ".join(f"{NAMES[p]} {iv.text('+.2f')}" for p, iv in interaction.items())
    out["interaction_method"] = next(iter(interaction.values())).method if interaction else ""
    out["decides_words"] = (
        f"For the {_join(decided)} network{'s' if len(decided) > 1 else ''}, the width slope under GD is detectably "
        f"less steep at c = {high:g} than at c = {low:g} (paired over seeds): the step relative to the stability limit "
        "changes how fast the network gets lazier with width"
        if decided else f"No network's width slope differs detectably between c = {low:g} and c = {high:g}")
    mup = fac.slices[("mup", "gd", 1.0)]["shape"]
    wide, narrow, bend = _local(fac.widths, mup), _local(fac.widths, mup, "narrow"), _levels_off(fac.widths, mup)
    out["mup_local_wide"] = wide.text(".2f") if wide else "—"
    out["mup_local_narrow"] = narrow.text(".2f") if narrow else "—"
    out["mup_bend"] = bend.text("+.2f") if bend else "—"
    out["mup_shape_words"] = (
        "it falls far more slowly than the NTK network's and flattens toward the widest widths — consistent with "
        "a μP kernel change that levels off at a non-zero value, as the mean-field theory says, and not with a power "
        "law" if bend and bend.n >= 3 and bend.low > 0 else
        "it falls far more slowly than the NTK network's; whether it levels off is not established at these widths")
    bad = {p: (float(np.nanmean(fac.slices[(p, "gd", high)]["test_accuracy"][:, -1])),
               float(np.nanmean(fac.slices[(p, "gd", 1.0)]["test_accuracy"][:, -1])),
               float(np.nanmean(fac.slices[(p, "gd", high)]["active_fraction"][:, -1])))
           for p in ("standard", "ntk")}
    out["high_words"] = (
        f"At c = {high:g} the standard and NTK networks train badly: at width {fac.widths[-1]} their test accuracy is "
        f"{bad['standard'][0]:.1%} and {bad['ntk'][0]:.1%} (against {bad['standard'][1]:.1%} and "
        f"{bad['ntk'][1]:.1%} at c = 1), "
        f"with {bad['standard'][2]:.0%} and {bad['ntk'][2]:.0%} of (unit, input) pairs active, so \"not "
        "lazier\" there compares damaged networks, not feature-learning ones")
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


def _gain(arrays: dict, a: str, b: str, *, column: int = -1) -> Interval:
    """Paired over seeds, ``arrays[a] − arrays[b]`` at one width (default the widest), in percentage points."""
    return _percent(paired_difference(arrays[a][:, column], arrays[b][:, column]))


def _control_slices(fac: Factorial) -> list:
    """The slices the equal-loss table shows: GD and SGD at c = 1 and Adam at its tuned rate, per parametrization."""
    return [(p, o, 1.0 if o != Optimizer.ADAM.value else fac.picks[(p, o)])
            for p in Parametrization.values() for o in Optimizer.values()]


def equal_loss_table(fac: Factorial) -> str:
    """Markdown table of the equal-loss control and the after-kernel test, one row per slice of
    :func:`_control_slices`: the step at which the training loss first reached the common target, the shape change
    there, its width slope (Holm-adjusted across all slices), the slope at the end of training, and, at the widest
    width, the test accuracy of kernel regression with the final minus the initial kernel and of the trained
    network minus the initial kernel's regression (percentage points, paired over seeds)."""
    lines = [f"| slice | step at loss {configs.TARGET_LOSS:g} | shape at loss {configs.TARGET_LOSS:g} | slope there "
             "(Holm p) | slope at the end | Θ_T − Θ₀ regression, widest | network − Θ₀ regression, widest |",
             "|---|---|---|---|---|---|---|"]
    for key in _control_slices(fac):
        arrays = fac.slices[key]
        steps, shape = np.nanmean(arrays["target_step"], axis=0), np.nanmean(arrays["shape_at_target"], axis=0)
        entry, end = fac.target_trends.get(key), fac.shape_trends.get(key)
        reached = int(np.isfinite(arrays["target_step"]).sum())
        there = (f"{entry[0].text('.2f')} ({_p_text(entry[1])})" if entry else
                 f"— ({reached}/{arrays['target_step'].size} runs reached it)")
        lines.append(f"| {_slice_name(*key)} | {steps[0]:.0f} → {steps[-1]:.0f} | {shape[0]:.1e} → {shape[-1]:.1e} | "
                     f"{there} | {end[0].text('.2f') if end else '—'} | "
                     f"{_gain(arrays, 'kernel_accuracy_final', 'kernel_accuracy_initial').text('+.1f')} | "
                     f"{_gain(arrays, 'test_accuracy', 'kernel_accuracy_initial').text('+.1f')} |")
    return ("Narrowest → widest width, means over seeds; intervals: paired t over seeds.\n\n"
            + "\n".join(lines))


def equal_loss_summary(fac: Factorial) -> dict:
    """Numbers of the equal-loss control and the after-kernel test (Experiment 2)."""
    reached = np.concatenate([v["target_loss"][np.isfinite(v["target_loss"])] for v in fac.slices.values()])
    out: dict = dict(target=configs.TARGET_LOSS, every=configs.TARGET_EVERY,
                     reached_min=float(reached.min()) if reached.size else float("nan"),
                     reached_max=float(reached.max()) if reached.size else float("nan"))
    for p in Parametrization.values():
        for o in (Optimizer.GD.value, Optimizer.SGD.value):
            out[f"target_{p}_{o}"] = _trend_words(fac.target_trends.get((p, o, 1.0)))
    missing = [_slice_name(*k) for k, v in fac.slices.items() if not np.all(np.isfinite(v["target_step"]))]
    out["missing"] = (f"runs that never reached it (left out of the equal-loss trends): {', '.join(missing)}"
                      if missing else "every run reached it")
    for o in (Optimizer.GD.value, Optimizer.SGD.value):
        diff = (_log_shape(fac.slices[("mup", o, 1.0)]["shape_at_target"])
                - _log_shape(fac.slices[("ntk", o, 1.0)]["shape_at_target"]))
        out[f"target_mup_minus_ntk_{o}"] = (
            _words(trend(fac.widths, diff), larger="less steep than", smaller="steeper than",
                   same="not distinguishable from", what="the NTK network's") if np.all(np.isfinite(diff)) else
            "not assessed (a run never reached the target loss)")
    agree, differ = [], []
    for p in Parametrization.values():
        for o in (Optimizer.GD.value, Optimizer.SGD.value):
            key = (p, o, 1.0)
            same = _lazier(fac.shape_trends.get(key)) == _lazier(fac.target_trends.get(key))
            (agree if same else differ).append(_cell(p, o))
    out["agreement"] = (
        "every verdict \"lazier with width or not\" at c = 1 is the same at equal loss as at the end of training: "
        "they are not an artefact of wide networks having trained further in the same number of steps"
        if not differ else
        f"the verdict \"lazier with width or not\" at c = 1 changes at equal loss for {', '.join(differ)} "
        f"(unchanged for {', '.join(agree) or 'none'}): there, the end-of-training verdict depends on how far "
        "training went")
    diff = (_log_shape(fac.slices[("mup", "gd", 1.0)]["shape_at_target"])
            - _log_shape(fac.slices[("ntk", "gd", 1.0)]["shape_at_target"]))
    slower = bool(np.all(np.isfinite(diff)) and (iv := trend(fac.widths, diff)).n >= 3 and iv.low > 0)
    by_rate = {_lazier(fac.shape_trends.get(("mup", "gd", c))) for c in fac.fixed_rates}
    fragile = len(by_rate) > 1 or any(NAMES["mup"] in d for d in differ)
    out["mup_words"] = (
        ("So μP gets lazier with width far more slowly than the NTK network" if slower else
         "So μP's width trend is not distinguished from the NTK network's at equal loss")
        + (", and whether it gets lazier at all depends on $c$ and on when the kernel is measured" if fragile else ""))
    gains = {k: _gain(fac.slices[k], "kernel_accuracy_final", "kernel_accuracy_initial") for k in fac.slices}
    nets = {k: _gain(fac.slices[k], "test_accuracy", "kernel_accuracy_initial") for k in fac.slices}
    finite = {k: g for k, g in gains.items() if np.isfinite(g.estimate)}
    best = max(finite, key=lambda k: finite[k].estimate)
    worst = min(finite, key=lambda k: finite[k].estimate)
    out.update(best_gain_slice=_slice_name(*best), best_gain=finite[best].estimate,
               worst_gain_slice=_slice_name(*worst), worst_gain=finite[worst].estimate,
               kernel_acc_initial=float(np.nanmean([np.nanmean(v["kernel_accuracy_initial"][:, -1])
                                                    for v in fac.slices.values()])))
    margin = 1.0
    for p in Parametrization.values():
        key = (p, "gd", 1.0)
        g = gains[key]
        out[f"gain_{p}"] = (f"within ±{margin:g} pt of the initial kernel's ({g.text('+.1f', ' pt')}, paired t, "
                            f"n = {g.n})" if g.n >= 3 and -margin <= g.low and g.high <= margin else
                            _words(g, larger="higher than", smaller="lower than", same="not distinguishable from",
                                   what="the initial kernel's", fmt="+.1f", unit=" pt"))
        out[f"net_{p}"] = _words(nets[key], larger="higher than", smaller="lower than",
                                 same="not distinguishable from", what="the initial kernel's", fmt="+.1f", unit=" pt")
    improved = [_slice_name(*k) for k, g in finite.items() if g.n >= 3 and g.low > 0]
    out["improved"] = ", ".join(improved) if improved else "none"
    equivalent = [k for k, g in finite.items() if g.n >= 3 and -margin <= g.low and g.high <= margin]
    out.update(margin=margin, n_equivalent=len(equivalent), n_slices=len(finite))
    return out


def controls_summary(ctl: Controls, fac: Factorial) -> dict:
    """Numbers of the control arms: the GELU network's width slope against the smooth-activation theory's −2 and
    against its ReLU twin, and the uncentred network's slope, accuracy and loss against its centred twin."""
    relu = fac.slices[("ntk", "gd", ctl.rate)]
    gelu, unc = ctl.arms["gelu"], ctl.arms["uncentred"]
    out: dict = dict(rate=ctl.rate, width_narrow=ctl.widths[0], width_wide=ctl.widths[-1])
    for name, arrays in (("gelu", gelu), ("relu", relu), ("unc", unc)):
        ok = np.all(np.isfinite(arrays["shape"]))
        tr = trend(ctl.widths, _log_shape(arrays["shape"])) if ok else None
        out[f"{name}_slope"] = _vs_theory(tr, -2.0, 0.25, "the smooth-activation theory's −2")
        local = _local(ctl.widths, arrays["shape"])
        out[f"{name}_local"] = local.text(".2f") if local else "—"
        out[f"{name}_trend"] = _trend_words((tr, tr.p_value) if tr else None)
        out[f"{name}_estimate"] = tr.estimate if tr else float("nan")
        out[f"{name}_acc_narrow"], out[f"{name}_acc_wide"] = (float(v) for v in np.nanmean(arrays["test_accuracy"],
                                                                                            axis=0)[[0, -1]])
        out[f"{name}_loss_narrow"], out[f"{name}_loss_wide"] = (float(v) for v in np.nanmean(arrays["train_loss"],
                                                                                              axis=0)[[0, -1]])
        out[f"{name}_shape_wide"] = float(np.nanmean(arrays["shape"][:, -1]))
    diff = _log_shape(gelu["shape"]) - _log_shape(relu["shape"])
    gelu_vs_relu = trend(ctl.widths, diff)
    out["gelu_minus_relu"] = _words(gelu_vs_relu, larger="less steep than", smaller="steeper than",
                                    same="not distinguishable from", what="the ReLU network's")
    unc_vs_centred = trend(ctl.widths, _log_shape(unc["shape"]) - _log_shape(relu["shape"]))
    std = fac.shape_trends.get(("standard", "gd", ctl.rate))
    parts = []
    if gelu_vs_relu.n >= 3 and gelu_vs_relu.high < 0:
        parts.append(f"with centred NTK networks, GELU's width slope ({out['gelu_estimate']:.2f}) is steeper than "
                     f"ReLU's ({out['relu_estimate']:.2f})")
    elif gelu_vs_relu.n >= 3 and gelu_vs_relu.low > 0:
        parts.append(f"with centred NTK networks, GELU's width slope ({out['gelu_estimate']:.2f}) is less steep than "
                     f"ReLU's ({out['relu_estimate']:.2f})")
    else:
        parts.append("with centred NTK networks, GELU's and ReLU's width slopes are not distinguished")
    if unc_vs_centred.n >= 3 and (unc_vs_centred.high < 0 or unc_vs_centred.low > 0):
        parts.append(f"but the *uncentred* ReLU network's slope is {out['unc_estimate']:.2f}, so centring changes the "
                     "exponent too")
    if std is not None:
        parts.append(f"and the standard-parametrization ReLU network's is {std[0].estimate:.2f} (table above)")
    out["exponent_words"] = (", ".join(parts) + ": the deviation from the smooth theory's −2 is not a property of the "
                             "activation alone. A GELU-uncentred arm, which would make activation × centring a 2 × 2 "
                             "design, is not run")
    diff = _log_shape(unc["shape"]) - _log_shape(relu["shape"])
    out["unc_minus_centred"] = (_words(trend(ctl.widths, diff), larger="less steep than", smaller="steeper than",
                                       same="not distinguishable from", what="the centred network's")
                                if np.all(np.isfinite(diff)) else "not assessed (a run diverged)")
    gap = _gain({"a": unc["test_accuracy"], "b": relu["test_accuracy"]}, "a", "b")
    out["unc_acc_gap"] = _words(gap, larger="higher than", smaller="lower than", same="not distinguishable from",
                                what="the centred network's", fmt="+.1f", unit=" pt")
    f0 = float(np.nanmean(unc["initial_loss"]))
    out.update(unc_initial_loss=f0, centred_initial_loss=0.45)     # centred: ½ ‖e_c − 1/10‖² = 0.45 on every image
    out["unc_cost_words"] = ("this is the random initial function, which training does not remove: in the kernel "
                             "regime the term $f_0(x)-\\Theta(x,X)\\Theta(X,X)^{-1}f_0(X)$ on a test input does not "
                             "decay with training time (it is the NTK-GP's spread, {eq}`eq-ch1-ntk-gp`), so more "
                             "steps would not close the gap; its size is set by the scale of $f_0$ against the "
                             "targets"
                             if gap.n >= 3 and gap.high < 0 else
                             "here the uncentred network generalizes better" if gap.n >= 3 and gap.low > 0 else
                             "no difference in accuracy is established")
    return out


# ------------------------------------------------------------------------------ 3. lazy -> catapult -> divergence


@dataclass(frozen=True)
class Catapult:
    """Catapult records ``records[c]`` (one per seed) for each rate ``c`` (units of 2N/λ_max(Θ̂₀))."""

    rates: list
    records: dict
    seeds: list
    gelu: dict
    uncentred: dict


def _arm(config: dict) -> str:
    """Which arm of the catapult sweep a config belongs to: ``"relu"`` (centred), ``"gelu"`` or ``"uncentred"``."""
    if not config.get("centred", True):
        return "uncentred"
    return config.get("activation", "relu")


def catapult(sizes: KernelRegimeSizes, device: torch.device, cache: ResultsCache, *, first: int = 0) -> Catapult:
    """Full-batch GD on the NTK-parametrized net over rates, tracking λ_max(Θ_t)."""
    cat_configs = configs.catapult_configs(sizes, device, first=first)
    records = cache.sweep(runs.catapult_run, cat_configs, desc="catapult sweep")
    by_arm: dict[str, dict[float, list]] = {"relu": {}, "gelu": {}, "uncentred": {}}
    for c, r in zip(cat_configs, records, strict=True):
        by_arm[_arm(c)].setdefault(c["rate"], []).append(r)
    return Catapult(list(sizes.catapult_rates), by_arm["relu"], list(range(first, first + sizes.catapult_seeds)),
                    by_arm["gelu"], by_arm["uncentred"])


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
            "in these bias-free networks the large-step end point generalizes worse" if gap.high < 0 else
            "the large-step end point generalizes better" if gap.low > 0 else
            "no difference in test accuracy is detected")
        out["acc_change"] = _words(_percent(gap), larger="higher than", smaller="lower than",
                                   same="not distinguishable from", what="the lazy run's", fmt=".1f", unit=" pt")
        out["weights_words"] = (
            f"the hidden and readout weight norms grew (by factors {out['hidden_growth']:.2f} and "
            f"{out['readout_growth']:.2f}), whereas in the uv model they shrink: this is not the uv model's mechanism"
            if out["hidden_growth"] > 1 or out["readout_growth"] > 1 else
            f"the hidden and readout weight norms shrank (by factors {out['hidden_growth']:.2f} and "
            f"{out['readout_growth']:.2f}), as in the uv model")
        # where accuracy starts to fall, and what the units do there
        lazy = [r["test_accuracy"] for r in cat.records[below[0]]]
        drops = [c for c in sorted(above)
                 if (g := paired_difference([r["test_accuracy"] for r in cat.records[c]], lazy)).n >= 3 and g.high < 0]
        if drops:
            c0 = drops[0]
            dead0, active0 = mean(c0, "dead_fraction"), mean(c0, "active_fraction")
            out["drop_words"] = (
                f"test accuracy is already detectably lower than the lazy run's at c = {c0:g} "
                f"({mean(c0, 'test_accuracy'):.1%}), where {dead0:.1%} of the units are dead and {active0:.0%} of the "
                "pairs active" + (": the fall begins before units die" if dead0 <= 0.01 else ""))
        else:
            out["drop_words"] = "no trained rate above the limit is detectably less accurate than the lazy run"
        rates_above = sorted(above)
        lam = np.array([mean(c, "lambda_ratio") for c in rates_above])
        act = np.array([mean(c, "active_fraction") for c in rates_above])
        if len(rates_above) >= 3:
            rho = float(np.corrcoef(np.argsort(np.argsort(lam)), np.argsort(np.argsort(act)))[0, 1])
            out["comove_words"] = (f"across the {len(rates_above)} trained rates above the limit, λ_T/λ₀ and the "
                                   f"fraction of active pairs have a rank correlation of {rho:.2f}")
        else:
            out["comove_words"] = "too few trained rates above the limit to relate λ_T/λ₀ to the active pairs"
        converged = [c for c in stable
                     if all(r["train_loss"] <= 0.1 * r["losses"][0] for r in cat.records[c])]
        out["converged_words"] = (
            f"defined instead by convergence (final training loss below a tenth of the initial on every seed), it ends "
            f"at c = {max(converged):g} (test accuracy {mean(max(converged), 'test_accuracy'):.1%})"
            if converged else "no rate converges to a tenth of its initial loss")
        out["disagree_words"] = (
            "This disagrees with Lewkowycz et al., who find that rates in the catapult phase often generalize best. "
            "Our setting departs from theirs — centred networks, no biases, one hidden layer, 128 MNIST images, 300 "
            "full-batch steps at a constant rate, squared loss on ten outputs — and which departure matters is not "
            "tested here (the uncentred arm below is one step toward it)"
            if gap.n >= 3 and gap.high < 0 else
            "Lewkowycz et al. find that rates in the catapult phase often generalize best; here that is not "
            "contradicted")
    return out


def catapult_table(cat: Catapult) -> str:
    """Markdown table, one row per arm (centred ReLU, GELU, uncentred ReLU) and rate: how many seeds trained, and
    (means over the trained seeds) test accuracy, final training loss, active (unit, input) pairs, units dead on every
    training input, λ_max(Θ_T)/λ_max(Θ₀), η λ_max(Θ_T)/2N and the loss peak relative to the initial loss."""
    lines = ["| network | c | trained seeds | test acc. | train loss | active pairs | dead units | λ_T/λ₀ | ηλ_T/2N | "
             "peak loss / initial |", "|---|---:|---|---|---|---|---|---|---|---|"]
    for name, arm in (("ReLU", cat.records), ("GELU", cat.gelu), ("ReLU, uncentred", cat.uncentred)):
        for c in sorted(arm):
            recs = arm[c]
            ok = [r for r in recs if not r["diverged"]]

            def m(key: str, fmt: str, ok=ok) -> str:
                return f"{np.mean([r[key] for r in ok]):{fmt}}" if ok else "—"

            status = f"{len(ok)}/{len(recs)}" + (" (collapsed)" if any(r["collapsed"] for r in ok) else "")
            lines.append(f"| {name} | {c:g} | {status} | {m('test_accuracy', '.1%')} | {m('train_loss', '.3f')} | "
                         f"{m('active_fraction', '.0%')} | {m('dead_fraction', '.0%')} | {m('lambda_ratio', '.2f')} | "
                         f"{m('edge', '.2f')} | {m('peak_loss_ratio', '.3g')} |")
    return ("Means over the seeds that did not diverge. \"Active\" means a positive pre-activation (for GELU a unit is "
            "never exactly off).\n\n" + "\n".join(lines)).replace("%", " %")


def catapult_controls_summary(cat: Catapult) -> dict:
    """Numbers of the catapult sweep's controls: for the GELU network at each of its rates the phase, the fall of
    λ_max, the loss spike, the weight norms and the test accuracy (against its own lazy rate, paired over seeds); the
    uncentred ReLU network against the centred one at the same rate; and the after-kernel test at the large rate."""

    def mean(records: list, key: str) -> float:
        return float(np.mean([r[key] for r in records]))

    out: dict = {}
    gelu = cat.gelu
    rates = sorted(gelu)
    trained = [c for c in rates if _phase(gelu[c]) == "trained"]
    above = [c for c in trained if c > 1]
    below = [c for c in trained if c < 1]
    out["gelu_phases"] = "; ".join(
        f"c = {c:g}: {_phase(gelu[c])}" + (f", λ_T/λ₀ = {mean(gelu[c], 'lambda_ratio'):.2f}, peak loss "
                                          f"{mean(gelu[c], 'peak_loss_ratio'):.3g}× the initial, test accuracy "
                                          f"{mean(gelu[c], 'test_accuracy'):.1%}"
                                          if _phase(gelu[c]) == "trained" else "")
        for c in rates)
    nan = float("nan")
    out.update(gelu_c=nan, gelu_lam=nan, gelu_hidden=nan, gelu_readout=nan, gelu_acc_change="not assessed",
               gelu_kernel_final=nan, gelu_kernel_initial=nan, gelu_fort=nan, gelu_shape=nan)
    if above and below:
        hi, lo = max(above), below[0]
        out.update(gelu_c=hi, gelu_c_low=lo, gelu_lam=mean(gelu[hi], "lambda_ratio"),
                   gelu_hidden=mean(gelu[hi], "hidden_norm") / mean(gelu[hi], "hidden_norm_initial"),
                   gelu_readout=mean(gelu[hi], "readout_norm") / mean(gelu[hi], "readout_norm_initial"),
                   gelu_shape=mean(gelu[hi], "shape"), gelu_fort=mean(gelu[hi], "fort"),
                   gelu_kernel_final=mean(gelu[hi], "kernel_accuracy_final"),
                   gelu_kernel_initial=mean(gelu[hi], "kernel_accuracy_initial"),
                   gelu_acc_high=mean(gelu[hi], "test_accuracy"), gelu_acc_low=mean(gelu[lo], "test_accuracy"))
        gap = _percent(paired_difference([r["test_accuracy"] for r in gelu[hi]],
                                         [r["test_accuracy"] for r in gelu[lo]]))
        out["gelu_acc_change"] = _words(gap, larger="higher than", smaller="lower than",
                                        same="not distinguishable from", what="its lazy run's", fmt=".1f", unit=" pt")
        shrank = out["gelu_hidden"] < 1 and out["gelu_readout"] < 1
        out.update(gelu_active_high=mean(gelu[hi], "active_fraction"),
                   gelu_active_initial=mean(gelu[hi], "active_fraction_initial"))
        soft_off = out["gelu_active_high"] < 0.7 * out["gelu_active_initial"]
        out["gelu_words"] = (
            ("So $\\lambda_{\\max}$ falls with a smooth activation too"
             + (", with the weight norms shrinking as in the uv model" if shrank else
                ", though the weight norms did not both shrink as in the uv model")
             + ("; but most pre-activations turned negative, where GELU is nearly flat, so the smooth network's "
                "kernel shrinks by the same route as ReLU's — units switching (softly) off — and this control does "
                "not isolate a uv-type catapult" if soft_off else
                "; most pre-activations kept their sign, so this is not units switching off")
             if out["gelu_lam"] < 0.9 else
             "So with a smooth activation $\\lambda_{\\max}$ does not fall much here")
            + ("; in this small problem it generalizes worse than the lazy run" if gap.n >= 3 and gap.high < 0 else
               "; in this small problem it generalizes better than the lazy run" if gap.n >= 3 and gap.low > 0 else
               "; no difference in test accuracy against the lazy run is established"))
    out["unc_words"] = "not run in this profile"
    for c in sorted(cat.uncentred):
        unc = cat.uncentred[c]
        if _phase(unc) != "trained" or c not in cat.records or _phase(cat.records[c]) != "trained":
            out["unc_words"] = f"at c = {c:g} the uncentred network {_phase(unc)} on some seed"
            continue
        cen = cat.records[c]
        gap = _percent(paired_difference([r["test_accuracy"] for r in unc], [r["test_accuracy"] for r in cen]))
        out["unc_words"] = (
            f"at c = {c:g} its λ_max fell to {mean(unc, 'lambda_ratio'):.2f} of its initial value (centred: "
            f"{mean(cen, 'lambda_ratio'):.2f}), the loss peaked at {mean(unc, 'peak_loss_ratio'):.3g}× its initial "
            f"value (centred: {mean(cen, 'peak_loss_ratio'):.3g}×), {mean(unc, 'dead_fraction'):.0%} of the units "
            f"ended dead (centred: {mean(cen, 'dead_fraction'):.0%}), and its test accuracy "
            f"{mean(unc, 'test_accuracy'):.1%} is "
            + _words(gap, larger="higher than", smaller="lower than", same="not distinguishable from",
                     what="the centred network's", fmt=".1f", unit=" pt"))
    window = [c for c in cat.rates if _phase(cat.records[c]) == "trained" and c > 1]
    if window:
        hi = max(window)
        edges = [r["edge"] for c in window for r in cat.records[c]]
        out.update(edge_min=float(min(edges)), edge_max=float(max(edges)),
                   eos_words=("all of them near 1, at the edge of stability where Cohen et al. "
                               "{cite}`cohen2021gradient` find full-batch GD settles" if min(edges) >= 0.8 else
                               "some well inside the stable region: after the catapult these short runs do not "
                               "return to the edge of stability that Cohen et al. {cite}`cohen2021gradient` describe "
                               "for long full-batch training"))
        failed = [c for c in cat.rates if _phase(cat.records[c]) != "trained" and c > hi]
        out["window_words"] = (f"our window ends between c = {hi:g} (trained) and c = {min(failed):g} (failed)"
                               if failed else f"our grid ends at c = {hi:g} without reaching the window's end")
        out.update(relu_kernel_final=mean(cat.records[hi], "kernel_accuracy_final"),
                   relu_kernel_initial=mean(cat.records[hi], "kernel_accuracy_initial"),
                   relu_c=hi, relu_acc=mean(cat.records[hi], "test_accuracy"))
        out["function_words"] = (
            "the large-step network's *function* is worse than kernel regression with its own final kernel — the "
            "loss spike leaves a residual in the function that the kernel does not carry"
            if out["relu_kernel_final"] - out["relu_acc"] > 0.05 else
            "the large-step network predicts about as well as kernel regression with its own final kernel")
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
    gelu_alphas: list
    gelu: dict
    gelu_trend: Interval | None


def alpha_sweep(sizes: KernelRegimeSizes, device: torch.device, cache: ResultsCache, *, first: int = 0
                ) -> AlphaSweep:
    """The centred NTK-parametrized net at fixed width with output scale α, GD at half the stability limit."""
    a_configs = configs.alpha_configs(sizes, device, first=first)
    all_records = cache.sweep(runs.alpha_run, a_configs, desc="output scale α")
    keys = ("train_loss", "test_accuracy", "shape", "scale", "parameters", "relative", "fort",
            "kernel_accuracy_initial", "kernel_accuracy_final")
    split = {act: ([c for c in a_configs if c.get("activation", "relu") == act],
                   [r for c, r in zip(a_configs, all_records, strict=True) if c.get("activation", "relu") == act])
             for act in ("relu", "gelu")}
    a_configs, records = split["relu"]
    arrays = {k: grid(records, a_configs, ("alpha", "seed"), k) for k in keys}
    g_configs, g_records = split["gelu"]
    gelu = {k: grid(g_records, g_configs, ("alpha", "seed"), k) for k in keys} if g_configs else {}
    g_alphas = np.asarray(sizes.alpha_gelu, dtype=float)
    gelu_trend = (trend(g_alphas, np.log10(np.maximum(gelu["shape"], analysis.LOG_FLOOR)).T)
                  if gelu and np.all(np.isfinite(gelu["shape"])) and len(g_alphas) >= 2 else None)
    alphas = np.asarray(sizes.alphas, dtype=float)
    ok = np.all(np.isfinite(arrays["shape"]), axis=1)          # α values where no seed diverged
    shape_trend = (trend(alphas[ok], np.log10(np.maximum(arrays["shape"][ok], analysis.LOG_FLOOR)).T)
                   if ok.sum() >= 2 else None)
    acc = arrays["test_accuracy"]
    gap = paired_difference(acc[0], acc[-1])
    return AlphaSweep(alphas.tolist(), arrays, shape_trend, gap, list(range(first, first + sizes.alpha_seeds)),
                      g_alphas.tolist(), gelu, gelu_trend)


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
                               unit=" pt"),
                relu_vs_theory=_vs_theory(al.shape_trend, -2.0, 0.25, "−2"),
                gelu_slope=_vs_theory(al.gelu_trend, -2.0, 0.25, "the smooth-activation theory's −2"),
                kernel_gain_small=_words(_percent(paired_difference(al.arrays["kernel_accuracy_final"][0],
                                                                    al.arrays["kernel_accuracy_initial"][0])),
                                         larger="higher than", smaller="lower than", same="not distinguishable from",
                                         what="the initial kernel's", fmt="+.1f", unit=" pt"),
                kernel_final_small=float(m["kernel_accuracy_final"][0]),
                features_words=_features_words(al),
                kernel_initial_small=float(m["kernel_accuracy_initial"][0]),
                fort_small=float(m["fort"][0]),
                pure_scale_small=float(np.exp(m["scale"][0]) * (1 - m["fort"][0])))


def _features_words(al: AlphaSweep) -> str:
    gap = paired_difference(al.arrays["kernel_accuracy_final"][0], al.arrays["kernel_accuracy_initial"][0])
    if gap.n >= 3 and gap.low > 0:
        return "its final kernel also predicts better than the initial one: the change is feature learning that matters"
    if gap.n >= 3 and gap.high < 0:
        return "its final kernel predicts worse than the initial one"
    return ("at this width and training length no better-predicting kernel is established: the change is not shown to "
            "be useful feature learning")


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
                train=len(gp.records[0]["x_train"]), calibration_words=_calibration_words(s, gp.widths),
                **_gp_split(gp))


def _gp_split(gp: GPComparison) -> dict:
    """The linearization split and the bootstrap intervals of the widest width's calibration statistics."""
    s = gp.stats
    out: dict = {}
    if "net_vs_linear" in s:
        out.update(nonlin_narrow=float(s["net_vs_linear"][0].mean()), nonlin_wide=float(s["net_vs_linear"][-1].mean()),
                   kernel_narrow=float(s["linear_vs_gp"][0].mean()), kernel_wide=float(s["linear_vs_gp"][-1].mean()),
                   nonlin_slope=_vs_theory(trend(gp.widths, np.log10(s["net_vs_linear"]).T), -0.5, 0.1,
                                           "Lee et al.'s −1/2"),
                   kernel_slope=_vs_theory(trend(gp.widths, np.log10(s["linear_vs_gp"]).T), -0.5, 0.1,
                                           "the −1/2 of kernel fluctuations"))
    out.update(offset_wide=float(s["mean_offset"][-1]), spread_wide=float(s["spread"][-1]))
    intervals = analysis.calibration_intervals(gp.records[-1])
    out.update(z2_interval=intervals["z2"].text(".2f"),
               cover_interval=_percent(intervals["coverage"]).text(".0f", " %"),
               var_interval=intervals["variance_ratio"].text(".2f"), interval_method=intervals["z2"].method,
               var_words=("the interval excludes 1: the ensemble is too narrow"
                          if intervals["variance_ratio"].high < 1 else
                          "the interval excludes 1: the ensemble is too wide" if intervals["variance_ratio"].low > 1
                          else "the interval includes 1"))
    return out


def _calibration_words(s: dict, widths: list) -> str:
    """Whether the widest ensemble is close to the NTK-GP (mean z² within 1 ± 0.5 and coverage ≥ 90 %)."""
    z2, cover = float(s["z2"][-1].mean()), float(s["coverage"][-1].mean())
    if abs(z2 - 1) <= 0.5 and cover >= 0.9:
        return (f"at width {widths[-1]} the ensemble is close to calibrated against the NTK-GP: a wide network's "
                "predictions are, to this accuracy, a draw from it")
    trend_words = "falls" if s["z2"][-1].mean() < s["z2"][0].mean() else "does not fall"
    z_off, z_spread = float(s["z2_offset"][-1]), float(s["z2_spread"][-1])
    faults = (["offset in its mean"] if z_off > 0.2 else []) + (
        ["too narrow"] if z_spread < 0.8 else ["too wide"] if z_spread > 1.2 else [])
    cause = (f"of the mean z², {z_off:.2f} comes from the ensemble mean's offset from the NTK-GP mean and "
             f"{z_spread:.2f} from the ensemble's spread (1 if calibrated), so the predictive distribution is "
             + (" and ".join(faults) if faults else "close in both parts, the excess coming from their sum"))
    return (f"the mean z² {trend_words} with width, but even at width {widths[-1]} the networks are not NTK-GP draws "
            f"(mean z² {z2:.2f} rather than 1, {cover:.0%} of points inside ±2σ rather than 95 %): {cause}")


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
                baseline=", ".join(f"{b['shape']:.2f}" for b in wrn.record.get("baseline", [])) or "not measured",
                early_words=("most of the shape change happens early, as Fort et al. {cite}`fort2020deep` found"
                             if end["shape"] > 0 and early["shape"] / end["shape"] >= 0.5 else
                             "most of the shape change comes after these first steps"),
                floor_words=_floor_words(end["shape"], [b["shape"] for b in wrn.record.get("baseline", [])]),
                shape_words=(f"it changes the *shape* of its kernel (1 − CKA = {end['shape']:.2f}), not only its "
                             "size: it is not in the kernel regime" if end["shape"] > 0.05 else
                             f"its kernel's shape changes little (1 − CKA = {end['shape']:.3f})"))


def _floor_words(shape: float, baseline: list) -> str:
    if not baseline:
        return "not measured in this profile"
    if shape > 3 * max(baseline):
        return "so the trained change is far above initialization noise"
    return "so the trained change is not clearly above initialization noise"


def findings_summary(conv: Convergence, fac: Factorial, ctl: Controls, cat: Catapult, al: AlphaSweep,
                     gp: GPComparison, wrn: WRN, sizes: KernelRegimeSizes) -> dict:
    """Everything the findings cite, prefixed by experiment (``conv_``, ``fac_``, ``eq_``, ``ctl_``, ``cat_``,
    ``catc_``, ``alpha_``, ``gp_``, ``wrn_``)."""
    parts = {"conv": convergence_summary(conv), "fac": factorial_summary(fac), "eq": equal_loss_summary(fac),
             "ctl": controls_summary(ctl, fac), "cat": catapult_summary(cat), "catc": catapult_controls_summary(cat),
             "alpha": alpha_summary(al), "gp": gp_summary(gp), "wrn": wrn_summary(wrn, sizes)}
    return {f"{prefix}_{k}": v for prefix, part in parts.items() for k, v in part.items()}


def findings_text(conv: Convergence, fac: Factorial, ctl: Controls, cat: Catapult, al: AlphaSweep,
                  gp: GPComparison, wrn: WRN, sizes: KernelRegimeSizes) -> str:
    """The chapter's findings (every number from :func:`findings_summary`)."""
    return fill(r'''
- **At initialization** the empirical NTK of an MLP approaches the analytic kernel as width grows (slope of the
  log-distance per decade of width {conv_slope_first} for one hidden layer).
- **What decides laziness.** {fac_decides_words}; under GD the networks that get lazier with width are
  {fac_lazier_gd_0_5} at $c$ = 0.5, {fac_lazier_gd_1_0} at $c$ = 1 and {fac_lazier_gd_2_0} at $c$ = 2.
  The standard network gets lazier *faster* than the NTK network at $c$ = 1 ({fac_slope_standard_minus_ntk_gd}),
  consistent with (not shown to be caused by) the crossover of its input layer; under the stability-scaled rule,
  "only the NTK-parametrized net becomes lazier" is not supported. At equal
  training loss ({eq_target:g}) the μP network's shape change under GD {eq_target_mup_gd}; paired, its slope is
  {eq_target_mup_minus_ntk_gd}. {eq_mup_words}.
- **Exponents.** Against the smooth theory's −2: GELU {ctl_gelu_slope}; ReLU {ctl_relu_slope}; uncentred ReLU
  {ctl_unc_slope}. So {ctl_exponent_words}.
- **Does the change matter?** Kernel regression with the final kernel against the initial one, at the widest width
  and $c$ = 1 under GD: μP {eq_gain_mup}, NTK {eq_gain_ntk}; detectably better in: {eq_improved}.
- **Kernel change is two things, scale and shape,** and 1 − CKA is blind to changes along the constant mode; the
  tables report both, and the catapult runs show why the uncentred measure is needed too.
- **Large steps move the kernel.** Above the stability limit the loss spikes and $\lambda_{{\max}}$ falls until the
  step is stable again (to {cat_lam_ratio_above:.2f} of its initial value); in the bias-free ReLU nets this goes
  with units switching off ({cat_dead_high:.0%} dead at $c$ = {cat_c_max:g}) and a test accuracy {cat_acc_change}
  ({cat_drop_words});
  with GELU (units cannot die) $\lambda_{{\max}}$ falls to {catc_gelu_lam:.2f} at $c$ = {catc_gelu_c:g} and the test
  accuracy is {catc_gelu_acc_change}. Beyond the window: {cat_failure_words}.
- **The output scale α alone** makes a network of fixed width lazier (shape change {alpha_shape_small:.1e} at
  α = {alpha_alpha_min:g}, {alpha_shape_large:.1e} at α = {alpha_alpha_max:g}); {alpha_features_words}.
- **Against the NTK-GP** (1-D problem), the centred networks' distance from its mean {gp_rms_slope}
  ({gp_rms_wide:.2f} NTK-GP standard deviations at width {gp_width_wide}; each net is {gp_nonlin_wide:.2f} from its
  own linearization, which is {gp_kernel_wide:.2f} from the NTK-GP mean); for ensembles of plain networks,
  {gp_calibration_words}.
- **A Wide ResNet** trained for {wrn_steps} SGD steps on a warm-up + cosine schedule reaches {wrn_train_acc:.0%}
  training accuracy with its kernel at {wrn_ratio:.2g} times its initial size; {wrn_shape_words} (independent
  initializations differ by {wrn_baseline}).

All numbers come from the profile, seeds and hardware stated in the figure captions.
''', findings_summary(conv, fac, ctl, cat, al, gp, wrn, sizes))


def run_chapter(profile: str, device: torch.device, cache: ResultsCache, *, seed: int = 0) -> None:
    """Run every stage of Chapter 1 in notebook order (fills the cache; the notebook then renders from it)."""
    sizes = configs.sizes_for(profile)
    convergence(sizes, device, cache, first=seed)
    tuning = tune(sizes, device, cache)
    factorial(sizes, device, cache, tuning, first=seed)
    controls(sizes, device, cache, first=seed)
    catapult(sizes, device, cache, first=seed)
    alpha_sweep(sizes, device, cache, first=seed)
    gp_comparison(sizes, cache, first=seed)
    wide_resnet(sizes, device, cache, first=seed)



# ------------------------------------------------------------------------------------------------ texts
# The findings paragraphs of the notebook, filled from the summaries above (long templates live here, not in the
# notebook; every number is a computed value).


def design_text(sizes: KernelRegimeSizes, seed: int) -> str:
    """The design paragraph of Experiment 2."""
    return fill(r'''
**Design.** One-hidden-layer ReLU networks without biases on {train} MNIST images (average-pooled to 14×14,
centred, norm $\sqrt d$), ten outputs, mean squared loss on centred one-hot targets, {steps} optimizer steps.
Every network is **centred** ($f-f_0$, zero at initialization), so none carries a random initial function and
the three parametrizations start from the same function; this is a departure from practice (Lewkowycz et al. train
uncentred nets), stated here because an uncentred standard or NTK network carries an $O(1)$ random $f_0$ that the μP
network (output $O(n^{{-1/2}})$) does not — an uncentred control arm measures what it changes. GD and SGD (batch
{batch}, no momentum) use $\eta=c\cdot2N/\lambda_{{\max}}(\hat\Theta_0)$ computed for each network from its own
kernel (Lanczos on NTK-vector products, `lib.catapult.top_eigenvalue`). The rate $c$ is a factor of the design:
every GD/SGD cell runs at $c\in${{{fixed}}} on every evaluation seed. In addition, for each cell one rate for all
widths — $c\in${{{rate_grid}}} for GD/SGD, {{{adam_grid}}} for Adam — is **tuned** by the lowest final training loss
(geometric mean over widths) on a tuning seed and data draw ({tuning}) and evaluated too. The evaluation runs use
seeds {seeds}, each with its own data draw. After training we measure, on {probe} training images, the change of the
output-summed kernel split into scale and shape {{eq}}`eq-ch1-scale-shape` (a change confined to the cross-output
blocks of the full kernel is not seen), and we report the training loss and the test accuracy on {test} test images
of every run. All runs take the same number of steps, so their training losses differ; the **equal-loss control**
also measures the kernel at the first step (checked every {every} steps) at which each run's training loss reaches
{target:g}, a third of the initial loss. The **after-kernel test** asks whether the change matters: the test accuracy
of kernel regression on the training set with the final kernel $\Theta_T$ against the initial $\Theta_0$ (the
"after kernel", {{cite}}`fort2020deep`, {{cite}}`long2021properties`, {{cite}}`atanasov2022silent`).
''', dict(train=sizes.train, steps=sizes.steps, batch=configs.BATCH, rate_grid=", ".join(f"{c:g}" for c in
                                                                                        sizes.rate_grid),
          adam_grid=", ".join(f"{c:g}" for c in sizes.adam_grid), tuning=configs.TUNING_SEED,
          fixed=", ".join(f"{c:g}" for c in sizes.fixed_rates),
          seeds=", ".join(str(s) for s in range(seed, seed + sizes.seeds)), probe=sizes.probe, test=sizes.test,
          every=configs.TARGET_EVERY, target=configs.TARGET_LOSS))


def convergence_text(conv: Convergence) -> str:
    """Experiment 1's findings."""
    return fill(r'''
**What the runs show.** At width {width_wide} the one-hidden-layer NTK is within {err_wide_1:.1%} of its limit
and the depth-{depth_max} net within {err_wide_deep:.1%}; at width {width_narrow} the distances are
{err_narrow_1:.0%} and {err_narrow_deep:.0%}. The slope of the log-distance per decade of width is
{slope_first} for depth 1 and {slope_deep} for depth {depth_max} (least squares over all widths; the seeds vary the
network, and all use one data draw of images). *At
initialization* the infinite-width kernel describes a wide MLP well. The rest of the chapter asks what happens once
it is trained.
''', convergence_summary(conv))


def factorial_text(fac: Factorial) -> str:
    """Experiment 2's findings at the end of training."""
    return fill(r'''
**What the runs show.** At the tuned rates, mean test accuracies lie between {acc_min:.1%} and {acc_max:.1%}
and mean final training losses between {loss_min:.3f} and {loss_max:.3f} ({diverged}). The table gives every
slope (log₁₀ shape change per decade of width). The contrasts:

- **The step relative to the limit.** At $c$ = 1 under GD: standard {shape_standard_gd_1_0}; NTK
  {shape_ntk_gd_1_0}; μP {shape_mup_gd_1_0}. Lazier with width under GD (Holm across the table) at $c$ = 0.5:
  {lazier_gd_0_5}; at $c$ = 1: {lazier_gd_1_0}; at $c$ = 2: {lazier_gd_2_0}. A difference in significance is not a
  significant difference, so the contrast is tested directly: the slope at $c$ = 2 minus that at $c$ = 0.5, paired
  over seeds ({interaction_method}): {interaction}. **{decides_words}.** {high_words}.
- **Standard vs NTK.** Paired over seeds at $c$ = 1, the standard network's slope is {slope_standard_minus_ntk_gd}
  under GD: it gets lazier *faster*. The stability rule does not make $\eta\propto1/n$ at these widths: the
  standard kernel is the input layer's term (about $d$ = 196 on the diagonal) plus the readout term (about $n$), so
  $\lambda_{{\max}}\propto n$ only for $n\gg d$; the standard network's rate falls by a factor {rate_ratio:.1f} over
  a {width_ratio:.0f}-fold increase in width. This is consistent with an input layer that is trained at NTK-like rates
  at small width and freezes as $d/n$ (Exercise 2); no control here isolates it (per-layer changes or a frozen input
  layer are not measured).
- **μP vs NTK.** Paired over seeds at $c$ = 1, the μP network's slope is {slope_mup_minus_ntk_gd} under GD and
  {slope_mup_minus_ntk_sgd} under SGD. A single power law is the wrong model for μP, whose kernel change should tend
  to a non-zero constant: its local slope over the three widest widths is {mup_local_wide}, over the three narrowest
  {mup_local_narrow} (difference {mup_bend}, t over seeds): {mup_shape_words}.
- **Tuned rates** (one per cell): standard + GD {tuned_standard_gd}; NTK + GD {tuned_ntk_gd}; μP + GD
  {tuned_mup_gd}; Adam — standard {tuned_standard_adam}, NTK {tuned_ntk_adam}, μP {tuned_mup_adam}. The Adam
  slopes are "tuned-rate" slopes; a pick at a grid edge (table above) makes a verdict provisional.
- **Units switch off at large steps.** At $c$ = 2 under GD, the fraction of hidden units dead on every training
  input at width {width_wide} is {dead_standard_2:.1%} (standard), {dead_ntk_2:.1%} (NTK) and {dead_mup_2:.1%}
  (μP); the μP network's active (unit, input) pairs fall from {active_mup_0_5:.0%} at $c$ = 0.5 to
  {active_mup_2:.0%} at $c$ = 2. Part of what 1 − CKA records at large $c$ goes with ReLU units switching off.

All of this is under the stability-scaled rule $\eta=c\cdot2N/\lambda_{{\max}}$. A standard network at a *fixed*
absolute rate tuned at the narrowest width — the common practice — is not run here (Exercise 5 asks for it).
''', factorial_summary(fac))


def equal_loss_text(fac: Factorial) -> str:
    """The equal-loss control and the after-kernel test."""
    return fill(r'''
**Equal training progress.** Measured when each run first reaches a training loss of {target:g} (checked every
{every} steps, so the recorded losses lie between {reached_min:.3f} and {reached_max:.3f}; {missing}), the
shape change at $c$ = 1, under GD: standard {target_standard_gd}; NTK {target_ntk_gd}; μP {target_mup_gd}; under
SGD: standard {target_standard_sgd}; NTK {target_ntk_sgd}; μP {target_mup_sgd}. Paired over seeds at equal loss,
the μP network's slope is {target_mup_minus_ntk_gd} under GD. So {agreement}.

**Does the change matter? The after-kernel test.** Kernel regression with the initial kernel reaches
{kernel_acc_initial:.1%} test accuracy at the widest width (mean over slices). With the *final* kernel, at $c$ = 1
under GD and the widest width, it is: standard {gain_standard}; NTK {gain_ntk}; μP {gain_mup}. Across all slices the
largest change is {best_gain:+.1f} pt ({best_gain_slice}) and the smallest {worst_gain:+.1f} pt ({worst_gain_slice});
slices where the final kernel is detectably better: {improved}; slices whose interval lies within ±{margin:g} pt:
{n_equivalent} of {n_slices}. The trained network itself, against the initial kernel's regression, at $c$ = 1 under
GD: standard {net_standard}; NTK {net_ntk}; μP {net_mup}. A kernel that moved but predicts no better is "changed"
without being "learned features" in the sense that matters for accuracy. Two limits: the regression uses the
output-summed kernel (the trained network's cross-output blocks are ignored, as in the shape measure), and these
one-hidden-layer networks barely move their kernels; the chapter does **not** test Vyas et al.'s after-kernel result
{{cite}}`vyas2022limitations`, which concerns networks whose kernels change a lot (the Wide ResNet of Experiment 6 is
such a network, but its after-kernel is not measured here).
''', equal_loss_summary(fac))


def controls_text(ctl: Controls, fac: Factorial) -> str:
    """The GELU and uncentred control arms of Experiment 2."""
    return fill(r'''
**Smooth activation and centring.** For smooth activations finite-width theory predicts a relative kernel change
$O(1/n)$ {{cite}}`dyer2020asymptotics`, {{cite}}`huang2020dynamics`, and since $1-\mathrm{{CKA}}$ is second order in
the change (Exercise 7), a shape slope of −2 per decade of width. We call a slope "within ±0.25 of −2" only when its
whole interval is. On the NTK network under GD at $c$ = {rate:g}: GELU {gelu_slope}, locally over the three widest
widths {gelu_local}; its ReLU twin (same initial weights, seeds and data) {relu_slope}, locally {relu_local}; the
uncentred ReLU twin {unc_slope}, locally {unc_local}. Paired, GELU's slope is {gelu_minus_relu}; the uncentred
network's is {unc_minus_centred}. So {exponent_words}. Test accuracy of the GELU networks: {gelu_acc_narrow:.1%} →
{gelu_acc_wide:.1%} (width {width_narrow} → {width_wide}).

**Uncentred networks.** Trained as $f$ rather than $f-f_0$ (as Lewkowycz et al. do), the NTK network at
$c$ = {rate:g} starts from a training loss of {unc_initial_loss:.2f} (centred: {centred_initial_loss:.2f}: its random
$f_0$, with readout $\sigma_w^2=2$, is large against targets of 0.9 and −0.1), reaches {unc_loss_narrow:.3f} →
{unc_loss_wide:.3f} (centred: {relu_loss_narrow:.3f} → {relu_loss_wide:.3f}) and a test accuracy of
{unc_acc_narrow:.1%} → {unc_acc_wide:.1%}, at the widest width {unc_acc_gap}: {unc_cost_words}. Its shape change
{unc_trend}.
''', controls_summary(ctl, fac))


def catapult_text(cat: Catapult) -> str:
    """Experiment 3's findings, with its GELU and uncentred controls."""
    values = {**catapult_summary(cat), **catapult_controls_summary(cat)}
    return fill(r'''
**What the runs show.** Below the limit ($c$ = {below_list}) the top eigenvalue ends within {lam_dev_below:.1%} of its
initial value on every seed and the kernel's shape change is at most {shape_below:.1e}: lazy. {n_above} rates above
the limit trained on all {seeds} seeds (up to $c$ = {c_max:g}); in them the loss first rose (by up to
{peak_above:.3g} times its initial value), $\lambda_{{\max}}$ fell to as little as {lam_ratio_above:.2f} of its
initial value, and the runs ended with $\eta\lambda_{{\max}}(\Theta_T)/2N$ at most {edge_above_max:.2f}
({edge_words}) — the phenomenology of the catapult. Beyond the window: {failure_words}; {converged_words}. The
table lists every rate. At $c$ = {c_max:g} {weights_words}; the active (unit, input) pairs fell from
{active_initial:.0%} at initialization to {active_high:.0%}, with {dead_high:.0%} of the units dead on every training
input (at $c$ = {c_low:g}: {active_low:.0%} and {dead_low:.1%}); {comove_words}. The design does not isolate which
causes which, and the GELU control below behaves alike. At $c$ = {c_max:g} the final training loss is {loss_high:.3f}
(against {loss_low:.3f} at $c$ = {c_low:g}) and the test accuracy {acc_high:.1%}, {acc_change} (paired over seeds):
{generalization_words}; {drop_words}. {disagree_words}.
The shape change stays at most {shape_above:.1e}, while the uncentred Fort distance reaches {fort_above:.1e}: the top
of the spectrum, dominated by the constant mode that CKA's centring removes, is where these kernels changed.

**Controls.** *A smooth activation* (GELU, whose units cannot die, same initial weights): {gelu_phases}. At
$c$ = {gelu_c:g} $\lambda_{{\max}}$ fell to {gelu_lam:.2f} of its initial value while the hidden weight norm changed
by a factor {gelu_hidden:.3f} and the readout's by {gelu_readout:.2f}, and the (unit, input) pairs with a positive
pre-activation went from {gelu_active_initial:.0%} to {gelu_active_high:.0%}; its test accuracy is {gelu_acc_change}.
{gelu_words}.
Kernel regression with the GELU network's final kernel reaches {gelu_kernel_final:.1%} (initial kernel:
{gelu_kernel_initial:.1%}); with the ReLU network's at $c$ = {relu_c:g}, {relu_kernel_final:.1%} (initial:
{relu_kernel_initial:.1%}), while that network itself reaches {relu_acc:.1%}: {function_words}. *Uncentred*:
{unc_words}. Lewkowycz et al. place the end of the window for ReLU networks near $\eta\approx12/\lambda_0$,
i.e. six times the stability limit, $c\approx6$ in our units; {window_words}. The trained runs above the limit end
with $\eta\lambda_{{\max}}(\Theta_T)/2N$ between {edge_min:.2f} and {edge_max:.2f}, {eos_words}.
''', values)


def alpha_text(al: AlphaSweep) -> str:
    """Experiment 4's findings."""
    return fill(r'''
**What the runs show.** From α = {alpha_min:g} to α = {alpha_max:g} the shape change falls from {shape_small:.1e} to
{shape_large:.1e} (its log {shape_slope} per decade of α; against the smooth theory's −2 it is {relu_vs_theory}) and
the parameters' relative change from {params_small:.2g} to {params_large:.2g}; the scale change is {scale_small:+.2f}
at α = {alpha_min:g} and {scale_large:+.2f} at α = {alpha_max:g}. With GELU the shape slope is {gelu_slope}. Every
run trains (final training loss at most {loss_max:.3f}). Test accuracy at α = {alpha_min:g} is {acc_small:.1%}
against {acc_large:.1%} at α = {alpha_max:g}: {acc_gap} ({seeds} seeds). At α = {alpha_min:g} most of the change is
size (a pure rescaling by $\langle\Theta_0,\Theta_T\rangle/\lVert\Theta_0\rVert^2$ = {pure_scale_small:.2f} leaves an
uncentred distance of {fort_small:.1e}), and kernel regression with the final kernel reaches {kernel_final_small:.1%},
{kernel_gain_small}. So small α makes this network *less lazy*; {features_words}.
''', alpha_summary(al))


def gp_text(gp: GPComparison) -> str:
    """Experiment 5's findings, with the linearization split and bootstrap intervals."""
    return fill(r'''
**What the runs show.** The centred nets' distance from the NTK-GP mean is {rms_narrow:.2f} NTK-GP standard
deviations (RMS) at width {width_narrow} and {rms_wide:.2f} at width {width_wide}; its log {rms_slope} (per decade of
width, over the {nets} initializations). Each net's own linearization, trained by the same GD, splits that distance
in two: net vs its linearization (nonlinearity) {nonlin_narrow:.2f} → {nonlin_wide:.2f} (its log-log slope
{nonlin_slope}), and linearization vs NTK-GP mean (fluctuation of the empirical kernel) {kernel_narrow:.2f} →
{kernel_wide:.2f} ({kernel_slope}); the linearized models' own training loss is not recorded. At width
{width_wide} the RMS of the nets' *average* deviation from the NTK-GP mean is {offset_wide:.2f} and their spread
around that average {spread_wide:.2f}. For the plain nets, mean $z^2$ is {z2_narrow:.2f} at width {width_narrow} and
{z2_wide:.2f} at width {width_wide} ({z2_interval}), $|z|\le2$ holds on {cover_narrow:.0%} and {cover_wide:.0%} of
the grid points ({cover_interval}), and the ensemble's variance is {var_narrow:.2f} and {var_wide:.2f} times the
NTK-GP's ({var_interval}; {var_words}; intervals at width {width_wide}, {interval_method}): {calibration_words}.
These are {nets} nets on one data set of {train} points: the numbers describe this problem, a pre-asymptotic one,
not a rate.
''', gp_summary(gp))


def wrn_text(wrn: WRN, sizes: KernelRegimeSizes) -> str:
    """Experiment 6's findings, with the init-to-init noise floor."""
    return fill(r'''
**What the run shows** (one seed). WRN-16-{k} ({params} parameters) on {n} images for {epochs} epochs, i.e.
{steps} SGD steps, ends at {train_acc:.1%} training accuracy and {test_acc:.1%} test accuracy. Its kernel on {probe}
training images ends at {ratio:.2g} times its initial size (scale {scale:+.2f}) with shape change {shape:.2f}
(1 − CKA); the mixed relative change is {relative:.2f}. Two *independently initialized* networks differ in shape by
{baseline} on the same images — the noise floor of this measure — {floor_words}.
After the first {early_step} steps (training accuracy {early_acc:.1%}) the scale change is {early_scale:+.2f} and the
shape change {early_shape:.3f} ({early_fraction:.0%} of its final value): in this one run, {early_words}. In short,
{shape_words}. On a CPU the run is far shorter than the recipe's 200 epochs on 50 000 images (the `paper` profile),
so it shows where such training heads, not where it ends.
''', wrn_summary(wrn, sizes))

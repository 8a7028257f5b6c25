"""Chapter 4's experiments as stages the notebook (or a command line) calls in order.

Each stage runs its sweeps through a :class:`lib.cache.ResultsCache` (finished configs are never redone) and returns
a small dataclass with everything the text and the figures need; the ``*_summary`` functions return the dicts
that the notebook's ``say()`` templates are filled from. :func:`run_chapter` runs every stage in notebook order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lib.cache import ResultsCache
from lib.experiments.forgetting import analysis, configs, runs
from lib.experiments.forgetting.configs import STEPS_TARGET, Arm, ForgettingSizes
from lib.stats import Interval, describe, paired_difference

__all__ = ["KernelScale", "kernel_scale", "Tuning", "tune", "WidthSweep", "width_sweep", "KernelBaseline",
           "kernel_baseline", "Frontier", "frontier", "Linearized", "linearized_control", "ImageBenchmark",
           "image_benchmarks", "run_chapter", "confound_summary", "frontier_summary", "linearized_summary",
           "scale_summary",
           "matched_summary", "kernel_summary", "movement_summary", "findings_summary", "picks_table", "setup_summary",
           "METRICS"]

#: The scalar summaries of a sequence run that the sweep collects into ``[S, W]`` arrays.
METRICS = ("learning_accuracy", "average_forgetting", "learned_minus_final", "backward_transfer",
           "average_accuracy")


@dataclass(frozen=True)
class KernelScale:
    """Mean ``Θ(x, x)`` of the analytic NTK on task-1 inputs: standard parametrization per width, and NTK."""

    widths: list
    standard: list
    ntk: float


def kernel_scale(sizes: ForgettingSizes, device: torch.device, cache: ResultsCache, *, first: int = 0) -> KernelScale:
    """How the standard-parametrization NTK grows with width on the chapter's inputs (why a fixed learning rate
    ties width to how far an epoch moves the network)."""
    config = dict(run=sizes.run, data_seed=first, points=200, depth=sizes.depth, widths=list(sizes.widths))
    record = cache.sweep(runs.ntk_diagonal, [config], desc="kernel scale")[0]
    return KernelScale(list(record["widths"]), list(record["standard"]), float(record["ntk"]))


@dataclass(frozen=True)
class Tuning:
    """Learning rates per arm and width, and the picks for display."""

    rates: dict              # arm -> {width: lr}
    picks: list              # analysis.Pick


def tune(sizes: ForgettingSizes, device: torch.device, cache: ResultsCache) -> Tuning:
    """Tune the matched arm (one rate per width) and the NTK arm (one rate for all widths) to the target learning
    accuracy with one epoch per task, on the tuning seeds and draws; the fixed arm uses ``fixed_lr``.

    Two stages: the profile's grid, then quarter-octave steps around the first pick (:data:`configs.REFINE`); the
    pick interpolates ``log lr`` between the two runs that bracket the target on the union of both."""
    rates = {Arm.FIXED.value: {w: sizes.fixed_lr for w in sizes.widths}}
    picks = [analysis.Pick(Arm.FIXED.value, None, sizes.fixed_lr, float("nan"), "")]
    for arm, shared in ((Arm.MATCHED, False), (Arm.NTK, True)):
        grid_configs = configs.tuning_configs(sizes, device, arm)
        grid_records = cache.sweep(runs.sequence_run, grid_configs, desc=f"tuning ({arm.value})")
        first, _ = analysis.pick_learning_rates(grid_records, grid_configs, sizes.target, shared=shared)
        fine_configs = configs.tuning_configs(sizes, device, arm, around=first)
        fine_records = cache.sweep(runs.sequence_run, fine_configs, desc=f"refining ({arm.value})")
        rates[arm.value], arm_picks = analysis.pick_learning_rates(grid_records + fine_records,
                                                                   grid_configs + fine_configs, sizes.target,
                                                                   shared=shared)
        picks += arm_picks
    return Tuning(rates, picks)


@dataclass(frozen=True)
class WidthSweep:
    """Every arm × epochs × width × seed on the evaluation seeds.

    ``values[arm][epochs][metric]`` is ``[S, W]``; ``slopes[arm][epochs][metric]`` the trend over ``log10`` width
    (percentage points per decade, bootstrap over seeds); ``records``/``configs`` per arm (accuracy matrices of
    every run are in the records).
    """

    widths: list
    seeds: list
    epochs: dict             # arm -> tuple of epochs run
    values: dict
    slopes: dict
    records: dict
    configs: dict
    reached: dict            # arm -> epochs -> [S, W] tasks that reached STEPS_TARGET training accuracy
    steps: dict              # arm -> epochs -> [S, W] mean steps to STEPS_TARGET over the tasks that reached it
    diverged: int


def width_sweep(sizes: ForgettingSizes, device: torch.device, cache: ResultsCache, tuning: Tuning, *,
                first: int = 0) -> WidthSweep:
    """Evaluate the three arms: matched and NTK at every epochs-per-task value, fixed at the smallest."""
    widths = list(sizes.widths)
    values, slopes, records_by_arm, configs_by_arm, reached, steps, epochs_of = {}, {}, {}, {}, {}, {}, {}
    diverged = 0
    for arm in Arm:
        epochs = (min(sizes.epochs),) if arm is Arm.FIXED else tuple(sizes.epochs)
        arm_configs = configs.evaluation_configs(sizes, device, arm, tuning.rates[arm.value], epochs=epochs,
                                                 first=first)
        records = cache.sweep(runs.sequence_run, arm_configs, desc=f"sequences ({arm.value})")
        diverged += sum(bool(r.get("diverged")) for r in records)
        records_by_arm[arm.value], configs_by_arm[arm.value], epochs_of[arm.value] = records, arm_configs, epochs
        values[arm.value], slopes[arm.value], reached[arm.value], steps[arm.value] = {}, {}, {}, {}
        for e in epochs:
            values[arm.value][e] = {m: analysis.by_width(records, arm_configs, m, epochs=e, widths=widths)
                                    for m in METRICS}
            slopes[arm.value][e] = {m: _slope(widths, 100 * values[arm.value][e][m]) for m in METRICS}
            slopes[arm.value][e]["relative_forgetting"] = _slope(widths, values[arm.value][e]["average_forgetting"],
                                                                 log_values=True)
            hit = np.zeros((sizes.seeds, len(widths)))
            mean_steps = np.full((sizes.seeds, len(widths)), np.nan)
            for w_index, width in enumerate(widths):
                rows = [r for c, r in zip(arm_configs, records, strict=True)
                        if c["width"] == width and c["epochs"] == e]
                for s, record in enumerate(rows):
                    if record.get("diverged"):
                        continue
                    task_steps, count = analysis.steps_to_target(record, STEPS_TARGET)
                    hit[s, w_index] = count
                    done = [t for t in task_steps if t is not None]
                    mean_steps[s, w_index] = np.mean(done) if done else np.nan
            reached[arm.value][e], steps[arm.value][e] = hit, mean_steps
    return WidthSweep(widths, list(range(first, first + sizes.seeds)), epochs_of, values, slopes, records_by_arm,
                      configs_by_arm, reached, steps, diverged)


def _slope(widths, runs_: np.ndarray, *, log_values: bool = False) -> Interval | None:
    """Per-seed OLS slope against log10 width, mean with a t-interval over seeds (:func:`analysis.slope_interval`)."""
    return analysis.slope_interval(widths, runs_, log_values=log_values)


@dataclass(frozen=True)
class Frontier:
    """Forgetting read off at fixed learning accuracies: per evaluation seed and width, one-epoch runs at the picked
    learning rate × :data:`configs.FRONTIER` trace F_T against LA; ``at[arm][level]`` is ``[S, W]`` F_T (fractions)
    interpolated at LA = ``level`` (``nan`` where the seed's curve does not reach it), ``slopes[arm][level]`` the
    width slope (pt/decade, t over seeds)."""

    levels: list
    at: dict
    slopes: dict
    points: dict             # arm -> [F, S, W, 2] (LA, F_T) of every frontier run


def frontier(sizes: ForgettingSizes, device: torch.device, cache: ResultsCache, tuning: Tuning, *,
             first: int = 0) -> Frontier:
    """One epoch per task at three learning rates around each pick, for the matched and the NTK arm."""
    levels = [round(sizes.target + d, 4) for d in (-0.02, 0.0, 0.02)]
    at, slopes, points = {}, {}, {}
    for arm in (Arm.MATCHED, Arm.NTK):
        frontier_configs = configs.frontier_configs(sizes, device, arm, tuning.rates[arm.value], first=first)
        records = cache.sweep(runs.sequence_run, frontier_configs, desc=f"frontier ({arm.value})")
        n_f, n_w, n_s = len(configs.FRONTIER), len(sizes.widths), sizes.seeds
        la = np.array([np.nan if r.get("diverged") else r["learning_accuracy"] for r in records])
        f = np.array([np.nan if r.get("diverged") else r["average_forgetting"] for r in records])
        la, f = la.reshape(n_f, n_w, n_s), f.reshape(n_f, n_w, n_s)      # factor (ascending lr), width, seed
        points[arm.value] = np.stack([la, f], axis=-1)
        at[arm.value], slopes[arm.value] = {}, {}
        for level in levels:
            grid = np.array([[analysis.interpolate_at(la[:, w, s], f[:, w, s], level) for w in range(n_w)]
                             for s in range(n_s)])
            at[arm.value][level] = grid
            slopes[arm.value][level] = _slope(sizes.widths, 100 * grid)
    return Frontier(levels, at, slopes, points)


@dataclass(frozen=True)
class Linearized:
    """The linearized networks (same loss, optimizer, learning rate, batches and initial function as the matched
    networks, one epoch per task): ``values[metric]`` ``[S, W]`` and the width slopes."""

    values: dict
    slopes: dict


def linearized_control(sizes: ForgettingSizes, device: torch.device, cache: ResultsCache, tuning: Tuning, *,
                       first: int = 0) -> Linearized:
    """Train each matched network's linearization at initialization on the same sequence."""
    lin_configs = configs.linearized_configs(sizes, device, tuning.rates[Arm.MATCHED.value], first=first)
    records = cache.sweep(runs.sequence_run, lin_configs, desc="linearized networks")
    values = {m: analysis.by_width(records, lin_configs, m, epochs=1, widths=list(sizes.widths)) for m in METRICS}
    return Linearized(values, {m: _slope(sizes.widths, 100 * values[m]) for m in METRICS})


@dataclass(frozen=True)
class KernelBaseline:
    """The analytic-NTK model on the evaluation draws (one record per draw).

    ``learning_accuracy``/``forgetting``/``learned_minus_final``: ``[S, M]`` over the training times;
    ``matched``: ``[S]`` F_T of the kernel at the target learning accuracy (interpolated along τ); ``infinite``:
    ``[S]`` F_T at τ = ∞; ``matched_time``: the grid time closest to the target (used for per-pair forgetting).
    """

    times: list
    learning_accuracy: np.ndarray
    forgetting: np.ndarray
    learned_minus_final: np.ndarray
    matched: np.ndarray
    matched_g: np.ndarray
    infinite: np.ndarray
    infinite_learning: np.ndarray
    matched_index: int
    records: list


def kernel_baseline(sizes: ForgettingSizes, device: torch.device, cache: ResultsCache, *,
                    first: int = 0) -> KernelBaseline:
    """Sequential kernel regression with the analytic NTK on the same tasks and draws as the networks."""
    kernel_configs = configs.kernel_configs(sizes, device, first=first)
    records = cache.sweep(runs.kernel_run, kernel_configs, desc="kernel baseline")
    la = np.array([r["learning_accuracy"] for r in records])
    f = np.array([r["average_forgetting"] for r in records])
    g = np.array([r["learned_minus_final"] for r in records])
    matched = np.array([analysis.interpolate_at(a, b, sizes.target) for a, b in zip(la, f, strict=True)])
    matched_g = np.array([analysis.interpolate_at(a, b, sizes.target) for a, b in zip(la, g, strict=True)])
    index = int(np.argmin(np.abs(la.mean(axis=0) - sizes.target)))
    return KernelBaseline(list(records[0]["times"]), la, f, g, matched, matched_g, f[:, -1], la[:, -1], index,
                          records)


@dataclass(frozen=True)
class ImageBenchmark:
    """One image benchmark (WRN-16-k): picks and ``values[epochs][metric]`` ``[S, K]`` arrays."""

    run: str
    widths: list
    picks: list
    values: dict
    slopes: dict


def image_benchmarks(sizes: ForgettingSizes, device: torch.device, cache: ResultsCache, image_runs: list[str], *,
                     first: int = 0) -> list[ImageBenchmark]:
    """Tune and evaluate the WRN on each image benchmark that runs here (see :func:`configs.runs_to_do`)."""
    out = []
    widths = list(sizes.wrn_widen_factors)
    for run in image_runs:
        tuning_configs = configs.image_tuning_configs(sizes, device, run)
        records = cache.sweep(runs.sequence_run, tuning_configs, desc=f"tuning {run}")
        rates, picks = analysis.pick_learning_rates(records, tuning_configs, sizes.image_target, shared=False)
        eval_configs = configs.image_evaluation_configs(sizes, device, run, rates, first=first)
        records = cache.sweep(runs.sequence_run, eval_configs, desc=run)
        values = {e: {m: analysis.by_width(records, eval_configs, m, epochs=e, widths=widths) for m in METRICS}
                  for e in sizes.image_epochs}
        slopes = {e: {m: _slope(widths, 100 * values[e][m]) for m in METRICS} for e in sizes.image_epochs}
        out.append(ImageBenchmark(run, widths, picks, values, slopes))
    return out


def run_chapter(profile: str, device: torch.device, cache: ResultsCache, *, seed: int = 0) -> None:
    """Run every stage of Chapter 4 in notebook order (fills the cache; the notebook then renders from it)."""
    sizes = configs.sizes_for(profile)
    kernel_scale(sizes, device, cache, first=seed)
    tuning = tune(sizes, device, cache)
    width_sweep(sizes, device, cache, tuning, first=seed)
    kernel_baseline(sizes, device, cache, first=seed)
    frontier(sizes, device, cache, tuning, first=seed)
    linearized_control(sizes, device, cache, tuning, first=seed)
    image_runs, _ = configs.runs_to_do(sizes, profile=profile, device=device)
    image_benchmarks(sizes, device, cache, image_runs, first=seed)


# ---------------------------------------------------------------------------------------------- summaries

_SLOPE_WORDS = dict(larger="rises", smaller="falls", same="shows no trend we can distinguish from zero",
                    fmt=".1f", unit=" pt/decade")


_LOG_WORDS = dict(larger="rises", smaller="falls", same="shows no trend we can distinguish from zero", fmt=".2f",
                  unit="")


def _words(interval: Interval | None, words: dict | None = None,
           missing: str = "not assessed (too few runs that did not diverge)") -> str:
    if interval is None:
        return missing
    return describe(interval, **(words or _SLOPE_WORDS))


def picks_table(picks) -> str:
    """Markdown table of the learning-rate picks (a :class:`Tuning` or a list of :class:`analysis.Pick`): the
    measured learning accuracies (mean over tuning seeds) at the two rates that bracket the target, between which
    ``log lr`` is interpolated, and the grid-edge warnings."""
    picks = picks.picks if isinstance(picks, Tuning) else picks
    lines = ["| arm | width | learning rate | measured learning accuracy at the bracketing rates | note |",
             "|---|---:|---:|---|---|"]
    for p in picks:
        if p.bracket:
            lo, a_lo, hi, a_hi = p.bracket
            measured = f"{100 * a_lo:.1f} % at {lo:.3g}, {100 * a_hi:.1f} % at {hi:.3g}"
        else:
            measured = ("—" if not np.isfinite(p.learning_accuracy) else
                        f"{100 * p.learning_accuracy:.1f} % (at the pick)")
        note = p.warning or ("fixed by design" if p.arm == Arm.FIXED.value else "target bracketed")
        lines.append(f"| {p.arm} | {'all' if p.width is None else p.width} | {p.learning_rate:.3g} | {measured} | "
                     f"{note} |")
    return "\n".join(lines)


def setup_summary(sizes: ForgettingSizes, profile: str) -> dict:
    """The set-up's numbers: benchmark sizes, widths, epochs, the arms' fixed settings."""
    return dict(angles=", ".join(f"{a:g}" for a in configs.ANGLES), n_train=sizes.n_train, n_test=sizes.n_test,
                seeds_n=sizes.seeds, depth=sizes.depth, widths=", ".join(map(str, sizes.widths)),
                batch=configs.BATCH, epochs=", ".join(map(str, sizes.epochs)), fixed_lr=sizes.fixed_lr,
                target=100 * sizes.target, tuning=sizes.tuning_seeds, train_target=100 * STEPS_TARGET,
                tasks=len(configs.ANGLES), profile=profile)


def confound_summary(scale: KernelScale, sweep: WidthSweep, sizes: ForgettingSizes) -> dict:
    """Experiment 1: the kernel's scale and the fixed-rate arm's learning accuracy and forgetting across widths."""
    e = min(sizes.epochs)
    fixed = sweep.values[Arm.FIXED.value][e]
    slopes = sweep.slopes[Arm.FIXED.value][e]
    return dict(theta_min=scale.standard[0], theta_max=scale.standard[-1], theta_ntk=scale.ntk,
                theta_ratio=scale.standard[-1] / scale.standard[0], w_min=sweep.widths[0], w_max=sweep.widths[-1],
                fixed_la_min=100 * np.nanmean(fixed["learning_accuracy"][:, 0]),
                fixed_la_max=100 * np.nanmean(fixed["learning_accuracy"][:, -1]),
                fixed_f_min=100 * np.nanmean(fixed["average_forgetting"][:, 0]),
                fixed_f_max=100 * np.nanmean(fixed["average_forgetting"][:, -1]),
                fixed_la_slope=_words(slopes["learning_accuracy"]),
                fixed_f_slope=_words(slopes["average_forgetting"]))


def matched_summary(sweep: WidthSweep, sizes: ForgettingSizes) -> dict:
    """Experiment 2: learning accuracy reached, and the slopes of both forgetting measures, per arm and epochs."""
    out: dict = dict(e_min=min(sizes.epochs), e_max=max(sizes.epochs),
                     e_min_words=f"{min(sizes.epochs)} epoch{'s' if min(sizes.epochs) > 1 else ''}")
    rel_words = dict(larger="rises", smaller="falls", same="shows no trend we can distinguish from zero", fmt=".2f",
                     unit="")
    for arm, key in ((Arm.MATCHED.value, "m"), (Arm.NTK.value, "n")):
        for e in sizes.epochs:
            v, s = sweep.values[arm][e], sweep.slopes[arm][e]
            out[f"{key}{e}_la_lo"] = 100 * float(np.nanmin(np.nanmean(v["learning_accuracy"], axis=0)))
            out[f"{key}{e}_la_hi"] = 100 * float(np.nanmax(np.nanmean(v["learning_accuracy"], axis=0)))
            out[f"{key}{e}_la_slope"] = _words(s["learning_accuracy"])
            out[f"{key}{e}_f_slope"] = _words(s["average_forgetting"])
            out[f"{key}{e}_rel_slope"] = _words(s["relative_forgetting"], rel_words)
            out[f"{key}{e}_g_slope"] = _words(s["learned_minus_final"])
            out[f"{key}{e}_a_slope"] = _words(s["average_accuracy"])
            out[f"{key}{e}_a_min"] = 100 * float(np.nanmean(v["average_accuracy"][:, 0]))
            out[f"{key}{e}_a_max"] = 100 * float(np.nanmean(v["average_accuracy"][:, -1]))
            out[f"{key}{e}_f_min"] = 100 * float(np.nanmean(v["average_forgetting"][:, 0]))
            out[f"{key}{e}_f_max"] = 100 * float(np.nanmean(v["average_forgetting"][:, -1]))
            out[f"{key}{e}_g_min"] = 100 * float(np.nanmean(v["learned_minus_final"][:, 0]))
            out[f"{key}{e}_g_max"] = 100 * float(np.nanmean(v["learned_minus_final"][:, -1]))
            out[f"{key}{e}_verdict"] = _verdict(s["average_forgetting"])
            reached = sweep.reached[arm][e]
            out[f"{key}{e}_reached_min"] = float(np.mean(reached[:, 0]))
            out[f"{key}{e}_reached_max"] = float(np.mean(reached[:, -1]))
    last = max(sizes.epochs)
    e1 = min(sizes.epochs)
    for key in ("m", "n"):
        for name in ("la_lo", "la_hi", "f_slope", "rel_slope", "reached_min", "reached_max"):
            out[f"{key}_emax_{name}"] = out[f"{key}{last}_{name}"]
            out[f"{key}_emin_{name}"] = out[f"{key}{e1}_{name}"]
        for name in ("f_min", "f_max", "g_slope", "a_slope", "a_min", "a_max", "la_slope"):
            out[f"{key}_emin_{name}"] = out[f"{key}{e1}_{name}"]
    matched = sweep.values[Arm.MATCHED.value]
    budget = paired_difference(100 * np.nanmean(matched[last]["average_forgetting"], axis=1),
                               100 * np.nanmean(matched[e1]["average_forgetting"], axis=1))
    out["budget_gap"] = describe(budget, larger="higher", smaller="lower", same="not distinguishable",
                                 fmt=".1f", unit=" pt")
    accuracy_gap = paired_difference(100 * np.nanmean(matched[last]["average_accuracy"], axis=1),
                                     100 * np.nanmean(matched[e1]["average_accuracy"], axis=1))
    out["accuracy_gap"] = describe(accuracy_gap, larger="higher", smaller="lower", same="not distinguishable",
                                   fmt=".1f", unit=" pt")
    logw = np.log10(sweep.widths)

    def per_seed_slopes(values: np.ndarray) -> np.ndarray:
        return np.array([np.polyfit(logw, 100 * row, 1)[0] for row in values])

    first_slopes = per_seed_slopes(matched[e1]["average_forgetting"])
    slope_gap = paired_difference(per_seed_slopes(matched[last]["average_forgetting"]), first_slopes)
    shrinks = slope_gap.n >= 3 and slope_gap.low > 0 and float(np.mean(first_slopes)) < 0
    out["under_words"] = ("The width effect shrinks with training, in their direction" if shrinks else
                          "We cannot tell from these runs whether the width effect shrinks with training")
    out["slope_gap"] = describe(slope_gap, larger="larger (less negative)", smaller="smaller (more negative)",
                                same="not distinguishable", fmt=".1f", unit=" pt/decade")
    gap = sweep.values[Arm.MATCHED.value][e1]
    out.update(diverged="No run diverged" if sweep.diverged == 0 else f"{sweep.diverged} runs diverged (left out)",
               fg_gap=100 * float(np.nanmean(gap["average_forgetting"] - gap["learned_minus_final"])),
               verdict=_overall(sweep, sizes))
    return out


def _verdict(interval: Interval | None) -> str:
    if interval is None or interval.n < 3:
        return "inconclusive"
    if interval.high < 0:
        return "falls"
    if interval.low > 0:
        return "rises"
    return "inconclusive"


def _overall(sweep: WidthSweep, sizes: ForgettingSizes) -> str:
    """The chapter's verdict on Mirzadeh et al.'s claim, from the matched and NTK arms' F_T slopes at the smallest
    number of epochs per task (where learning is matched), with what more epochs do to it."""
    e1, last = min(sizes.epochs), max(sizes.epochs)
    first = {arm: _verdict(sweep.slopes[arm][e1]["average_forgetting"]) for arm in (Arm.MATCHED.value, Arm.NTK.value)}
    later = {arm: _verdict(sweep.slopes[arm][last]["average_forgetting"]) for arm in first}
    if set(first.values()) == {"falls"}:
        tail = ("it still falls, less steeply, with more epochs per task" if set(later.values()) == {"falls"} else
                "with more epochs per task the slope is no longer measurable in every arm")
        return (f"reproduced at matched learning with {e1} epoch{'s' if e1 > 1 else ''} per task in both "
                f"parametrizations; {tail}; not tested at convergence")
    if "rises" in first.values() and "falls" not in first.values():
        return "refuted: at matched learning accuracy forgetting rises with width"
    if "falls" in first.values():
        arm = next(a for a, v in first.items() if v == "falls")
        return f"reproduced in one arm only ({arm}); the other shows no measurable trend"
    return "inconclusive because no slope's interval excludes zero"


def _own_la_matched(kernel: KernelBaseline, network_la: np.ndarray) -> np.ndarray:
    """Per draw: the kernel model's F_T interpolated at that draw's network learning accuracy."""
    return np.array([analysis.interpolate_at(a, f, level) if np.isfinite(level) else np.nan
                     for a, f, level in zip(kernel.learning_accuracy, kernel.forgetting, network_la, strict=True)])


def kernel_summary(kernel: KernelBaseline, sweep: WidthSweep, sizes: ForgettingSizes) -> dict:
    """Experiment 4: the kernel model at each draw's network learning accuracy and at τ = ∞, paired with the widest
    networks (same draws); overlap against per-pair forgetting; kernel against network per-pair forgetting."""
    e1 = min(sizes.epochs)
    index = kernel.matched_index
    out = dict(k_matched=100 * float(np.nanmean(kernel.matched)), k_inf=100 * float(np.mean(kernel.infinite)),
               k_inf_la=100 * float(np.mean(kernel.infinite_learning)),
               k_matched_g=100 * float(np.nanmean(kernel.matched_g)),
               k_time=kernel.times[index], k_time_la=100 * float(kernel.learning_accuracy[:, index].mean()))
    for arm, key in ((Arm.MATCHED.value, "m"), (Arm.NTK.value, "n")):
        wide = sweep.values[arm][e1]["average_forgetting"][:, -1]
        own = _own_la_matched(kernel, sweep.values[arm][e1]["learning_accuracy"][:, -1])
        ok = np.isfinite(wide) & np.isfinite(own)
        if ok.sum() >= 2:
            diff = paired_difference(100 * wide[ok], 100 * own[ok])
            out[f"vs_kernel_{key}"] = describe(diff, larger="more than", smaller="less than",
                                               same="not distinguishable from", what="the kernel model",
                                               fmt=".1f", unit=" pt")
        else:
            out[f"vs_kernel_{key}"] = "not assessed"
    rho_kernel, rho_net, agree = [], {arm: [] for arm in (Arm.MATCHED.value, Arm.NTK.value)}, \
        {arm: [] for arm in (Arm.MATCHED.value, Arm.NTK.value)}
    for s, record in enumerate(kernel.records):
        overlap, kernel_pairs = record["overlap_centred"], record["pair_forgetting"][index]
        rho_kernel.append(analysis.pair_correlation(overlap, kernel_pairs))
        for arm in rho_net:
            rows = [r for c, r in zip(sweep.configs[arm], sweep.records[arm], strict=True)
                    if c["epochs"] == e1 and c["width"] == sweep.widths[-1]]
            if not rows[s].get("diverged"):
                rho_net[arm].append(analysis.pair_correlation(overlap, rows[s]["pair_forgetting"]))
                agree[arm].append(analysis.pearson_pairs(kernel_pairs, rows[s]["pair_forgetting"]))
    corr_words = dict(larger="positive", smaller="negative", same="not distinguishable from zero", fmt=".2f")

    def corr(values: list) -> str:
        interval = analysis.correlation_interval(values)
        return "not assessed" if interval is None else describe(interval, **corr_words)

    out.update(rho_kernel=corr(rho_kernel), rho_m=corr(rho_net[Arm.MATCHED.value]),
               rho_n=corr(rho_net[Arm.NTK.value]), agree_m=corr(agree[Arm.MATCHED.value]),
               agree_n=corr(agree[Arm.NTK.value]))
    overlap = np.mean([np.array(r["overlap_centred"]) for r in kernel.records], axis=0)
    t = overlap.shape[0]
    gaps = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
    from scipy.stats import spearmanr

    # network points (arm × epochs × width, means over seeds) above the kernel model's mean curve at their LA
    k_la, k_f = kernel.learning_accuracy.mean(axis=0), kernel.forgetting.mean(axis=0)
    above, total = 0, 0
    for arm, epochs in sweep.epochs.items():
        for e in epochs:
            v = sweep.values[arm][e]
            means = (np.nanmean(v["learning_accuracy"], axis=0), np.nanmean(v["average_forgetting"], axis=0))
            for la, f in zip(*means, strict=True):
                reference = analysis.interpolate_at(k_la, k_f, la)
                if np.isfinite(reference):
                    total += 1
                    above += int(f > reference)
    out.update(k_above=above, k_points=total)
    out.update(overlap_near=float(np.mean(np.diag(overlap, 1))), overlap_far=float(overlap[0, -1]),
               overlap_gap_rho=float(spearmanr(analysis.upper_pairs(overlap), analysis.upper_pairs(gaps)).statistic))
    return out


def frontier_summary(front: Frontier, sizes: ForgettingSizes) -> dict:
    """Experiment 3: F_T read off at fixed learning accuracies — slopes over width per arm and level."""
    out: dict = {}
    for arm, key in ((Arm.MATCHED.value, "m"), (Arm.NTK.value, "n")):
        parts = []
        for level in front.levels:
            grid = front.at[arm][level]
            usable = int(np.isfinite(grid).all(axis=1).sum())
            missing = "not assessed (fewer than two seeds reach this learning accuracy at every width)"
            parts.append(f"at LA {100 * level:.0f} %: {_words(front.slopes[arm][level], missing=missing)} "
                         f"({usable} of {grid.shape[0]} seeds reach it at every width)")
        out[f"frontier_{key}"] = "; ".join(parts)
        out[f"frontier_{key}_verdicts"] = ", ".join(_verdict(front.slopes[arm][level]) for level in front.levels)
    # along each seed × width curve (three learning rates), does F_T rise with learning accuracy?
    points = np.concatenate([front.points[a].reshape(front.points[a].shape[0], -1, 2) for a in front.points], axis=1)
    la, f = points[..., 0], points[..., 1]              # [rates, curves]
    ok = np.isfinite(la).all(axis=0) & np.isfinite(f).all(axis=0)
    rising = [np.polyfit(la[:, c], f[:, c], 1)[0] > 0 for c in np.flatnonzero(ok) if np.ptp(la[:, c]) > 0]
    out.update(curves_up=int(sum(rising)), curves_n=len(rising))
    return out


def linearized_summary(lin: Linearized, sweep: WidthSweep, sizes: ForgettingSizes) -> dict:
    """The linearized-network control against the matched networks (same seeds, one epoch per task)."""
    e1 = min(sizes.epochs)
    net = sweep.values[Arm.MATCHED.value][e1]
    out = dict(lin_la_min=100 * float(np.nanmean(lin.values["learning_accuracy"][:, 0])),
               lin_la_max=100 * float(np.nanmean(lin.values["learning_accuracy"][:, -1])),
               lin_f_min=100 * float(np.nanmean(lin.values["average_forgetting"][:, 0])),
               lin_f_max=100 * float(np.nanmean(lin.values["average_forgetting"][:, -1])),
               lin_f_slope=_words(lin.slopes["average_forgetting"]),
               lin_la_slope=_words(lin.slopes["learning_accuracy"]))
    for end, w_index in (("narrow", 0), ("wide", -1)):
        a, b = 100 * net["average_forgetting"][:, w_index], 100 * lin.values["average_forgetting"][:, w_index]
        ok = np.isfinite(a) & np.isfinite(b)
        out[f"lin_gap_{end}"] = ("not assessed" if ok.sum() < 2 else
                                 describe(paired_difference(a[ok], b[ok]), larger="more than", smaller="less than",
                                          same="not distinguishable from", what="its linearization", fmt=".1f",
                                          unit=" pt"))
    return out


def scale_summary(scale: KernelScale, tuning: Tuning) -> dict:
    """η·Θ(x, x) at the picks: whether the matched learning rates undo the growth of the kernel's scale."""
    matched = tuning.rates[Arm.MATCHED.value]
    products = [matched[w] * theta for w, theta in zip(scale.widths, scale.standard, strict=True)]
    ntk = next(iter(tuning.rates[Arm.NTK.value].values())) * scale.ntk
    return dict(eta_theta_min=min(products), eta_theta_max=max(products), eta_theta_ntk=ntk,
                eta_theta_narrow=products[0], eta_theta_wide=products[-1])


def movement_summary(sweep: WidthSweep, sizes: ForgettingSizes) -> dict:
    """Experiment 5: centred kernel shape change per task (task 1 included) at the narrowest and widest width, and
    its exponent in width."""
    e1 = min(sizes.epochs)
    out = {}
    for arm, key in ((Arm.MATCHED.value, "m"), (Arm.NTK.value, "n")):
        shape = movement(sweep, arm, e1, "kernel_shape_change")        # [S, W, T]
        out[f"{key}_shape1_min"] = float(np.nanmean(shape[:, 0, 0]))
        out[f"{key}_shape1_max"] = float(np.nanmean(shape[:, -1, 0]))
        out[f"{key}_shape_later_min"] = float(np.nanmean(shape[:, 0, 1:]))
        out[f"{key}_shape_later_max"] = float(np.nanmean(shape[:, -1, 1:]))
        exponent = _slope(sweep.widths, np.log10(np.nanmean(shape, axis=2)))
        out[f"{key}_shape_slope"] = ("not assessed" if exponent is None else
                                     f"{exponent.text('.2f')} (t over seeds, n = {exponent.n})")
    return out


def movement(sweep: WidthSweep, arm: str, epochs: int, key: str) -> np.ndarray:
    """``[S, W, T]`` of a per-task measure (e.g. ``"kernel_shape_change"``) for one arm and epochs value."""
    out = []
    for width in sweep.widths:
        rows = [r for c, r in zip(sweep.configs[arm], sweep.records[arm], strict=True) if c["width"] == width
                and c["epochs"] == epochs]
        out.append([r[key] if not r.get("diverged") else [np.nan] * len(r["accuracy"]) for r in rows])
    return np.array(out, dtype=float).transpose(1, 0, 2)


def findings_summary(scale: KernelScale, tuning: Tuning, sweep: WidthSweep, kernel: KernelBaseline, front: Frontier,
                     lin: Linearized, sizes: ForgettingSizes, profile: str) -> dict:
    """Everything the text cites, in one dict with distinct keys."""
    merged: dict = {}
    for part in (setup_summary(sizes, profile), confound_summary(scale, sweep, sizes), matched_summary(sweep, sizes),
                 kernel_summary(kernel, sweep, sizes), frontier_summary(front, sizes),
                 linearized_summary(lin, sweep, sizes), scale_summary(scale, tuning), movement_summary(sweep, sizes)):
        clash = set(merged) & set(part)
        if clash:
            raise KeyError(f"Summary keys defined twice: {sorted(clash)}.")
        merged.update(part)
    return merged

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
           "laziness_summary", "overlap_summary", "movement_forgetting_summary", "per_run", "analytic_probe_overlap",
           "best_level",
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
    """Tune the matched arm (one rate per width), the NTK arm (one rate for all widths) and the μP arm (one base rate
    per width) to the target learning accuracy with one epoch per task, on the tuning seeds and draws (held-out
    images from a validation pool of MNIST-train); the fixed arm uses ``fixed_lr``.

    Two stages: the profile's grid, then a quarter octave either side of the first pick (:data:`configs.REFINE`);
    the pick interpolates ``log lr`` between the two runs that bracket the target on the union of both."""
    rates = {Arm.FIXED.value: {w: sizes.fixed_lr for w in sizes.widths}}
    picks = [analysis.Pick(Arm.FIXED.value, None, sizes.fixed_lr, float("nan"), "")]
    for arm, shared in ((Arm.MATCHED, False), (Arm.NTK, True), (Arm.MUP, False)):
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
    """Evaluate the four arms: matched and NTK at every epochs-per-task value, fixed at the smallest, μP at the
    profile's ``mup_epochs``."""
    widths = list(sizes.widths)
    values, slopes, records_by_arm, configs_by_arm, reached, steps, epochs_of = {}, {}, {}, {}, {}, {}, {}
    diverged = 0
    for arm in Arm:
        epochs = ((min(sizes.epochs),) if arm is Arm.FIXED else tuple(sizes.mup_epochs) if arm is Arm.MUP
                  else tuple(sizes.epochs))
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
    """One epoch per task at three learning rates around each pick, for the matched, the NTK and the μP arm.

    The levels are the matched arm's mean *evaluation* learning accuracy at the picked rates (rounded to a whole
    percent) and ±2 points: the target is set on the tuning runs' validation pool, and the test split sits a little
    lower, so levels centred on the target would sit at the top of what the three rates reach."""
    at, slopes, points = {}, {}, {}
    n_f, n_w, n_s = len(configs.FRONTIER), len(sizes.widths), sizes.seeds
    for arm in (Arm.MATCHED, Arm.NTK, Arm.MUP):
        frontier_configs = configs.frontier_configs(sizes, device, arm, tuning.rates[arm.value], first=first)
        records = cache.sweep(runs.sequence_run, frontier_configs, desc=f"frontier ({arm.value})")
        la = np.array([np.nan if r.get("diverged") else r["learning_accuracy"] for r in records])
        f = np.array([np.nan if r.get("diverged") else r["average_forgetting"] for r in records])
        points[arm.value] = np.stack([la.reshape(n_f, n_w, n_s), f.reshape(n_f, n_w, n_s)], axis=-1)
    centre = round(float(np.nanmean(points[Arm.MATCHED.value][configs.FRONTIER.index(1.0), :, :, 0])), 2)
    levels = [round(centre + d, 4) for d in (-0.02, 0.0, 0.02)]
    for arm, arm_points in points.items():
        la, f = arm_points[..., 0], arm_points[..., 1]          # [factor (ascending lr), width, seed]
        at[arm], slopes[arm] = {}, {}
        for level in levels:
            grid = np.array([[analysis.interpolate_at(la[:, w, s], f[:, w, s], level) for w in range(n_w)]
                             for s in range(n_s)])
            at[arm][level] = grid
            slopes[arm][level] = _slope(sizes.widths, 100 * grid)
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



@dataclass(frozen=True)
class MupOneRate:
    """The μP network at ONE base learning rate for every width (the NTK arm's tuned rate: at the base width
    :data:`configs.MUP_BASE_WIDTH` it is the NTK network with the same rate and weights), one epoch per task.

    ``values[metric]`` is ``[S, W]``; ``shape`` ``[S, W]`` the mean centred kernel shape change over tasks."""

    base_rate: float
    widths: list
    values: dict
    shape: np.ndarray


def mup_one_rate(sizes: ForgettingSizes, device: torch.device, cache: ResultsCache, tuning: Tuning, *,
                 first: int = 0) -> MupOneRate:
    """Run the μP arm at the NTK arm's single tuned rate for every width (μP's own promise: one base rate transfers
    across widths, and width does not make it lazier). Uses :func:`configs.evaluation_configs`, so these runs have
    the same form as every other evaluation run (kernel probe included)."""
    e1, widths = min(sizes.epochs), list(sizes.widths)
    base = float(tuning.rates[Arm.NTK.value][widths[0]])
    run_configs = configs.evaluation_configs(sizes, device, Arm.MUP, {w: base for w in widths}, epochs=(e1,),
                                             first=first)
    records = cache.sweep(runs.sequence_run, run_configs, desc="sequences (μP, one base rate)")
    values = {m: analysis.by_width(records, run_configs, m, epochs=e1, widths=widths) for m in METRICS}
    shape = np.full((sizes.seeds, len(widths)), np.nan)
    for w_index, width in enumerate(widths):
        rows = [r for c, r in zip(run_configs, records, strict=True) if c["width"] == width]
        for s_index, record in enumerate(rows):
            if not record.get("diverged"):
                shape[s_index, w_index] = float(np.nanmean(record["kernel_shape_change"]))
    return MupOneRate(base, widths, values, shape)


def run_chapter(profile: str, device: torch.device, cache: ResultsCache, *, seed: int = 0) -> None:
    """Run every stage of Chapter 4 in notebook order (fills the cache; the notebook then renders from it)."""
    sizes = configs.sizes_for(profile)
    kernel_scale(sizes, device, cache, first=seed)
    tuning = tune(sizes, device, cache)
    width_sweep(sizes, device, cache, tuning, first=seed)
    kernel_baseline(sizes, device, cache, first=seed)
    frontier(sizes, device, cache, tuning, first=seed)
    linearized_control(sizes, device, cache, tuning, first=seed)
    mup_one_rate(sizes, device, cache, tuning, first=seed)
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
    words = words or _SLOPE_WORDS
    if interval.n < 3:      # lib.stats.describe gives no verdict either; say so in this chapter's grammar
        return (f"not assessed (estimate {interval.estimate:{words.get('fmt', '.1f')}}{words.get('unit', '')}; "
                f"only {interval.n} seeds)")
    return describe(interval, **words)


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
                tasks=len(configs.ANGLES), profile=profile, mup_base=configs.MUP_BASE_WIDTH,
                probe_per_task=sizes.probe_per_task, overlap_points=sizes.overlap_points,
                mup_epochs=", ".join(map(str, sizes.mup_epochs)))


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
    out["budget_gap"] = describe(budget, larger="higher", smaller="lower", same="not distinguishably different",
                                 fmt=".1f", unit=" pt")
    accuracy_gap = paired_difference(100 * np.nanmean(matched[last]["average_accuracy"], axis=1),
                                     100 * np.nanmean(matched[e1]["average_accuracy"], axis=1))
    out["accuracy_gap"] = describe(accuracy_gap, larger="higher", smaller="lower", same="not distinguishably different",
                                   fmt=".1f", unit=" pt")
    logw = np.log10(sweep.widths)

    def per_seed_slopes(values: np.ndarray) -> np.ndarray:
        return np.array([np.polyfit(logw, 100 * row, 1)[0] for row in values])

    first_slopes = per_seed_slopes(matched[e1]["average_forgetting"])
    slope_gap = paired_difference(per_seed_slopes(matched[last]["average_forgetting"]), first_slopes)
    shrinks = slope_gap.n >= 3 and slope_gap.low > 0 and float(np.mean(first_slopes)) < 0
    out["under_words"] = ("The width effect shrinks with training, in their direction" if shrinks else
                          "We cannot tell from these runs whether the width effect shrinks with training")
    out["slope_gap"] = describe(slope_gap, larger="positive (a flatter slope with more epochs)",
                                smaller="negative (a steeper slope with more epochs)",
                                same="not distinguishable from zero", fmt=".1f", unit=" pt/decade")
    for arm, key in ((Arm.MATCHED.value, "m"), (Arm.NTK.value, "n")):
        fit = per_run(sweep, arm, last, lambda r: float(np.mean(r["train_accuracy"])))   # training accuracy, end
        out[f"{key}_emax_fit_min"] = 100 * float(np.nanmean(fit[:, 0]))
        out[f"{key}_emax_fit_max"] = 100 * float(np.nanmean(fit[:, -1]))
        ok = np.isfinite(fit[:, 0]) & np.isfinite(fit[:, -1])
        fit_gap = paired_difference(100 * fit[ok, -1], 100 * fit[ok, 0]) if ok.sum() >= 3 else None
        out[f"{key}_emax_fit_words"] = (
            "the widest networks end less fitted than the narrowest" if fit_gap is not None and fit_gap.high < 0 else
            "the widest networks end more fitted than the narrowest" if fit_gap is not None and fit_gap.low > 0 else
            "the widest and narrowest networks end about equally fitted")
        out[f"{key}_emax_fit_gap"] = ("not assessed" if fit_gap is None else
                                      describe(fit_gap, larger="higher", smaller="lower",
                                               same="not distinguishably different", fmt=".1f", unit=" pt"))
        first_task = per_run(sweep, arm, e1, lambda r: r["accuracy"][0][0])      # a_11: no transfer from before
        out[f"{key}_a11_min"] = 100 * float(np.nanmean(first_task[:, 0]))
        out[f"{key}_a11_max"] = 100 * float(np.nanmean(first_task[:, -1]))
        a11 = _slope(sweep.widths, 100 * first_task)
        out[f"{key}_a11_slope"] = _words(a11)
        out[f"{key}_a11_words"] = (
            "at matched learning accuracy the wider networks fit the first task more, which by itself would raise "
            "their forgetting: a bias against a width benefit" if _verdict(a11) == "rises" else
            "part of the wider networks' learning accuracy is transfer between rotations; their lower fit of the "
            "first task could by itself lower their forgetting" if _verdict(a11) == "falls" else
            "matching holds for the first task's own fit as well")
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
    def flatter(arm: str) -> bool:    # paired over seeds: is the slope at `last` epochs less negative than at e1?
        x = np.log10(sweep.widths)
        slopes = [np.array([np.polyfit(x, row, 1)[0] if np.isfinite(row).all() else np.nan
                            for row in sweep.values[arm][e]["average_forgetting"]]) for e in (last, e1)]
        d = (slopes[0] - slopes[1])[np.isfinite(slopes[0] - slopes[1])]
        return len(d) >= 3 and paired_difference(slopes[0][np.isfinite(slopes[0] - slopes[1])],
                                                  slopes[1][np.isfinite(slopes[0] - slopes[1])]).low > 0

    if set(first.values()) == {"falls"}:
        if set(later.values()) == {"falls"}:
            tail = (f"it still falls with {last} epochs per task, less steeply in both arms (paired over seeds)"
                    if all(flatter(a) for a in first) else f"it still falls with {last} epochs per task")
        else:
            tail = f"with {last} epochs per task the slope is no longer measurable in every arm"
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
                                               same="about as much as", what="the kernel model",
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


def best_level(front: Frontier, arms: tuple[str, ...] = (Arm.MATCHED.value, Arm.NTK.value, Arm.MUP.value)) -> float:
    """The frontier level that the most seeds reach at every width in every one of ``arms`` (ties: the middle one
    first) — where a comparison of the arms at fixed learning accuracy has the most data."""
    def reached(level: float) -> int:
        return min(int(np.isfinite(front.at[a][level]).all(axis=1).sum()) for a in arms if a in front.at)

    order = sorted(front.levels, key=lambda level: abs(front.levels.index(level) - len(front.levels) // 2))
    return max(order, key=reached)


def frontier_summary(front: Frontier, sizes: ForgettingSizes) -> dict:
    """Experiment 3: F_T read off at fixed learning accuracies — slopes over width per arm and level."""
    out: dict = {}
    for arm, key in _ARM_KEYS:
        if arm not in front.at:
            continue
        parts, assessed = [], []
        for level in front.levels:
            grid = front.at[arm][level]
            usable = int(np.isfinite(grid).all(axis=1).sum())
            missing = "not assessed (fewer than two seeds reach this learning accuracy at every width)"
            part = (f"at LA {100 * level:.0f} %: {_words(front.slopes[arm][level], missing=missing)} "
                    f"({usable} of {grid.shape[0]} seeds reach it at every width)")
            parts.append(part)
            if front.slopes[arm][level] is not None and front.slopes[arm][level].n >= 3:
                assessed.append(part)
        out[f"frontier_{key}"] = "; ".join(parts)
        out[f"frontier_{key}_assessed"] = ("; ".join(assessed) if assessed else
                                           "at no level do three or more seeds reach it at every width")
        out[f"frontier_{key}_verdicts"] = ", ".join(_verdict(front.slopes[arm][level]) for level in front.levels)
    out["frontier_levels"] = ", ".join(f"{100 * level:.0f}" for level in front.levels)
    # along each seed × width curve (three learning rates), does F_T rise with learning accuracy?
    points = np.concatenate([front.points[a].reshape(front.points[a].shape[0], -1, 2) for a in front.points], axis=1)
    la, f = points[..., 0], points[..., 1]              # [rates, curves]
    ok = np.isfinite(la).all(axis=0) & np.isfinite(f).all(axis=0)
    rising = [np.polyfit(la[:, c], f[:, c], 1)[0] > 0 for c in np.flatnonzero(ok) if np.ptp(la[:, c]) > 0]
    out.update(curves_up=int(sum(rising)), curves_n=len(rising))
    return out


def _kernel_offset(kernel: KernelBaseline, la: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``[S, W]``: F_T minus the kernel model's F_T at the same learning accuracy, draw by draw (the kernel curve
    over training time of the same data draw; ``nan`` where the curve does not reach that learning accuracy)."""
    out = np.full(la.shape, np.nan)
    for s_index in range(la.shape[0]):
        for w_index in range(la.shape[1]):
            if np.isfinite(la[s_index, w_index]) and np.isfinite(f[s_index, w_index]):
                reference = analysis.interpolate_at(kernel.learning_accuracy[s_index], kernel.forgetting[s_index],
                                                    la[s_index, w_index])
                out[s_index, w_index] = f[s_index, w_index] - reference
    return out


def linearized_summary(lin: Linearized, sweep: WidthSweep, sizes: ForgettingSizes, kernel: KernelBaseline) -> dict:
    """The linearized-network control (same seeds, one epoch per task). It learns less than the matched network at
    the same rate, so the two are not compared directly: each is set against the kernel model's curve at its own
    learning accuracy, draw by draw (``lin_off_*``, ``net_off_*``: mean offset with a t-interval over seeds)."""
    from lib.stats import mean_interval

    e1 = min(sizes.epochs)
    net = sweep.values[Arm.MATCHED.value][e1]
    out = dict(lin_la_min=100 * float(np.nanmean(lin.values["learning_accuracy"][:, 0])),
               lin_la_max=100 * float(np.nanmean(lin.values["learning_accuracy"][:, -1])),
               net_la_min=100 * float(np.nanmean(net["learning_accuracy"][:, 0])),
               net_la_max=100 * float(np.nanmean(net["learning_accuracy"][:, -1])),
               lin_f_min=100 * float(np.nanmean(lin.values["average_forgetting"][:, 0])),
               lin_f_max=100 * float(np.nanmean(lin.values["average_forgetting"][:, -1])),
               lin_f_slope=_words(lin.slopes["average_forgetting"]),
               lin_la_slope=_words(lin.slopes["learning_accuracy"]))
    words = dict(larger="above", smaller="below", same="on (not distinguishable from)", what="the kernel curve",
                 fmt=".1f", unit=" pt")
    lin_off = 100 * _kernel_offset(kernel, lin.values["learning_accuracy"], lin.values["average_forgetting"])
    net_off = 100 * _kernel_offset(kernel, net["learning_accuracy"], net["average_forgetting"])
    for name, values in (("lin_off", lin_off), ("net_off", net_off)):
        for end, w_index in (("narrow", 0), ("wide", -1)):
            column = values[:, w_index][np.isfinite(values[:, w_index])]
            out[f"{name}_{end}"] = ("not assessed" if len(column) < 3 else
                                    describe(mean_interval(column), **words))
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
                 linearized_summary(lin, sweep, sizes, kernel), scale_summary(scale, tuning),
                 movement_summary(sweep, sizes),
                 laziness_summary(sweep, front, sizes, tuning), overlap_summary(sweep, kernel, sizes),
                 movement_forgetting_summary(sweep, sizes)):
        clash = set(merged) & set(part)
        if clash:
            raise KeyError(f"Summary keys defined twice: {sorted(clash)}.")
        merged.update(part)
    return merged


# ------------------------------------------------------------------------- laziness, overlap, drift (per run)

_ARM_KEYS = ((Arm.MATCHED.value, "m"), (Arm.NTK.value, "n"), (Arm.MUP.value, "u"))


def per_run(sweep: WidthSweep, arm: str, epochs: int, fn) -> np.ndarray:
    """``[S, W]``: ``fn(record)`` for every evaluation run of ``arm`` with ``epochs`` epochs per task (``nan`` for a
    run that diverged or lacks what ``fn`` needs)."""
    out = np.full((len(sweep.seeds), len(sweep.widths)), np.nan)
    for w_index, width in enumerate(sweep.widths):
        rows = [r for c, r in zip(sweep.configs[arm], sweep.records[arm], strict=True)
                if c["width"] == width and c["epochs"] == epochs]
        for s, record in enumerate(rows):
            if not record.get("diverged"):
                try:
                    out[s, w_index] = fn(record)
                except (KeyError, IndexError, ValueError):
                    pass
    return out


def _mean_upper(matrix) -> float:
    return float(np.nanmean(analysis.upper_pairs(matrix)))


def _paired(a: np.ndarray, b: np.ndarray, words: dict) -> str:
    """Paired t-interval of ``a − b`` over the rows where both are finite, in words (``"not assessed"`` below 2)."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return "not assessed"
    return describe(paired_difference(a[ok], b[ok]), **words)


def _seed_slopes(widths, values: np.ndarray) -> np.ndarray:
    """Per-seed OLS slope of ``values [S, W]`` against ``log10`` width (``nan`` for a row with a non-finite value)."""
    x = np.log10(np.asarray(widths, dtype=float))
    return np.array([np.polyfit(x, row, 1)[0] if np.isfinite(row).all() else np.nan for row in values])


def laziness_summary(sweep: WidthSweep, front: Frontier, sizes: ForgettingSizes, tuning: Tuning) -> dict:
    """The μP control, one epoch per task.

    * the μP slope of F_T over all widths and over the widths whose μP pick bracketed the target (a pick on a grid
      edge is not matched learning), and its paired difference from the NTK arm's slope over the same widths;
    * the within-width contrast μP − NTK (the same network at initialization, seeds and data draws; μP's kernel
      moves more): F_T, learning accuracy and the ratio of kernel movement, per width;
    * across the three tuned arms at fixed width: the per-seed least-squares coefficient of F_T on ``log10`` kernel
      movement, with width fixed effects and learning accuracy as a covariate (t over seeds);
    * the kernel-movement exponents, paired μP − matched and μP − NTK;
    * a verdict computed from these.
    """
    e1 = min(sizes.epochs)
    u, n, m = Arm.MUP.value, Arm.NTK.value, Arm.MATCHED.value
    if u not in sweep.values or e1 not in sweep.values[u]:
        return dict(u_verdict="not run in this profile")
    widths = np.asarray(sweep.widths)
    v, s = sweep.values[u][e1], sweep.slopes[u][e1]
    rel_words = dict(larger="rises", smaller="falls", same="shows no trend we can distinguish from zero", fmt=".2f",
                     unit="")
    out = dict(u_la_lo=100 * float(np.nanmin(np.nanmean(v["learning_accuracy"], axis=0))),
               u_la_hi=100 * float(np.nanmax(np.nanmean(v["learning_accuracy"], axis=0))),
               u_la_slope=_words(s["learning_accuracy"]), u_f_slope=_words(s["average_forgetting"]),
               u_rel_slope=_words(s["relative_forgetting"], rel_words),
               u_f_min=100 * float(np.nanmean(v["average_forgetting"][:, 0])),
               u_f_max=100 * float(np.nanmean(v["average_forgetting"][:, -1])),
               u_a_slope=_words(s["average_accuracy"]))
    # widths whose μP pick bracketed the target
    edge = {p.width for p in tuning.picks if p.arm == u and p.warning}
    keep = np.array([w not in edge for w in widths])
    out["u_edge_widths"] = ", ".join(map(str, sorted(edge))) if edge else "none"
    f_u, f_n = 100 * v["average_forgetting"], 100 * sweep.values[n][e1]["average_forgetting"]
    gap_words = dict(larger="larger (less negative)", smaller="smaller (more negative)", same="not distinguishable",
                     fmt=".1f", unit=" pt/decade")
    out["mup_vs_ntk"] = _paired(_seed_slopes(widths, f_u), _seed_slopes(widths, f_n), gap_words)
    kept = widths[keep]
    if len(kept) >= 3 and not keep.all():
        bracketed = _slope(kept, f_u[:, keep])
        out["u_f_slope_kept"] = _words(bracketed)
        gap_kept = (_seed_slopes(kept, f_u[:, keep]), _seed_slopes(kept, f_n[:, keep]))
        out["mup_vs_ntk_kept"] = _paired(*gap_kept, gap_words)
        out["u_kept_words"] = (f"Leaving out the width{'s' if len(edge) > 1 else ''} whose μP pick sits on a grid "
                               f"edge ({out['u_edge_widths']}), over widths {', '.join(map(str, kept))}: μP's "
                               f"$F_T$ {out['u_f_slope_kept']}, and its slope minus the NTK parametrization's is "
                               f"{out['mup_vs_ntk_kept']}.")
    else:
        bracketed, gap_kept = s["average_forgetting"], (_seed_slopes(widths, f_u), _seed_slopes(widths, f_n))
        out["u_f_slope_kept"], out["mup_vs_ntk_kept"] = out["u_f_slope"], out["mup_vs_ntk"]
        out["u_kept_words"] = ("Every μP pick bracketed the target." if not edge else
                               "Too few widths have a bracketed μP pick to leave the others out.")
    # within-width contrast μP − NTK
    la_u, la_n = 100 * v["learning_accuracy"], 100 * sweep.values[n][e1]["learning_accuracy"]
    move = {a: np.nanmean(movement(sweep, a, e1, "kernel_shape_change"), axis=2) for a in (u, n, m)}   # [S, W]
    pt = dict(larger="more", smaller="less", same="not distinguishable", fmt=".1f", unit=" pt")
    rows = []
    for w_index, width in enumerate(widths):
        ratio = float(np.nanmean(move[u][:, w_index] / move[n][:, w_index]))
        rows.append(f"width {width}: {_paired(f_u[:, w_index], f_n[:, w_index], pt)} forgetting, learning accuracy "
                    f"{float(np.nanmean(la_u[:, w_index] - la_n[:, w_index])):+.1f} pt, kernel movement × "
                    f"{ratio:.2f}")
    out["u_contrast"] = "; ".join(rows)
    wide = _paired(f_u[:, -1], f_n[:, -1], pt)
    out["u_contrast_wide"] = wide
    mid = best_level(front, (u, n))
    if u in front.at and n in front.at:
        at_u, at_n = 100 * front.at[u][mid], 100 * front.at[n][mid]
        parts = [f"width {width}: {_paired(at_u[:, k], at_n[:, k], pt)}" for k, width in enumerate(widths)
                 if (np.isfinite(at_u[:, k]) & np.isfinite(at_n[:, k])).sum() >= 3]
        out["u_contrast_level"] = (f"at learning accuracy {100 * mid:.0f} %: " + "; ".join(parts) if parts else
                                   f"at learning accuracy {100 * mid:.0f} % too few seeds reach the level in both arms")
    else:
        out["u_contrast_level"] = "not assessed"
    # across arms at fixed width: F_T on log10 movement, width fixed effects, LA covariate, per seed
    coefficients = []
    for seed_index in range(len(sweep.seeds)):
        design, target = [], []
        for arm in (m, n, u):
            f = 100 * sweep.values[arm][e1]["average_forgetting"][seed_index]
            la = 100 * sweep.values[arm][e1]["learning_accuracy"][seed_index]
            for w_index in range(len(widths)):
                x = np.log10(move[arm][seed_index, w_index])
                if np.isfinite(f[w_index]) and np.isfinite(la[w_index]) and np.isfinite(x):
                    design.append([*np.eye(len(widths))[w_index], la[w_index], x])
                    target.append(f[w_index])
        if len(target) > len(widths) + 2:
            coefficients.append(np.linalg.lstsq(np.array(design), np.array(target), rcond=None)[0][-1])
    from lib.stats import mean_interval

    move_fixed = mean_interval(coefficients) if len(coefficients) >= 3 else None
    out["move_fixed_width"] = ("not assessed" if move_fixed is None else
                               describe(move_fixed, larger="rises", smaller="falls",
                                        same="shows no trend we can distinguish from zero", fmt=".1f",
                                        unit=" pt per tenfold kernel movement"))
    # kernel-movement exponents, paired between arms
    logs = {a: np.log10(move[a]) for a in move}
    exponent = _slope(widths, logs[u])
    out["u_shape_slope"] = ("not assessed" if exponent is None else
                            f"{exponent.text('.2f')} (t over seeds, n = {exponent.n})")
    out["u_shape_min"] = float(np.nanmean(move[u][:, 0]))
    out["u_shape_max"] = float(np.nanmean(move[u][:, -1]))
    exp_words = dict(larger="larger (μP's movement shrinks less with width)",
                     smaller="smaller (μP's movement shrinks more with width)", same="not distinguishable", fmt=".2f",
                     unit="")
    out["u_exp_vs_m"] = _paired(_seed_slopes(widths, logs[u]), _seed_slopes(widths, logs[m]), exp_words)
    out["u_exp_vs_n"] = _paired(_seed_slopes(widths, logs[u]), _seed_slopes(widths, logs[n]), exp_words)
    # the verdict
    mup_falls = _verdict(bracketed) == "falls"
    gap = (gap_kept[0] - gap_kept[1])
    gap = gap[np.isfinite(gap)]
    flatter = len(gap) >= 3 and mean_interval(gap).low > 0
    contrast = paired_difference(f_u[:, -1], f_n[:, -1]) if np.isfinite(f_u[:, -1] - f_n[:, -1]).sum() >= 3 else None
    more_at_equal_width = contrast is not None and contrast.low > 0
    movement_hurts = move_fixed is not None and move_fixed.low > 0
    mup_lazier = exponent is not None and exponent.high < 0  # this μP arm's kernel movement also shrinks with width
    if mup_falls and mup_lazier:
        words = ("this μP arm does not separate laziness from width: its kernel movement shrinks with width too "
                 "(matching its learning per width lowered its base rate), so its falling forgetting is no evidence "
                 "against laziness; "
                 + ("its forgetting falls less steeply than in the NTK parametrization, " if flatter else "")
                 + (f"at width {widths[-1]} the μP networks, whose kernels move more, forget more than the NTK "
                    "networks at nearly equal learning, " if more_at_equal_width else "")
                 + ("across the arms at fixed width more kernel movement goes with more forgetting, "
                    if movement_hurts else "")
                 + ("consistent with laziness contributing to the width effect; " if
                    (flatter or more_at_equal_width or movement_hurts) else "")
                 + "whether width helps without laziness is what the one-base-rate μP run below asks")
    elif mup_falls and (flatter or more_at_equal_width or movement_hurts):
        words = ("forgetting still falls with width in μP, so laziness is not the whole width effect; but "
                 + ("it falls less steeply than in the NTK parametrization, " if flatter else "")
                 + (f"at width {widths[-1]} the μP networks, whose kernels move more, forget more than the NTK "
                    "networks at nearly equal learning, " if more_at_equal_width else "")
                 + ("and across the arms at fixed width more kernel movement goes with more forgetting, "
                    if movement_hurts else "")
                 + "so laziness accounts for part of it")
    elif mup_falls:
        words = ("forgetting still falls with width in μP, and neither its slope nor the within-width contrast with "
                 "the NTK parametrization separates the two: laziness is not needed for the width effect here")
    elif flatter or more_at_equal_width:
        words = ("forgetting does not fall measurably with width in μP while it does in the lazier NTK "
                 "parametrization on the same seeds: laziness is implicated")
    else:
        words = "inconclusive: μP's slope and its contrast with the NTK parametrization are not distinguishable"
    out["u_verdict"] = words
    return out



def mup_one_rate_summary(one: MupOneRate, sweep: WidthSweep, sizes: ForgettingSizes) -> dict:
    """Numbers and verdict of the one-base-rate μP arm against the NTK arm (also one rate for every width; the same
    network, weights, seeds and data at the base width): width slopes of learning accuracy and F_T, the kernel
    movement exponent, and the paired (per-seed) slope differences μP − NTK."""
    e1, widths = min(sizes.epochs), np.asarray(one.widths)
    n = Arm.NTK.value
    la, f = 100 * one.values["learning_accuracy"], 100 * one.values["average_forgetting"]
    la_n, f_n = 100 * sweep.values[n][e1]["learning_accuracy"], 100 * sweep.values[n][e1]["average_forgetting"]
    la_slope, f_slope = _slope(widths, la), _slope(widths, f)
    move = _slope(widths, np.log10(one.shape))
    move_n = _slope(widths, np.log10(np.nanmean(movement(sweep, n, e1, "kernel_shape_change"), axis=2)))
    gap_words = dict(larger="larger (less negative)", smaller="smaller (more negative)", same="not distinguishable",
                     fmt=".1f", unit=" pt/decade")
    out = dict(u1_rate=one.base_rate, u1_base=configs.MUP_BASE_WIDTH,
               u1_la_min=float(np.nanmean(la[:, 0])), u1_la_max=float(np.nanmean(la[:, -1])),
               u1_f_min=float(np.nanmean(f[:, 0])), u1_f_max=float(np.nanmean(f[:, -1])),
               u1_la_slope=_words(la_slope), u1_f_slope=_words(f_slope),
               u1_move=("not assessed" if move is None else f"{move.text('.2f')} (t over seeds, n = {move.n})"),
               u1_move_n=("not assessed" if move_n is None else f"{move_n.text('.2f')} (t over seeds, n = {move_n.n})"),
               u1_f_vs_n=_paired(_seed_slopes(widths, f), _seed_slopes(widths, f_n), gap_words),
               u1_la_vs_n=_paired(_seed_slopes(widths, la), _seed_slopes(widths, la_n), gap_words))
    lazier = move is not None and move.n >= 3 and move.high < 0
    not_lazier = move is not None and move.n >= 3 and move.high >= 0   # no detectable shrinking of its movement
    f_verdict, la_verdict = _verdict(f_slope), _verdict(la_slope)
    gap = (_seed_slopes(widths, f), _seed_slopes(widths, f_n))
    ok = np.isfinite(gap[0]) & np.isfinite(gap[1])
    flatter = ok.sum() >= 3 and paired_difference(gap[0][ok], gap[1][ok]).low > 0
    exps = (_seed_slopes(widths, np.log10(one.shape)),
            _seed_slopes(widths, np.log10(np.nanmean(movement(sweep, n, e1, "kernel_shape_change"), axis=2))))
    fine = np.isfinite(exps[0]) & np.isfinite(exps[1])
    less_lazy = fine.sum() >= 3 and paired_difference(exps[0][fine], exps[1][fine]).low > 0
    out["u1_move_vs_n"] = _paired(*exps, dict(larger="larger (μP's movement shrinks less with width)",
                                              smaller="smaller", same="not distinguishable", fmt=".2f", unit=""))
    learning_note = ("" if la_verdict == "inconclusive" else
                     f"; but its learning accuracy {la_verdict} with width, so the comparison is not at matched "
                     "learning")
    if move is None or move.n < 3 or f_slope is None or f_slope.n < 3:
        words = "not assessed (too few seeds)"
    elif lazier and less_lazy and flatter:
        words = ("consistent with laziness, not decisive: at one base rate μP's kernel movement still shrinks with "
                 "width, but more slowly than the NTK network's (paired), and μP loses the NTK network's width "
                 "benefit (its $F_T$ slope is larger, paired)" + learning_note)
    elif lazier:
        words = ("inconclusive: at one base rate this μP network's kernel movement still shrinks with width, so it "
                 "does not separate laziness from width" + learning_note)
    elif f_verdict == "falls":
        words = ("width helps without laziness: with no detectable shrinking of its kernel movement, μP's forgetting "
                 "still falls with width" + (", less steeply than the NTK network's" if flatter else "")
                 + learning_note)
    elif not_lazier and flatter:
        words = ("laziness implicated: without getting lazier with width, μP's forgetting does not fall "
                 "detectably with width, while the NTK network's (one rate too, the same network at the base width) "
                 "falls more steeply (paired)" + learning_note)
    else:
        words = ("inconclusive: μP's forgetting shows no detectable width trend, but its slope is not "
                 "distinguishable from the NTK network's either" + learning_note)
    out["u1_verdict"] = words
    return out


def overlap_summary(sweep: WidthSweep, kernel: KernelBaseline, sizes: ForgettingSizes) -> dict:
    """The empirical cross-task overlap per width (from the probe kernels of the one-epoch runs), the share of the
    output change that lands on earlier tasks, and per-pair output drift against the analytic overlap."""
    e1, tasks = min(sizes.epochs), len(configs.ANGLES)
    out: dict = {}
    corr_words = dict(larger="positive", smaller="negative", same="not distinguishable from zero", fmt=".2f")
    for arm, key in _ARM_KEYS:
        if arm not in sweep.values or e1 not in sweep.values[arm]:
            continue
        init = per_run(sweep, arm, e1, lambda r: _mean_upper(analysis.block_overlap(r["probe_kernels"][0], tasks)))
        during = per_run(sweep, arm, e1, lambda r: _mean_upper(analysis.overlap_during(r["probe_kernels"], tasks)))
        share = per_run(sweep, arm, e1, lambda r: analysis.drift_share(r["output_drift"]))
        for name, values in (("ov_init", init), ("ov_during", during), ("share", share),
                             ("ov_delta", during - init)):
            out[f"{name}_{key}_min"] = float(np.nanmean(values[:, 0]))
            out[f"{name}_{key}_max"] = float(np.nanmean(values[:, -1]))
            out[f"{name}_{key}_slope"] = _words(_slope(sweep.widths, values), dict(
                larger="rises", smaller="falls", same="shows no trend we can distinguish from zero", fmt=".3f",
                unit=" per decade"))
    out["ov_analytic"] = analytic_probe_overlap(sizes, first=sweep.seeds[0])
    index = kernel.matched_index
    shares = [analysis.drift_share(r["output_drift"][index]) for r in kernel.records if "output_drift" in r]
    out["share_kernel"] = float(np.mean(shares)) if shares else float("nan")
    rho = {"kernel": []} | {arm: [] for arm, _ in _ARM_KEYS}
    for s, record in enumerate(kernel.records):
        overlap = record["overlap_centred"]
        if "output_drift" in record:
            pairs = analysis.drift_pairs(record["output_drift"][index])
            rho["kernel"].append(analysis.pair_correlation(overlap, pairs))
        for arm, _ in _ARM_KEYS:
            if arm not in sweep.records:
                continue
            rows = [r for c, r in zip(sweep.configs[arm], sweep.records[arm], strict=True)
                    if c["epochs"] == e1 and c["width"] == sweep.widths[-1]]
            if s < len(rows) and not rows[s].get("diverged") and rows[s].get("output_drift"):
                rho[arm].append(analysis.pair_correlation(overlap, analysis.drift_pairs(rows[s]["output_drift"])))

    def corr(values: list) -> str:
        interval = analysis.correlation_interval(values)
        return "not assessed" if interval is None else describe(interval, **corr_words)

    out["drift_rho_kernel"] = corr(rho["kernel"])
    for arm, key in _ARM_KEYS:
        out[f"drift_rho_{key}"] = corr(rho.get(arm, []))
    return out


def movement_forgetting_summary(sweep: WidthSweep, sizes: ForgettingSizes) -> dict:
    """Kernel movement against forgetting, run by run across widths: per arm, the per-seed least-squares slope of
    F_T (pt) on ``log10`` of the mean centred shape change over tasks, with a t-interval over seeds."""
    e1 = min(sizes.epochs)
    out: dict = {}
    for arm, key in _ARM_KEYS:
        if arm not in sweep.values or e1 not in sweep.values[arm]:
            continue
        shape = np.log10(np.nanmean(movement(sweep, arm, e1, "kernel_shape_change"), axis=2))     # [S, W]
        f = 100 * sweep.values[arm][e1]["average_forgetting"]
        slopes = [np.polyfit(x, y, 1)[0] for x, y in zip(shape, f, strict=True)
                  if np.isfinite(x).all() and np.isfinite(y).all() and np.ptp(x) > 0]
        if len(slopes) < 2:
            out[f"move_f_{key}"] = "not assessed"
            continue
        from lib.stats import mean_interval

        out[f"move_f_{key}"] = describe(mean_interval(slopes), larger="rises", smaller="falls",
                                        same="shows no trend we can distinguish from zero", fmt=".1f",
                                        unit=" pt per tenfold kernel movement")
    return out


def analytic_probe_overlap(sizes: ForgettingSizes, *, first: int = 0) -> float:
    """Mean over the evaluation draws of the mean centred cross-task overlap of the *analytic* NTK on the same
    probe the networks' kernels are measured on (the first ``probe_per_task`` test images of each task): the
    reference level for :func:`analysis.block_overlap` of the empirical kernels, which with few inputs per task
    sits well below the overlap on many inputs. A small analysis computation (a ``[M, M]`` kernel per draw)."""
    from lib.ntk import relu_ntk

    tasks, values = len(configs.ANGLES), []
    for s in range(first, first + sizes.seeds):
        sequence = runs.load_sequence(sizes.run, s, sizes.n_train, sizes.n_test)
        probe = torch.cat([t.x_test[:sizes.probe_per_task] for t in sequence.tasks]).reshape(
            tasks * sizes.probe_per_task, -1).double()
        k = relu_ntk(probe, depth=sizes.depth)[1].numpy()
        values.append(_mean_upper(analysis.block_overlap(k, tasks)))
    return float(np.mean(values))

"""Chapter 2's experiments as stages the notebook (or a command line) calls in order, and the numbers its text
states (the ``*_summary`` functions return the dicts that :func:`lib.notebook.say` fills).

Each stage runs its sweeps through a :class:`lib.cache.ResultsCache` (finished configs are never redone) and
returns a small dataclass with everything the text and the figures need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from lib.cache import ResultsCache
from lib.experiments.natural_gradient import analysis, configs, runs
from lib.experiments.natural_gradient.analysis import Pick
from lib.experiments.natural_gradient.configs import CNN_DEPTH, TASKS, Method, NaturalGradientSizes
from lib.stats import Interval, describe, holm

__all__ = ["ConditionOne", "condition_one", "ConditionTwo", "condition_two", "TeachingRace", "teaching_race",
           "PracticalRace", "practical_race", "run_chapter", "condition_one_summary", "condition_two_summary",
           "teaching_race_summary", "practical_summary", "METHOD_NAMES", "RACE_NAMES"]

#: Display names of the methods.
METHOD_NAMES = {"sgd": "SGD (momentum 0.9)", "adam": "Adam", "ngd": "mini-batch NGD", "kfac": "K-FAC"}
RACE_NAMES = {"ngd": "NGD (Gauss-Newton)", "gd": "GD (tuned)", "adam": "Adam (tuned)",
              "linearized-ngd": "linearized net, NGD", "gd-stable": "GD at η = 1.9 N/λ_max",
              "ngd-softplus": "NGD, softplus network", "ngd-undamped": "NGD, damping 1e-12"}

#: Rounds of grid extension: after each tuning sweep, a grid whose pick sits on its edge gets one more value beyond
#: that edge (:func:`analysis.extend_grids`), at most this many times.
GRID_EXTENSIONS = 2

#: Parts of the Jacobian change and the result keys of their stability constants.
PARTS = {"total": "c_prime", "activation": "c_prime_activation", "smooth": "c_prime_smooth"}


def _grid(records: list[dict], cfgs: list[dict], key: str, rows: str, cols: str, **match) -> np.ndarray:
    """``[len(row values), len(col values)]`` of ``key`` over the records whose config matches ``match``."""
    chosen = [(c, r) for c, r in zip(cfgs, records, strict=False) if all(c.get(k) == v for k, v in match.items())]
    row_values = sorted({c[rows] for c, _ in chosen})
    col_values = sorted({c[cols] for c, _ in chosen})
    out = np.full((len(row_values), len(col_values)), np.nan)
    for c, r in chosen:
        out[row_values.index(c[rows]), col_values.index(c[cols])] = float(r[key])
    return out


# ----------------------------------------------------------------------------------------------------------------
# (C1)


@dataclass(frozen=True)
class GramLine:
    """The Gram spectra of one architecture against width: ``[S, W]`` arrays and the width → ∞ reference."""

    label: str
    architecture: str
    depth: int
    task: str
    widths: list
    lambda_min: np.ndarray
    lambda_max: np.ndarray
    rank_deficient: np.ndarray
    infinite: tuple | None     # (λ_min, λ_max) of Θ∞ ⊗ I_K, MLPs only

    @property
    def full_rank(self) -> np.ndarray:
        """``[W]``: no seed rank deficient at that width (the filter every later use applies)."""
        return ~self.rank_deficient.astype(bool).any(axis=0)


@dataclass(frozen=True)
class ConditionOne:
    """(C1): one :class:`GramLine` per architecture, and ``NK``."""

    lines: list
    nk: int


def condition_one(sizes: NaturalGradientSizes, tasks: list[str], device: torch.device, cache: ResultsCache, *,
                  first: int = 0) -> ConditionOne:
    """Gram spectra at initialization for every MLP depth and the CNN, and the width → ∞ references."""
    cfgs = configs.gram_configs(sizes, tasks, device, first=first)
    records = cache.sweep(runs.gram_spectrum, cfgs, desc="(C1) Gram spectra")
    inf_cfgs = configs.infinite_configs(sizes, tasks, device, first=first)
    infinite = {(c["task"], c["depth"]): r for c, r in
                zip(inf_cfgs, cache.sweep(runs.infinite_gram_spectrum, inf_cfgs, desc="(C1) width → ∞"), strict=False)}
    lines = []
    for task, arch, depth in dict.fromkeys((c["task"], c["architecture"], c["depth"]) for c in cfgs):
        match = dict(task=task, architecture=arch, depth=depth)
        arrays = {k: _grid(records, cfgs, k, "seed", "width", **match)
                  for k in ("lambda_min", "lambda_max", "rank_deficient")}
        widths = sorted({c["width"] for c in cfgs if all(c[k] == v for k, v in match.items())})
        if arch == "cnn":
            label = f"CNN, {CNN_DEPTH} conv layers (m = channels)"
        else:
            label = f"MLP, L = {depth}" + ("" if task == sizes.task else f", {TASKS[task][2]}")
        ref = infinite.get((task, depth)) if arch == "mlp" else None
        lines.append(GramLine(label, arch, depth, task, widths, arrays["lambda_min"], arrays["lambda_max"],
                              arrays["rank_deficient"], (ref["lambda_min"], ref["lambda_max"]) if ref else None))
    return ConditionOne(lines, sizes.gram_n * 10)


def _first_full_rank(line: GramLine) -> str:
    ok = line.full_rank
    return f"{line.widths[int(np.argmax(ok))]}" if ok.any() else "none of the widths"


def condition_one_summary(c1: ConditionOne, sizes: NaturalGradientSizes) -> dict:
    """The numbers of the (C1) paragraph."""
    mlp = [line for line in c1.lines if line.architecture == "mlp" and line.task == sizes.task]
    cnn = next(line for line in c1.lines if line.architecture == "cnn")
    ratios = []
    for line in mlp:
        ok = line.full_rank
        ratio = line.lambda_min[:, -1].mean() / line.infinite[0] if ok[-1] else float("nan")
        ratios.append(f"{ratio:.2f} at L = {line.depth}")
    first = mlp[0]
    kappa = first.lambda_max[:, -1].mean() / first.lambda_min[:, -1].mean()
    gap = 1.0 - first.lambda_min / first.infinite[0]                  # [S, W]
    cols = np.flatnonzero(first.full_rank & (gap > 0).all(axis=0))
    gap_slope = analysis.seed_slope(np.asarray(first.widths)[cols], gap[:, cols]) if len(cols) >= 2 else None
    return dict(nk=c1.nk, n=sizes.gram_n, first_full=_first_full_rank(first), depth=first.depth,
                gram_wmax=first.widths[-1], m_over_nk=first.widths[-1] / c1.nk, ratios="; ".join(ratios),
                cnn_first_full=_first_full_rank(cnn), cnn_max=cnn.widths[-1], kappa=kappa,
                gap_slope=_slope_text(gap_slope),
                gap_widths=f"{first.widths[cols[0]]}–{first.widths[cols[-1]]}" if len(cols) else "none",
                lam0_inf=first.infinite[0])


# ----------------------------------------------------------------------------------------------------------------
# (C2)


@dataclass(frozen=True)
class StabilitySweep:
    """One (C2) sweep: ``x`` (widths or N) and ``[S, X]`` arrays (one row per seed, each seed its own data draw):
    the stability constants per part, the largest Jacobian changes per part (spectral and Frobenius norms), λ₀ and
    diagnostics; ``slopes`` holds per-seed log-log slopes over the full-rank columns with t-intervals over seeds."""

    x: list
    c_prime: dict            # part -> [S, X]
    change: dict             # "total", "activation", "smooth", "total_fro", ... -> [S, X] max_k ‖J_k − J_0‖
    rank_deficient: np.ndarray
    flipped: np.ndarray
    distance_over_rho: np.ndarray
    lambda0: np.ndarray
    converged: np.ndarray
    slopes: dict             # "c_prime/total", "change/activation", "lambda0", "distance", ... -> Interval
    distance: np.ndarray | None = None   # [S, X] max_k ‖θ_k − θ_0‖₂

    @property
    def full_rank(self) -> np.ndarray:
        return ~self.rank_deficient.astype(bool).any(axis=0)

    def columns(self, last: int | None = None) -> np.ndarray:
        """Indices of the full-rank columns (the last ``last`` of them)."""
        cols = np.flatnonzero(self.full_rank)
        return cols if last is None else cols[-last:]


CHANGE_KEYS = ("total", "activation", "smooth", "total_fro", "activation_fro", "smooth_fro")


def _grid_of(records: list[dict], cfgs: list[dict], fn, rows: str, cols: str, **match) -> np.ndarray:
    """As :func:`_grid` with ``fn(record)`` instead of a key."""
    chosen = [(c, r) for c, r in zip(cfgs, records, strict=False) if all(c.get(k) == v for k, v in match.items())]
    row_values = sorted({c[rows] for c, _ in chosen})
    col_values = sorted({c[cols] for c, _ in chosen})
    out = np.full((len(row_values), len(col_values)), np.nan)
    for c, r in chosen:
        out[row_values.index(c[rows]), col_values.index(c[cols])] = float(fn(r))
    return out


def _stability_sweep(records: list[dict], cfgs: list[dict], xkey: str, **match) -> StabilitySweep:
    arrays = {k: _grid(records, cfgs, k, "seed", xkey, **match)
              for k in ("rank_deficient", "flipped", "max_distance", "rho", "lambda0", "converged", *PARTS.values())}
    change = {k: _grid_of(records, cfgs, lambda r, k=k: max(r[k]), "seed", xkey, **match) for k in CHANGE_KEYS}
    x = sorted({c[xkey] for c in cfgs if all(c.get(k) == v for k, v in match.items())})
    c_prime = {part: arrays[key] for part, key in PARTS.items()}
    ok = ~arrays["rank_deficient"].astype(bool).any(axis=0)
    xs = np.asarray(x)
    slopes = {}
    if ok.sum() >= 2:
        for name, values in [*((f"c_prime/{p}", v) for p, v in c_prime.items()),
                             *((f"change/{k}", v) for k, v in change.items()), ("lambda0", arrays["lambda0"]),
                             ("distance", arrays["max_distance"])]:
            slopes[name] = analysis.seed_slope(xs[ok], values[:, ok])
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = arrays["max_distance"] / arrays["rho"]
    return StabilitySweep(x, c_prime, change, arrays["rank_deficient"], arrays["flipped"], fraction,
                          arrays["lambda0"], arrays["converged"], slopes, arrays["max_distance"])


@dataclass(frozen=True)
class ConditionTwo:
    """(C2): stability sweeps against width per activation, against N at two widths, for deeper MLPs, and the CNN
    (``cnn`` maps a result key to its ``[S, C]`` array over channel counts)."""

    widths: dict             # activation -> StabilitySweep over widths (one hidden layer)
    against_n: StabilitySweep          # at width n_width
    against_n_narrow: StabilitySweep   # at width n_width / 4
    depths: dict             # depth -> StabilitySweep over widths (ReLU)
    cnn_channels: list
    cnn: dict
    n: int
    n_width: int
    lambda_inf: dict | None = None     # activation "relu" -> [S] λ_min of the width → ∞ Gram of each seed's draw

    @property
    def cnn_full_rank(self) -> np.ndarray:
        return ~self.cnn["rank_deficient"].astype(bool).any(axis=0)


def condition_two(sizes: NaturalGradientSizes, device: torch.device, cache: ResultsCache, *,
                  first: int = 0) -> ConditionTwo:
    """The Jacobian change along NGD trajectories, split into its activation and smooth parts."""
    width_cfgs = configs.width_configs(sizes, device, first=first)
    width_records = cache.sweep(runs.stability_run, width_cfgs, desc="(C2) against width")
    widths = {a: _stability_sweep(width_records, width_cfgs, "width", activation=a) for a in sizes.activations}
    n_cfgs = configs.n_configs(sizes, device, first=first)
    n_records = cache.sweep(runs.stability_run, n_cfgs, desc="(C2) against N")
    against_n = _stability_sweep(n_records, n_cfgs, "n_train", width=sizes.n_width)
    against_n_narrow = _stability_sweep(n_records, n_cfgs, "n_train", width=sizes.n_width // 4)
    depth_cfgs = configs.depth_configs(sizes, device, first=first)
    depth_records = cache.sweep(runs.stability_run, depth_cfgs, desc="(C2) deeper MLPs")
    depths = {1: widths["relu"]} | {d: _stability_sweep(depth_records, depth_cfgs, "width", depth=d)
                                    for d in sizes.deep_depths}
    cnn_cfgs = configs.cnn_stability_configs(sizes, device, first=first)
    cnn_records = cache.sweep(runs.cnn_stability_run, cnn_cfgs, desc="(C2) CNN")
    cnn = {k: _grid(cnn_records, cnn_cfgs, k, "seed", "width")
           for k in ("c_prime", "rank_deficient", "lambda0", "relative_change", "distance_over_rho",
                     "final_loss_ratio")}
    inf_cfgs = [dict(task=sizes.task, n_train=sizes.stability_n, data_seed=s, depth=1, device=device.type)
                for s in sorted({c["seed"] for c in width_cfgs})]
    inf = cache.sweep(runs.infinite_gram_spectrum, inf_cfgs, desc="(C2) width → ∞ λ₀")
    return ConditionTwo(widths, against_n, against_n_narrow, depths, sorted({c["width"] for c in cnn_cfgs}), cnn,
                        sizes.stability_n, sizes.n_width, {"relu": np.array([r["lambda_min"] for r in inf])})


def _slope_text(interval: Interval | None) -> str:
    if interval is None:
        return "not fitted (fewer than two full-rank points)"
    if not math.isfinite(interval.low):
        return f"{interval.estimate:.2f} ({interval.method})"
    return f"{interval.estimate:.2f} [{interval.low:.2f}, {interval.high:.2f}]"


def _width_text(value: float) -> str:
    if not math.isfinite(value):
        return "never (the fitted law does not fall)"
    exponent = math.floor(math.log10(value))
    return f"{value / 10 ** exponent:.1f}e{exponent}"


def _geo(values: np.ndarray) -> np.ndarray:
    """Geometric mean over rows (``nan`` where a column has a non-positive entry, e.g. a rank-deficient λ₀)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.log(np.asarray(values, dtype=float)).mean(axis=0))


def _versus_half(interval: Interval) -> str:
    """How an exponent's interval sits against −1/2, in words."""
    if not math.isfinite(interval.low):
        return "not assessed (no interval)"
    if interval.low > -0.5:
        return "falls more slowly than $m^{-1/2}$"
    if interval.high < -0.5:
        return "falls faster than $m^{-1/2}$"
    return "is not distinguishable from $m^{-1/2}$"


def _sweep_words(sweep: StabilitySweep, prefix: str) -> dict:
    out = {f"{prefix}_{part}": _slope_text(sweep.slopes.get(f"c_prime/{part}")) for part in PARTS}
    out.update({f"{prefix}_dj_{k}": _slope_text(sweep.slopes.get(f"change/{k}")) for k in CHANGE_KEYS})
    out[f"{prefix}_lam0_slope"] = _slope_text(sweep.slopes.get("lambda0"))
    out[f"{prefix}_distance_slope"] = _slope_text(sweep.slopes.get("distance"))
    total = sweep.slopes.get("change/total")
    out[f"{prefix}_dj_verdict"] = _versus_half(total) if total else "not assessed"
    cols = sweep.columns()
    if len(cols) >= 3:
        xs = np.asarray(sweep.x)[cols]
        act = analysis.seed_slopes(xs, sweep.change["activation"][:, cols])
        smo = analysis.seed_slopes(xs, sweep.change["smooth"][:, cols])
        out[f"{prefix}_split_test"] = describe(
            analysis.paired(act, smo), larger="shallower than", smaller="steeper than",
            same="not distinguishable from", fmt=".2f", what="the smooth part's")
    else:
        out[f"{prefix}_split_test"] = "not assessed (fewer than three widths)"
    rank = (sweep.change["activation_fro"] / sweep.change["activation"]) ** 2
    out[f"{prefix}_rank_first"], out[f"{prefix}_rank_last"] = float(_geo(rank)[cols[0]]), float(_geo(rank)[cols[-1]])
    local = analysis.local_slopes(np.asarray(sweep.x)[cols], sweep.change["total"][:, cols])
    out[f"{prefix}_local"] = ", ".join(f"{v:.2f}" for v in local)
    return out


def condition_two_summary(c2: ConditionTwo) -> dict:
    """The numbers and computed verdicts of the (C2) paragraphs."""
    relu, smooth_name = c2.widths["relu"], next((a for a in c2.widths if a != "relu"), None)
    out = dict(n=c2.n, nk=c2.n * 10, wmin=relu.x[0], wmax=relu.x[-1], seeds=relu.c_prime["total"].shape[0])
    out.update(_sweep_words(relu, "relu"))
    cols = relu.columns()
    wide = relu.columns(last=4)
    out["wide_count"] = len(wide)
    out["relu_wide"] = (_slope_text(analysis.seed_slope(np.asarray(relu.x)[wide], relu.c_prime["total"][:, wide]))
                        if len(wide) < len(cols) else "the same fit (the profile has no more widths)")
    last = cols[-1]
    c_max = float(_geo(relu.c_prime["total"])[last])
    out.update(c_at_wmax=c_max, w_last=relu.x[last],
               excluded=", ".join(str(w) for w, good in zip(relu.x, relu.full_rank, strict=True) if not good)
               or "none",
               converged=int(relu.converged.sum()), runs=relu.converged.size)
    # crossing of 1/2 per seed, from each seed's own power law
    lx = np.log10(np.asarray(relu.x, dtype=float)[cols])
    crossings = []
    for row in np.log10(relu.c_prime["total"][:, cols]):
        b, a = np.polyfit(lx, row, 1)
        crossings.append(10 ** ((math.log10(0.5) - a) / b) if b < 0 else math.inf)
    crossings = np.asarray(crossings)
    out["cross"] = _width_text(float(np.exp(np.log(crossings).mean())))
    out["cross_low"], out["cross_high"] = _width_text(float(crossings.min())), _width_text(float(crossings.max()))
    out["cross_quarter"] = _width_text(relu.x[last] * (c_max / 0.5) ** 4)
    out["cross_half"] = _width_text(relu.x[last] * (c_max / 0.5) ** 2)
    out["flip_min"], out["flip_max"] = float(relu.flipped[:, cols[0]].mean()), float(relu.flipped[:, last].mean())
    out["flip_slope"] = _slope_text(analysis.seed_slope(np.asarray(relu.x)[cols], relu.flipped[:, cols]))
    if c2.lambda_inf is not None:
        out["lam_ratio"] = float(np.mean(relu.lambda0[:, last] / c2.lambda_inf["relu"]))
    out["rho_fraction"] = float(np.nanmax(relu.distance_over_rho))
    out["rho_fraction_min"] = float(np.nanmin(relu.distance_over_rho))
    if smooth_name:
        out.update(smooth_name=smooth_name, **_sweep_words(c2.widths[smooth_name], "smooth"))
    for key, sweep in (("n", c2.against_n), ("n_narrow", c2.against_n_narrow)):
        out[f"{key}_slope"] = _slope_text(sweep.slopes.get("c_prime/total"))
        out[f"{key}_dj_slope"] = _slope_text(sweep.slopes.get("change/total"))
        out[f"{key}_lam0_slope"] = _slope_text(sweep.slopes.get("lambda0"))
    out.update(n_values=", ".join(map(str, c2.against_n.x)), n_width=c2.n_width, n_width_narrow=c2.n_width // 4)
    # C' ≈ c N^a m^b: the width needed for C' < 1/2 grows like N^(-a/b)
    a_values = [sw.slopes["c_prime/total"].estimate for sw in (c2.against_n_narrow, c2.against_n)
                if "c_prime/total" in sw.slopes]
    b = relu.slopes["c_prime/total"].estimate if "c_prime/total" in relu.slopes else float("nan")
    exps = sorted(-a / b for a in a_values) if a_values and b < 0 else [float("nan")]
    out.update(a_low=min(a_values, default=float("nan")), a_high=max(a_values, default=float("nan")), b=b,
               width_exp_low=exps[0], width_exp_high=exps[-1], width_exp_quarter_low=4 * min(a_values, default=0),
               width_exp_quarter_high=4 * max(a_values, default=0))
    grows = [sw.slopes.get("c_prime/total") for sw in (c2.against_n_narrow, c2.against_n)]
    if all(g is not None and math.isfinite(g.low) and g.low > 0 for g in grows):
        out["n_verdict"] = ("At both widths $C'$ grows with $N$, so the width needed for $C'<\\tfrac12$ grows with "
                            "the data set.")
    else:
        out["n_verdict"] = ("The growth with $N$ is not resolved at both widths (an interval contains 0 or is "
                            "missing), so this profile does not show how the required width scales with $N$.")
    depth_words = []
    for depth, sweep in c2.depths.items():
        if depth == 1:
            continue
        dcols = sweep.columns()
        at_max = float(_geo(sweep.c_prime["total"])[dcols[-1]]) if len(dcols) else float("nan")
        depth_words.append(f"L = {depth}: exponent {_slope_text(sweep.slopes.get('c_prime/total'))}, C′ = "
                           f"{at_max:.2f} at width {sweep.x[dcols[-1]] if len(dcols) else '—'}")
    out["depth_words"] = "; ".join(depth_words)
    ratios = []
    for depth, sweep in c2.depths.items():
        common = [w for w in sweep.x if w in relu.x]
        if depth == 1 or not common:
            continue
        w = common[-1]
        ratio = _geo(sweep.c_prime["total"])[sweep.x.index(w)] / _geo(relu.c_prime["total"])[relu.x.index(w)]
        ratios.append(f"{ratio:.2f}× at L = {depth}")
    out["depth_ratio"] = ", ".join(ratios) if ratios else "not measured"
    out["depth_ratio_width"] = max((w for d, sw in c2.depths.items() if d != 1 for w in sw.x if w in relu.x),
                                   default=0)
    ok_cnn = c2.cnn_full_rank
    geo = {k: _geo(v) for k, v in c2.cnn.items() if k != "rank_deficient"}
    cnn = [f"{geo['c_prime'][i]:.2g} at {c} channels" for i, c in enumerate(c2.cnn_channels) if ok_cnn[i]]
    out["cnn_words"] = ", ".join(cnn) if cnn else "not measurable (every channel count rank deficient)"
    last_cnn = int(np.flatnonzero(ok_cnn)[-1]) if ok_cnn.any() else -1
    relative = float(geo["relative_change"][last_cnn])
    out["cnn_lazy"] = ("a sizeable fraction of its initial norm, so at these channel counts the CNN is not in the lazy "
                       "regime" if relative >= 0.3 else "a small fraction of its initial norm")
    out.update(cnn_lam0=float(geo["lambda0"][last_cnn]), cnn_channels_max=c2.cnn_channels[last_cnn],
               cnn_relative=float(geo["relative_change"][last_cnn]),
               cnn_rho=float(geo["distance_over_rho"][last_cnn]), cnn_loss=float(geo["final_loss_ratio"][last_cnn]),
               mlp_lam0=float(_geo(relu.lambda0)[last]))
    below, controls = [], []
    labelled = [(f"{a}, L = 1, N = {c2.n}", sw, "width", a != "relu") for a, sw in c2.widths.items()]
    labelled += [(f"ReLU, L = {d}, N = {c2.n}", sw, "width", False) for d, sw in c2.depths.items() if d != 1]
    labelled += [(f"ReLU, L = 1, m = {w}", sw, "N", False) for w, sw in ((c2.n_width, c2.against_n),
                                                                         (c2.n_width // 4, c2.against_n_narrow))]
    for label, sweep, xname, control in labelled:  # per seed: the necessary condition C' < 1/2 is a per-network fact
        values = sweep.c_prime["total"]
        for i, (x, ok) in enumerate(zip(sweep.x, sweep.full_rank, strict=True)):
            k = int((values[:, i] < 0.5).sum())
            if ok and k:
                text = (f"{label}, {xname} = {x}: {k} of {values.shape[0]} seeds (geometric mean "
                        f"{float(_geo(values[:, i:i + 1])[0]):.2f})")
                (controls if control else below).append(text)
    cnn_values = c2.cnn["c_prime"]
    below += [f"CNN, {c} channels: {int((cnn_values[:, i] < 0.5).sum())} of {cnn_values.shape[0]} seeds"
              for i, (c, ok) in enumerate(zip(c2.cnn_channels, ok_cnn, strict=True))
              if ok and (cnn_values[:, i] < 0.5).any()]
    out["cnn_min"] = float(np.nanmin(np.where(ok_cnn, geo["c_prime"], np.nan))) if ok_cnn.any() else math.inf
    mlp_max = max(float(np.nanmax(np.where(np.isfinite(sw.c_prime["total"]), sw.c_prime["total"], np.nan)))
                  for sw in [*c2.widths.values(), *c2.depths.values()])
    out["cnn_rank"] = ("the CNN's constants are the largest measured" if out["cnn_min"] > mlp_max else
                       f"the CNN's are {out['cnn_words']}")
    verdict = ("$C'<\\tfrac12$, necessary for (C2) with $C<\\tfrac12$, fails in every seed of every ReLU network "
               "and CNN measured" if not below else
               "$C'<\\tfrac12$ (necessary for (C2)) holds in " + "; ".join(below) + ", and fails everywhere else")
    if controls:
        verdict += (". In the softplus control it holds in " + "; ".join(controls) + ": there the necessary "
                    "condition is met, while (C2) itself, over the whole ball, is not tested")
    out["c2_verdict"] = verdict
    return out


# ----------------------------------------------------------------------------------------------------------------
# Teaching race


@dataclass(frozen=True)
class TeachingRace:
    """The full-batch race: picks, runs per optimizer (over seeds), residual norms and convergence orders."""

    picks: list
    runs: dict               # optimizer -> [records over seeds]
    residuals: dict          # optimizer -> [S, T] ‖y − u_k‖
    orders: dict             # optimizer -> [S] fitted convergence order above the float64 floor
    floor: float
    n: int
    width: int


def teaching_race(sizes: NaturalGradientSizes, device: torch.device, cache: ResultsCache, *,
                  first: int = 0) -> TeachingRace:
    """Tune GD and Adam on the tuning seed, then race all :class:`Race` optimizers on the evaluation seeds."""
    settings = configs.race_grids(sizes)
    for round_ in range(GRID_EXTENSIONS + 1):
        tune_cfgs = configs.race_tuning_configs(sizes, device, first=first, settings=settings)
        rates, picks = analysis.pick_learning_rate(
            cache.sweep(runs.race_run, tune_cfgs, desc="race: tuning" + (f" (extension {round_})" if round_ else "")),
            tune_cfgs)
        settings = analysis.extend_grids(settings, picks, {k: {"learning_rate": v} for k, v in rates.items()})
        if settings is None or round_ == GRID_EXTENSIONS:
            break
    cfgs = configs.race_configs(sizes, device, rates, first=first)
    records = cache.sweep(runs.race_run, cfgs, desc="race")
    by_name: dict[str, list] = {}
    for c, r in zip(cfgs, records, strict=False):
        key = c["optimizer"]
        if "activation" in c:
            key = f"ngd-{c['activation']}"
        elif "damping" in c:
            key = "ngd-undamped"
        by_name.setdefault(key, []).append(r)
    residuals = {k: analysis.curve_arrays([dict(r, norms=analysis.residual_norms(r).tolist()) for r in v], "norms")
                 for k, v in by_name.items()}
    r0 = float(residuals["ngd"][:, 0].mean())
    floor = 1e4 * float(np.finfo(np.float64).eps) * r0
    orders = {k: np.array([analysis.convergence_order(row, floor) for row in v]) for k, v in residuals.items()}
    return TeachingRace(picks, by_name, residuals, orders, floor, sizes.race_n, sizes.race_width)


def _asymptotics(residuals: np.ndarray) -> tuple[np.ndarray, list, float, int]:
    """Per seed of ``residuals [S, T]``: the local order ``log(r_k/r_{k−1})/log(r_{k−1}/r_{k−2})`` of the last step
    whose result is still 100× above the run's float64 plateau (the median of its last three residuals), and that
    step's index; the largest ``r_k/r_{k−1}²`` over those steps; the steps until every seed is below ``10⁻⁶ r₀``."""
    orders, steps, constants = [], [], []
    for row in residuals:
        plateau = float(np.median(row[-3:]))
        above = np.flatnonzero(row[1:] > 100 * plateau) + 1        # steps k (1-based) whose r_k is resolvable
        k = int(above[-1]) if above.size else 1
        orders.append(float(np.log(row[k] / row[k - 1]) / np.log(row[k - 1] / row[k - 2])) if k >= 2 else np.nan)
        steps.append(k)
        ks = np.arange(1, k + 1)
        constants.append(float((row[ks] / row[ks - 1] ** 2).max()))
    below = residuals <= 1e-6 * residuals[:, :1]
    reach = int(max(np.argmax(b) if b.any() else residuals.shape[1] for b in below))
    return np.asarray(orders), steps, float(max(constants)), reach


def teaching_race_summary(race: TeachingRace) -> dict:
    """The numbers and computed verdicts of the teaching race's paragraph."""
    ngd = race.residuals["ngd"]
    mean = np.exp(np.log(ngd).mean(axis=0))
    rate_floor = float(np.exp(np.log(race.residuals["linearized-ngd"][:, 1] / race.residuals["linearized-ngd"][:, 0])
                              .mean()))
    out = dict(n=race.n, nk=race.n * 10, width=race.width, floor=race.floor, rate_floor=rate_floor,
               ngd_steps=" → ".join(f"{v:.1g}" for v in mean[:7]),
               plateau=float(mean[-1]))
    constants = (ngd[:, 1:4] / ngd[:, :3] ** 2)
    out["constants"] = ", ".join(f"{v:.2g}" for v in np.exp(np.log(constants).mean(axis=0)))
    local = np.log(ngd[:, 2:4] / ngd[:, 1:3]) / np.log(ngd[:, 1:3] / ngd[:, 0:2])
    out["local_orders"] = ", ".join(f"{v:.2f}" for v in local.mean(axis=0))
    words = []
    for name in ("ngd", "ngd-undamped", "ngd-softplus"):
        if name not in race.residuals:
            continue
        last, steps, c_max, reach = _asymptotics(race.residuals[name])
        key = name.replace("-", "_")
        out.update({f"last_order_{key}_low": float(np.nanmin(last)), f"last_order_{key}_high": float(np.nanmax(last)),
                    f"c_max_{key}": c_max, f"reach_{key}": reach})
        words.append(f"{RACE_NAMES[name]}: local order {np.nanmin(last):.1f}–{np.nanmax(last):.1f} on its last "
                     f"resolvable step (step {min(steps)}–{max(steps)}), $r_{{k+1}}/r_k^2\\le$ {c_max:.2g} on every "
                     f"step, residual below $10^{{-6}}r_0$ after {reach} steps")
    out["order_words"] = "; ".join(words)
    last, _, _, _ = _asymptotics(race.residuals["ngd"])
    typical = float(np.nanmedian(last))
    out["order_verdict"] = ("in a way consistent with quadratic convergence once the residual is small"
                            if typical >= 1.8 else
                            "superlinearly, but the last resolvable step does not show a quadratic order"
                            if typical > 1.2 else "about linearly")
    reach_relu, reach_soft = out["reach_ngd"], out.get("reach_ngd_softplus", out["reach_ngd"])
    out["smooth_words"] = (f"after a pre-asymptotic phase that is longer for ReLU ({reach_relu} steps to "
                           f"$10^{{-6}}r_0$) than for softplus ({reach_soft}): the flips make the effective "
                           "$M/\\lambda$ of the bound larger" if reach_relu > reach_soft else
                           f"with a pre-asymptotic phase no longer for ReLU ({reach_relu} steps to $10^{{-6}}r_0$) "
                           f"than for softplus ({reach_soft})")
    out["order_caveat"] = ("float64 leaves one or two steps in the asymptotic regime, so the order is not estimated "
                           "precisely")
    lam_min = np.array([r["lambda_min"] for r in race.runs["ngd"]])
    lam_max = np.array([r["lambda_max"] for r in race.runs["ngd"]])
    out["kappa"] = float(np.exp(np.log(lam_max / lam_min).mean()))
    gd = race.residuals["gd"]
    out["gd_peak"] = float((gd[:, :20].max(axis=1) / gd[:, 0]).max())
    out["gd_catapult"] = (f"the residual first rises to {out['gd_peak']:.1f}× its initial value (a catapult: the "
                          "network leaves the kernel regime before it settles)"
                          if out["gd_peak"] > 1.05 else "the residual falls from the start")
    stable = race.residuals["gd-stable"]
    late = stable[:, 1:] / stable[:, :-1]
    out["stable_rate"] = float(np.exp(np.log(late[:, -50:]).mean()))
    out["stable_predicted"] = float(np.exp(np.log(1 - 1.9 * lam_min / lam_max).mean()))
    out["stable_final"] = float(stable[:, -1].mean() / stable[:, 0].mean())
    out["gd_steps"] = gd.shape[1] - 1
    out["gd_final"] = float(gd[:, -1].mean() / gd[:, 0].mean())
    out["adam_final"] = float(race.residuals["adam"][:, -1].mean() / race.residuals["adam"][:, 0].mean())
    out["lin_first"] = float(race.residuals["linearized-ngd"][:, 1].mean())
    out["r0"] = float(mean[0])
    step_ms = {name: 1e3 * float(np.mean([r["seconds"][-1] / max(r["steps"][-1], 1) for r in race.runs[name]]))
               for name in ("ngd", "gd")}
    out.update(ngd_step_ms=step_ms["ngd"], gd_step_ms=step_ms["gd"], step_ratio=step_ms["ngd"] / step_ms["gd"])
    out["tuning_seeds"] = race.picks[0].seeds
    out["lrs"] = ", ".join(f"{RACE_NAMES[p.method]} {p.values['learning rate']:g}" for p in race.picks)
    out["edges"] = ("; ".join(f"{RACE_NAMES[p.method]}: {', '.join(p.edges)}" for p in race.picks if p.edges)
                    or "no pick sits on the edge of its grid")
    return out


# ----------------------------------------------------------------------------------------------------------------
# Practical race


@dataclass(frozen=True)
class PracticalRace:
    """The practical race: picks, runs per method over the evaluation seeds, paired comparisons, C′ on probes."""

    picks: dict
    table: list
    runs: dict               # method -> [records over seeds]
    reference: str           # the first-order method with the better validation score
    times: dict              # "ngd"/"kfac" -> [S] seconds of the per-second comparison, per seed: the method's last
    #                          logged time that every first-order run has reached
    per_epoch: dict          # "ngd − adam" -> (Interval of the test-accuracy difference after the last epoch, Holm p)
    per_second: dict         # the same at the common time budget
    seconds_per_epoch: dict  # method -> mean seconds per epoch
    sizes: NaturalGradientSizes
    target: float            # the test accuracy every run reaches (the lowest of the runs' best accuracies)
    to_target: dict          # method -> [S] optimizer seconds to first reach it
    per_target: dict         # "ngd − adam" -> (Interval of the log10 ratio of times to target, Holm p)


def practical_race(sizes: NaturalGradientSizes, device: torch.device, cache: ResultsCache, *,
                   first: int = 0) -> PracticalRace:
    """Tune every :class:`Method` on the validation split, run the picks on the evaluation seeds (test split), and
    compare the second-order methods with both first-order ones per epoch and per second (paired over seeds)."""
    settings = configs.grids(sizes)
    for round_ in range(GRID_EXTENSIONS + 1):
        tune_cfgs = configs.practical_tuning_configs(sizes, device, first=first, settings=settings)
        picks, table = analysis.pick_practical(
            cache.sweep(runs.practical_run, tune_cfgs,
                        desc="practical: tuning" + (f" (extension {round_})" if round_ else "")), tune_cfgs)
        settings = analysis.extend_grids(settings, table, picks)
        if settings is None or round_ == GRID_EXTENSIONS:
            break
    cfgs = configs.practical_configs(sizes, device, picks, first=first)
    records = cache.sweep(runs.practical_run, cfgs, desc="practical race")
    by_method = {m.value: [r for c, r in zip(cfgs, records, strict=False) if c["method"] == m.value] for m in Method}
    scores = {p.method: p.score for p in table}
    reference = min(("sgd", "adam"), key=lambda m: scores[m])
    # Equal-time comparison: for each seed, the second-order run's last logged time that every first-order run has
    # reached (first-order runs log densely, so their value there lags by at most one of their log intervals).
    shortest_first = min(r["seconds"][-1] for m in ("sgd", "adam") for r in by_method[m])
    times = {m: [max(t for t in r["seconds"] if t <= shortest_first) for r in by_method[m]] for m in ("ngd", "kfac")}
    raw_epoch, raw_second = {}, {}
    for second in ("ngd", "kfac"):
        for first_order in ("sgd", "adam"):
            name = f"{second} − {first_order}"
            a, b = by_method[second], by_method[first_order]
            at_epoch = [[100 * analysis.value_at_epoch(r, "eval_accuracy", sizes.epochs) for r in rs] for rs in (a, b)]
            raw_epoch[name] = analysis.paired(*at_epoch)
            raw_second[name] = analysis.paired(
                [100 * analysis.value_at_time(r, "eval_accuracy", t) for r, t in zip(a, times[second], strict=False)],
                [100 * analysis.value_at_time(r, "eval_accuracy", t) for r, t in zip(b, times[second], strict=False)])

    def adjust(raw: dict) -> dict:
        p = holm([iv.p_value if math.isfinite(iv.p_value) else 1.0 for iv in raw.values()])
        return {k: (iv, float(q)) for (k, iv), q in zip(raw.items(), p, strict=False)}

    # time to a target accuracy that every run reaches: the lowest final accuracy of all runs
    target = min(max(r["eval_accuracy"]) for rs in by_method.values() for r in rs)
    to_target = {m: [next(t for t, a in zip(r["seconds"], r["eval_accuracy"], strict=False) if a >= target) for r in rs]
                 for m, rs in by_method.items()}
    raw_target = {f"{b} − {a}": analysis.paired(np.log10(np.maximum(to_target[b], 1e-6)),
                                                np.log10(np.maximum(to_target[a], 1e-6)))
                  for b in ("ngd", "kfac") for a in ("sgd", "adam")}
    per_epoch_seconds = {m: float(np.mean([r["seconds"][-1] / r["epoch"][-1] for r in rs]))
                         for m, rs in by_method.items()}
    return PracticalRace(picks, table, by_method, reference, times, adjust(raw_epoch), adjust(raw_second),
                         per_epoch_seconds, sizes, target, to_target, adjust(raw_target))


def _verdict(item: tuple[Interval, float], what: str) -> str:
    interval, p = item
    if interval.n < 3:  # describe() gives no verdict below three repetitions; say so briefly
        return f"not assessed against {what} (estimate {interval.estimate:+.2f} pt, n = {interval.n})"
    return describe(interval, larger="higher than", smaller="lower than", same="not distinguishable from",
                    fmt=".2f", unit=" pt", adjusted_p=p, what=what)


def practical_summary(race: PracticalRace) -> dict:
    """The numbers of the practical race's paragraphs."""
    s = race.sizes
    acc = {m: float(np.mean([100 * analysis.value_at_epoch(r, "eval_accuracy", s.epochs) for r in rs]))
           for m, rs in race.runs.items()}
    acc_t = {(m, b): float(np.mean([100 * analysis.value_at_time(r, "eval_accuracy", t)
                                    for r, t in zip(rs, race.times[b], strict=False)]))
             for m, rs in race.runs.items() for b in race.times}
    out = dict(train=s.train, validation=s.validation, test=s.test, epochs=s.epochs, batch=s.batch, depth=s.depth,
               width=s.width, seeds=s.seeds, probe=s.probe, kfac_every=s.kfac_every,
               first_order_epochs=s.first_order_epochs, budget_ngd=float(np.mean(race.times["ngd"])),
               budget_kfac=float(np.mean(race.times["kfac"])),
               reference=METHOD_NAMES[race.reference], parameters=race.runs["sgd"][0]["parameters"])
    for b in race.times:
        epochs = np.mean([analysis.value_at_time(r, "epoch", t)
                          for r, t in zip(race.runs[b], race.times[b], strict=True)])
        out[f"epochs_at_{b}"] = float(epochs)
    for (m, b), value in acc_t.items():
        out[f"acc_{m}_at_{b}"] = value
    for m in race.runs:
        out[f"acc_{m}"] = acc[m]
        out[f"spe_{m}"] = race.seconds_per_epoch[m]
    for name in race.per_epoch:
        key = name.replace(" − ", "_vs_")
        second, first_order = name.split(" − ")
        out[f"epoch_{key}"] = _verdict(race.per_epoch[name], f"{METHOD_NAMES[first_order]}'s")
        out[f"second_{key}"] = _verdict(race.per_second[name], f"{METHOD_NAMES[first_order]}'s")
    shortest_first = min(r["seconds"][-1] for m in ("sgd", "adam") for r in race.runs[m])
    for b in race.times:
        name = METHOD_NAMES[b]
        if min(race.times[b]) <= 0:
            out[f"per_second_{b}"] = (f"there is no equal-time point for {name}: the first-order runs end "
                                      f"({shortest_first:.2f} s) before its first logged point")
            out[f"short_second_{b}_sgd"] = f"not compared with {METHOD_NAMES['sgd']}'s"
            out[f"short_second_{b}"] = "Adam's (no equal-time point in this profile)"
            continue
        out[f"per_second_{b}"] = (
            f"at {name}'s last logged point that every first-order run has reached, {out[f'budget_{b}']:.1f} s on "
            f"average ({out[f'epochs_at_{b}']:.2f} epochs), SGD is at {acc_t['sgd', b]:.3g} %, Adam at "
            f"{acc_t['adam', b]:.3g} % and {name} at {acc_t[b, b]:.3g} %: {name}'s accuracy is "
            f"{out[f'second_{b}_vs_sgd']} and {out[f'second_{b}_vs_adam']}")
        out[f"short_second_{b}"] = out[f"second_{b}_vs_adam"]
        out[f"short_second_{b}_sgd"] = out[f"second_{b}_vs_sgd"]
    out["edges"] = "; ".join(f"{METHOD_NAMES[p.method]}: {', '.join(p.edges)}" for p in race.table if p.edges) or \
        "no pick sits on the edge of its grid"
    # C' over the epoch checkpoints inside the probe's ball only: beyond rho the maximum bounds no constant of (C2)
    cprime, outside, checkpoints = {}, 0, 0
    for m, rs in race.runs.items():
        values = []
        for r in rs:
            pairs = list(zip(r["probe_total"][:s.epochs], r["probe_distance"][:s.epochs], strict=True))
            inside = [t for t, dist in pairs if dist <= r["probe_rho"]]
            outside += len(pairs) - len(inside)
            checkpoints += len(pairs)
            values.append(3 * max(inside) / math.sqrt(r["probe_lambda0"]) if inside else float("nan"))
        cprime[m] = np.asarray(values)
    out["cprime_words"] = ", ".join(f"{METHOD_NAMES[m]} {np.exp(np.nanmean(np.log(v))):.0f}" for m, v in cprime.items())
    out["cprime_min"] = float(min(np.nanmin(v) for v in cprime.values()))
    out["outside_words"] = (f"all {checkpoints} epoch checkpoints lie inside it" if not outside else
                            f"{outside} of {checkpoints} epoch checkpoints lie outside it and are left out of $C'$")
    lambdas = [r["probe_lambda0"] for rs in race.runs.values() for r in rs]
    out["probe_lambda0_range"] = f"{min(lambdas):.2f}–{max(lambdas):.2f}"
    fractions = {m: max(max(r["probe_distance"][:s.epochs]) / r["probe_rho"] for r in rs)
                 for m, rs in race.runs.items()}
    out["rho_words"] = ", ".join(f"{METHOD_NAMES[m]} {v:.2f}" for m, v in fractions.items())
    out["inside_ball"] = ("so every trajectory stays inside the probe's ball" if max(fractions.values()) <= 1 else
                          "so some trajectories reach or leave the probe's ball")
    out["target"] = 100 * race.target
    out["target_words"] = ", ".join(f"{METHOD_NAMES[m]} {np.exp(np.log(np.maximum(v, 1e-6)).mean()):.2g} s"
                                    for m, v in race.to_target.items())
    for name, (interval, p) in race.per_target.items():
        second, first_order = name.split(" − ")
        out[f"target_{second}_vs_{first_order}"] = describe(
            interval, larger="slower than", smaller="faster than", same="not distinguishable from", fmt=".2f",
            unit=" decades", adjusted_p=p, what=f"{METHOD_NAMES[first_order]}'s")
    diverged = {m: sum(r["diverged"] for r in rs) for m, rs in race.runs.items()}
    out["diverged"] = ("no reported run diverged" if not any(diverged.values()) else
                       "diverged reported runs: " + ", ".join(f"{METHOD_NAMES[m]} {v}" for m, v in diverged.items()
                                                              if v))
    ties = [f"{METHOD_NAMES[p.method]}'s pick beat its runner-up ("
            + ", ".join(f"{k} {v:g}" for k, v in p.runner_up.items())
            + f") by {p.runner_up_score - p.score:.1e} in validation cross-entropy"
            for p in race.table if p.runner_up and p.runner_up_score - p.score < 0.01 * p.score]
    out["ties"] = ("; ".join(ties) + " — near ties, so verdicts about those methods hold for the pick, not for the "
                   "method at its best setting") if ties else "no pick won by less than 1 % in validation cross-entropy"
    cheap = ("sgd", "adam", "kfac")
    target2 = min(max(r["eval_accuracy"]) for m in cheap for r in race.runs[m])
    times2 = {m: np.array([next(t for t, a in zip(r["seconds"], r["eval_accuracy"], strict=False) if a >= target2)
                           for r in race.runs[m]]) for m in cheap}
    out["target2"] = 100 * target2
    out["target2_needed"] = target2 > race.target + 1e-9
    out["target2_words"] = ", ".join(f"{METHOD_NAMES[m]} {np.exp(np.log(np.maximum(v, 1e-6)).mean()):.2g} s"
                                     for m, v in times2.items())
    raw2 = {f"kfac − {a}": analysis.paired(np.log10(np.maximum(times2["kfac"], 1e-6)),
                                           np.log10(np.maximum(times2[a], 1e-6))) for a in ("sgd", "adam")}
    adjusted = holm([iv.p_value if math.isfinite(iv.p_value) else 1.0 for iv in raw2.values()])
    for (name, interval), p in zip(raw2.items(), adjusted, strict=True):
        first_order = name.split(" − ")[1]
        out[f"target2_kfac_vs_{first_order}"] = (
            f"not assessed against {METHOD_NAMES[first_order]}'s (estimate {interval.estimate:+.2f} decades, "
            f"n = {interval.n})" if interval.n < 3 else
            describe(interval, larger="slower than", smaller="faster than", same="not distinguishable from",
                     fmt=".2f", unit=" decades", adjusted_p=float(p), what=f"{METHOD_NAMES[first_order]}'s"))
    out["cprime_factor"] = out["cprime_min"] / 0.5
    out["ratio_ngd"] = race.seconds_per_epoch["ngd"] / race.seconds_per_epoch[race.reference]
    out["ratio_kfac"] = race.seconds_per_epoch["kfac"] / race.seconds_per_epoch[race.reference]
    return out


# ----------------------------------------------------------------------------------------------------------------


def run_chapter(profile: str, device: torch.device, cache: ResultsCache, *, seed: int = 0) -> None:
    """Run every stage (every sweep) of Chapter 2 in notebook order, filling ``cache``."""
    sizes = configs.sizes_for(profile)
    tasks, _ = configs.tasks_to_run(sizes, profile=profile, device=device)
    condition_one(sizes, tasks, device, cache, first=seed)
    condition_two(sizes, device, cache, first=seed)
    teaching_race(sizes, device, cache, first=seed)
    practical_race(sizes, device, cache, first=seed)


def picks_markdown(table: list[Pick], names: dict) -> str:
    """The picks as a Markdown table (:func:`analysis.picks_table`)."""
    return analysis.picks_table(table, names)

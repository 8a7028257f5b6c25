"""Chapter 1's analysis: learning-rate picks with grid-edge warnings, the factorial design's arrays, width trends
with intervals over seeds, and the calibration of finite networks against the NTK-GP.

The factorial design's results are *slices*: one per parametrization, optimizer and evaluated rate, each a dict of
``[S, W]`` arrays (evaluation seed × width, the size table's widths).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lib.experiments.kernel_regime.configs import Optimizer
from lib.records import grid
from lib.stats import Interval, holm, trend

__all__ = ["Pick", "pick_rates", "picks_table", "factorial_slices", "width_trends", "LOG_FLOOR", "calibration",
           "calibration_intervals"]

#: Values below this are treated as this before taking log10 (a kernel change of 1e-12 is "none").
LOG_FLOOR = 1e-12


@dataclass(frozen=True)
class Pick:
    """The learning rate picked for one cell of the design (one rate for all widths): its tuning runs' training
    loss (geometric mean over widths), the grid, the rates that diverged at some width, and a warning when the pick
    sits at an edge of the grid."""

    parametrization: str
    optimizer: str
    rate: float
    train_loss: float
    grid: tuple[float, ...]
    diverged: tuple[float, ...]
    warning: str


def pick_rates(records: Sequence[Mapping], configs: Sequence[Mapping]) -> tuple[dict, list[Pick]]:
    """Per parametrization and optimizer, the rate of the grid with the lowest final training loss on the tuning
    seed, averaged (geometrically) over the widths — one rate per cell, so the width trend is not a trend in the
    rate. A rate that diverged at any width is never picked; ties go to the smaller rate.

    Returns ``(picks, rows)``: ``picks[(parametrization, optimizer)] = rate`` for
    :func:`~lib.experiments.kernel_regime.configs.evaluation_configs`, and one :class:`Pick` per cell.
    """
    cells: dict[tuple, dict[float, list[tuple[float, bool]]]] = {}
    for c, r in zip(configs, records, strict=False):
        loss = r["train_loss"]
        cells.setdefault((c["parametrization"], c["optimizer"]), {}).setdefault(c["rate"], []).append(
            (loss, bool(r["diverged"]) or not np.isfinite(loss)))
    picks: dict[tuple, float] = {}
    rows: list[Pick] = []
    for key, by_rate in cells.items():
        rates = tuple(sorted(by_rate))
        bad = tuple(rate for rate in rates if any(b for _, b in by_rate[rate]))
        ok = [(float(np.exp(np.mean(np.log(np.maximum([v for v, _ in by_rate[rate]], 1e-300))))), rate)
              for rate in rates if rate not in bad]
        if not ok:
            raise RuntimeError(f"Every tuning rate of {key} diverged at some width; extend the grid downwards.")
        loss, rate = min(ok)
        warning = ""
        if len(rates) > 1 and rate == rates[0]:
            warning = "at the grid's low end: a smaller rate might train better"
        elif len(rates) > 1 and rate == rates[-1]:
            warning = "at the grid's high end: a larger rate might train better"
        picks[key] = rate
        rows.append(Pick(key[0], key[1], rate, loss, rates, bad, warning))
    return picks, rows


_NAMES = {"standard": "standard", "ntk": "NTK", "mup": "μP", "gd": "GD", "sgd": "SGD", "adam": "Adam"}


def picks_table(rows: Sequence[Pick]) -> str:
    """A Markdown table of the picks (GD/SGD rates in units of 2N/λ_max(Θ̂₀)), with a warning column."""
    lines = ["| parametrization | optimizer | picked rate | tuning train loss (geometric mean over widths) | "
             "diverged at some width | warning |", "|---|---|---:|---:|---|---|"]
    for p in rows:
        unit = "" if p.optimizer == Optimizer.ADAM.value else " × 2N/λ₀"
        diverged = ", ".join(f"{r:g}" for r in p.diverged) or "—"
        lines.append(f"| {_NAMES[p.parametrization]} | {_NAMES[p.optimizer]} | {p.rate:g}{unit} | "
                     f"{p.train_loss:.2g} | {diverged} | {p.warning or '—'} |")
    return "\n".join(lines)


def factorial_slices(records: Sequence[Mapping], configs: Sequence[Mapping], keys: Sequence[str]) -> dict:
    """``{(parametrization, optimizer, rate): {key: [S, W] array}}`` — one slice per cell and evaluated rate."""
    groups: dict[tuple, tuple[list, list]] = {}
    for c, r in zip(configs, records, strict=False):
        rec, cfg = groups.setdefault((c["parametrization"], c["optimizer"], c["rate"]), ([], []))
        rec.append(r)
        cfg.append(c)
    return {slice_: {key: grid(rec, cfg, ("seed", "width"), key) for key in keys}
            for slice_, (rec, cfg) in groups.items()}


def width_trends(widths: Sequence[int], slices: Mapping[tuple, Mapping[str, np.ndarray]], key: str = "shape", *,
                 log: bool = True) -> dict[tuple, tuple]:
    """Per slice (cell and rate): the least-squares slope of ``log10 |value|`` (or ``value``) per decade of width
    over **all** widths, with an interval over seeds (:func:`lib.stats.trend`), and its Holm-adjusted p-value
    across all slices (the text states them together). Slices with a non-finite value (a diverged run) are left
    out.

    Returns ``{(parametrization, optimizer, rate): (Interval, adjusted p)}``.
    """
    raw: dict[tuple, Interval] = {}
    for slice_, arrays in slices.items():
        runs = arrays[key]   # [S, W]
        if not np.all(np.isfinite(runs)):
            continue
        y = np.log10(np.maximum(np.abs(runs), LOG_FLOOR)) if log else runs
        raw[slice_] = trend(widths, y, method="log")
    if not raw:
        return {}
    adjusted = holm([iv.p_value for iv in raw.values()])
    return {key_: (iv, float(a)) for (key_, iv), a in zip(raw.items(), adjusted, strict=False)}


def calibration(records: Sequence[Mapping], *, floor: float = 0.1) -> dict[str, np.ndarray]:
    """Finite networks against the NTK-GP on the grid, one row per width (records of
    :func:`~lib.experiments.kernel_regime.runs.gp_run`).

    Per width and net:

    * ``centred_rms`` — RMS over the grid of (centred net − NTK-GP mean), divided by the RMS NTK-GP standard
      deviation (``[W, nets]``): the centred net's distance from the mean in units of the NTK-GP's spread;
    * ``z2`` — the mean over grid points of ``z² = ((f − μ)/σ)²`` for the plain net ``f`` (``[W, nets]``), on the
      points where ``σ`` is at least ``floor`` times its largest value (near the data ``σ → 0``); 1 when the
      ensemble of plain nets has the NTK-GP's spread, above 1 when it is wider;
    * ``coverage`` — the fraction of those points inside ``μ ± 2σ`` (``[W, nets]``; 0.95 if calibrated);

    and per width (over nets): ``variance_ratio`` — the ensemble variance of the plain nets divided by the NTK-GP
    variance, averaged over the same points (``[W]``; unbiased ensemble variance, ``nets − 1`` degrees of freedom).

    With the linearized arm (records with ``linear``), also per width and net, in the same units as
    ``centred_rms``: ``net_vs_linear`` (centred net − its own trained linearization: nonlinearity),
    ``linear_vs_gp`` (linearization − NTK-GP mean: the empirical kernel's fluctuation); and per width
    ``mean_offset`` (RMS of the centred nets' *average* deviation from the NTK-GP mean, common to all nets) and
    ``spread`` (RMS over the grid of the centred nets' standard deviation around their average); and the split of the
    plain nets' mean z² into ``z2_offset`` (the ensemble mean's squared distance from μ in units of σ²) and
    ``z2_spread`` (the ensemble variance, divisor ``nets``, over σ²), which add up to the mean z².
    """
    names = ("centred_rms", "z2", "coverage", "variance_ratio", "net_vs_linear", "linear_vs_gp", "mean_offset",
             "spread", "z2_offset", "z2_spread")
    out: dict[str, list] = {k: [] for k in names}
    for r in records:
        mu, sd = np.asarray(r["gp_mean"]), np.asarray(r["gp_std"])
        plain, centred = np.asarray(r["plain"]), np.asarray(r["centred"])
        keep = sd >= floor * sd.max()
        unit = np.sqrt((sd ** 2).mean())
        z = (plain[:, keep] - mu[keep]) / sd[keep]
        out["centred_rms"].append(np.sqrt(((centred - mu) ** 2).mean(axis=1)) / unit)
        out["z2"].append((z ** 2).mean(axis=1))
        out["coverage"].append((np.abs(z) <= 2).mean(axis=1))
        out["variance_ratio"].append(float((plain[:, keep].var(axis=0, ddof=1) / sd[keep] ** 2).mean()))
        out["mean_offset"].append(float(np.sqrt(((centred.mean(axis=0) - mu) ** 2).mean()) / unit))
        # mean z² over nets and points = (ensemble mean − μ)²/σ² + (ensemble variance, 1/nets)/σ², averaged
        out["z2_offset"].append(float((((plain[:, keep].mean(axis=0) - mu[keep]) / sd[keep]) ** 2).mean()))
        out["z2_spread"].append(float((plain[:, keep].var(axis=0) / sd[keep] ** 2).mean()))
        out["spread"].append(float(np.sqrt(centred.var(axis=0, ddof=1).mean()) / unit))
        if "linear" in r:
            linear = np.asarray(r["linear"])
            out["net_vs_linear"].append(np.sqrt(((centred - linear) ** 2).mean(axis=1)) / unit)
            out["linear_vs_gp"].append(np.sqrt(((linear - mu) ** 2).mean(axis=1)) / unit)
    return {k: np.asarray(v) for k, v in out.items() if len(v)}


def calibration_intervals(record: Mapping, *, floor: float = 0.1, resamples: int = 4000, confidence: float = 0.95,
                          seed: int = 0) -> dict[str, Interval]:
    """Percentile-bootstrap intervals over the nets of one width (:func:`calibration`'s record) for the mean z²,
    the ±2σ coverage and the ensemble/NTK-GP variance ratio: the nets are resampled with replacement and every
    statistic recomputed. With 16 nets a variance ratio is uncertain by tens of percent; these intervals say how
    much."""
    mu, sd = np.asarray(record["gp_mean"]), np.asarray(record["gp_std"])
    plain = np.asarray(record["plain"])
    keep = sd >= floor * sd.max()
    z = (plain[:, keep] - mu[keep]) / sd[keep]                     # [nets, points]
    index = np.random.default_rng(seed).integers(0, len(plain), size=(resamples, len(plain)))

    def stats(rows: np.ndarray) -> tuple[float, float, float]:
        zz, pp = z[rows], plain[rows][:, keep]
        return (float((zz ** 2).mean()), float((np.abs(zz) <= 2).mean()),
                float((pp.var(axis=0, ddof=1) / sd[keep] ** 2).mean()))

    full = stats(np.arange(len(plain)))
    boot = np.array([stats(rows) for rows in index])
    q = [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100]
    method = f"percentile bootstrap over {len(plain)} nets"
    return {name: Interval(full[i], *np.percentile(boot[:, i], q), confidence, len(plain), method=method)
            for i, name in enumerate(("z2", "coverage", "variance_ratio"))}

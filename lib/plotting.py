"""The book's one figure style: sizes, log axes, error bands and interval markers, and captions.

House conventions (every chapter's figure module uses these):

* figure sizes come from :data:`SIZES` through :func:`panels` (one, two or three panels in a row);
* logarithmic axes are base 10 with plain-number tick labels (:func:`log_axis`);
* a band is the mean over repetitions ±1 s.e. (:func:`band`); an estimate with a confidence interval is a
  marker with an error bar (:func:`interval_markers`); the caption says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")  # Okabe-Ito


#: Figure sizes in inches by number of panels in a row.
SIZES = {1: (6.4, 4.0), 2: (11.5, 4.0), 3: (15.0, 4.2)}


def panels(count: int = 1) -> tuple[plt.Figure, list[plt.Axes]]:
    """A figure with ``count`` (1–3) panels in a row, in the house size; returns ``(figure, axes list)``."""
    if count not in SIZES:
        raise ValueError(f"panels() makes 1, 2 or 3 panels in a row; got {count}.")
    fig, axes = plt.subplots(1, count, figsize=SIZES[count], squeeze=False)
    return fig, list(axes[0])


def log_axis(ax: plt.Axes, which: str = "x") -> None:
    """Make ``which`` (``"x"``, ``"y"`` or ``"both"``) logarithmic, base 10, with plain-number tick labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    class _Readable(LogLocator):
        """1-2-5 ticks over up to two decades, powers of ten (every other one past six decades) beyond."""

        def tick_values(self, vmin: float, vmax: float):  # type: ignore[override]
            decades = np.log10(max(vmax, vmin) / max(min(vmax, vmin), 1e-300))
            self._subs = np.array([1.0, 2.0, 5.0]) if decades <= 2.5 else np.array([1.0])
            self.numticks = 8 if decades > 6 else "auto"
            return super().tick_values(vmin, vmax)

    if which not in ("x", "y", "both"):
        raise ValueError(f"which must be 'x', 'y' or 'both'; got {which!r}.")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    for name in ("x", "y") if which == "both" else (which,):
        getattr(ax, f"set_{name}scale")("log", base=10)
        axis = getattr(ax, f"{name}axis")
        axis.set_major_locator(_Readable(base=10))
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def interval_markers(ax: plt.Axes, x: Sequence[float], estimates: Sequence[float], lows: Sequence[float],
                     highs: Sequence[float], *, label: str | None = None, color: str | None = None,
                     marker: str = "o") -> None:
    """Estimates with their interval as error bars (e.g. exponents with 95 % bootstrap intervals)."""
    estimates, lows, highs = (np.asarray(v, dtype=float) for v in (estimates, lows, highs))
    ax.errorbar(x, estimates, yerr=[estimates - lows, highs - estimates], marker=marker, linestyle="none",
                capsize=3, color=color, label=label)


def use_book_style() -> None:
    """Apply the house style (seaborn ticks, colour-blind-safe palette, readable sizes)."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="ticks", palette=list(PALETTE))
    plt.rcParams.update({
        "figure.figsize": (6.4, 4.0), "figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight",
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "legend.frameon": False, "lines.linewidth": 1.8,
    })


def mean_and_sem(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean over ``axis`` (the seeds); s.e. is 0 for one seed."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    sem = values.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, sem


def band(ax: plt.Axes, x: Sequence[float], runs: np.ndarray, *, label: str | None = None, color: str | None = None,
         marker: str | None = "o", linestyle: str = "-") -> None:
    """Plot the mean over repetitions (rows of ``runs [R, len(x)]``) with a ±1 s.e. band."""
    mean, sem = mean_and_sem(runs)
    line, = ax.plot(x, mean, label=label, color=color, marker=marker, markersize=4, linestyle=linestyle)
    ax.fill_between(x, mean - sem, mean + sem, color=line.get_color(), alpha=0.2, linewidth=0)


def caption(text: str, *, profile: str, seeds: Sequence[int] | int, device: str, bands: str | None = None) -> str:
    """A figure caption that states what to see and how the numbers were produced.

    ``bands`` says what the bands or error bars show (default: ±1 s.e. over seeds).
    """
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    listed = ", ".join(map(str, seeds[:5])) + (", …" if len(seeds) > 5 else "")
    shown = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({listed})"
    bands = bands or "bands ±1 s.e. over seeds"
    return f"{text.rstrip('.')}. Profile '{profile}', {shown}, {bands}, run on {device}."


def save_figure(fig: plt.Figure, path: str | Path, *, text: str, profile: str, seeds: Sequence[int] | int,
                device: str) -> str:
    """Save ``fig`` (PNG) and return its caption; the caption is also written next to it as ``.txt``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path.with_suffix(".png"))
    full = caption(text, profile=profile, seeds=seeds, device=device)
    path.with_suffix(".txt").write_text(full + "\n")
    return full

"""The book's one figure style, error bands over seeds, and captioned saving."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")  # Okabe-Ito


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
         marker: str | None = "o") -> None:
    """Plot the mean over seeds (rows of ``runs [S, len(x)]``) with a ±1 s.e. band."""
    mean, sem = mean_and_sem(runs)
    line, = ax.plot(x, mean, label=label, color=color, marker=marker, markersize=4)
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

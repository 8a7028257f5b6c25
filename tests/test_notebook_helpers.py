"""Notebook helpers: glued values are plain numbers; captions are numbered and state the run."""

from __future__ import annotations

import numpy as np
import torch

from lib import notebook


def test_record_converts_scalars(monkeypatch):
    stored = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: stored.__setitem__(name, (value, display)))
    notebook.record("a", np.float64(0.25))
    notebook.record("b", torch.tensor(3))
    notebook.record("c", "text")
    assert stored == {"a": (0.25, False), "b": (3, False), "c": ("text", False)}
    assert type(stored["a"][0]) is float and type(stored["b"][0]) is int


def test_figure_captions_are_numbered_and_state_profile_seeds_device(monkeypatch):
    import IPython.display

    monkeypatch.setattr(IPython.display, "display", lambda obj: None)
    figures = notebook.FigureCaptions(3, profile="quick", device="cpu (2 threads)")
    first = figures.show("What to see", [0, 1])
    second = figures.show("More", 1)
    assert first.startswith("**Figure 3.1.** What to see.") and second.startswith("**Figure 3.2.**")
    assert "Profile 'quick', 2 seeds (0, 1)" in first and "cpu (2 threads)" in first


def test_record_markdown_glues_a_markdown_object(monkeypatch):
    stored = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: stored.__setitem__(name, (value, display)))
    notebook.record_markdown("sentence", "**bold** text")
    value, display = stored["sentence"]
    assert display is False and value._repr_markdown_() == "**bold** text"

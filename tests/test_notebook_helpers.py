"""Notebook helpers: recorded values, say() templates, figures — the same on the site and in a notebook."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from lib import notebook


@pytest.fixture
def shown(monkeypatch):
    """What the helpers display, instead of an IPython front end."""
    import IPython.display

    items = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kwargs: items.append(obj))
    monkeypatch.setattr(IPython.display, "publish_display_data",
                        lambda data, metadata=None: items.append((data, metadata)))
    return items


def test_record_converts_scalars_and_glues_only_on_the_site(monkeypatch):
    stored = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: stored.__setitem__(name, (value, display)))
    monkeypatch.delenv("NTK_BOOK_SITE", raising=False)
    assert notebook.record("a", np.float64(0.25)) == 0.25 and not stored, "off the site nothing is glued"
    monkeypatch.setenv("NTK_BOOK_SITE", "1")
    notebook.record("a", np.float64(0.25))
    notebook.record("b", torch.tensor(3))
    notebook.record("c", "text")
    assert stored == {"a": (0.25, False), "b": (3, False), "c": ("text", False)}
    assert type(stored["a"][0]) is float and type(stored["b"][0]) is int


def test_record_needs_no_site_toolchain(monkeypatch):
    """On Colab there is no myst_nb: record() must work (it did not: issue 16)."""
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import myst_nb now raises ImportError
    for site in ("0", "1"):
        monkeypatch.setenv("NTK_BOOK_SITE", site)
        assert notebook.record("ch0_value", 2.5) == 2.5
        assert notebook.record_markdown("ch0_text", "**x**") == "**x**"


def test_say_fills_fields_and_keeps_myst_and_latex_braces(monkeypatch, shown):
    notebook.record("ch0_alpha", 0.123456)
    monkeypatch.setenv("NTK_BOOK_SITE", "1")
    text = notebook.say(r"""
        Slope {ch0_alpha:.2f} ({share:.0%}) {{literal}} as in {cite}`jacot2018ntk`, with
        $x_{t,a}\in\mathbb{R}^{K\times P}$ and $\operatorname{tr}G$; see {numref}`fig-ch0-x`.
    """, share=0.5)
    assert text.startswith("Slope 0.12 (50%) {literal} as in {cite}`jacot2018ntk`")
    assert r"$x_{t,a}\in\mathbb{R}^{K\times P}$" in text and r"\operatorname{tr}" in text
    assert shown[-1].data == text
    assert hasattr(text, "_ipython_display_"), "as a cell's last line, say() must not show its text a second time"
    with pytest.raises(KeyError, match="neither recorded"):
        notebook.say("{ch0_missing:.2f}")


def test_say_in_a_notebook_front_end_rewrites_roles(monkeypatch, shown):
    monkeypatch.delenv("NTK_BOOK_SITE", raising=False)
    text = notebook.say("As {cite}`a2020,b2021` show (Eq. {eq}`eq-ch0-x`), {verdict}.", verdict="**no**")
    assert text == "As [a2020; b2021] show (Eq. (eq-ch0-x)), **no**."


def test_figures_carry_number_caption_alt_and_show_a_caption_off_site(monkeypatch, shown):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.delenv("NTK_BOOK_SITE", raising=False)
    figures = notebook.Figures(7, profile="quick", device="cpu")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    caption = figures.show(fig, name="fig-ch7-line", caption="A line", alt="A rising line.", seeds=[0, 1])
    data, metadata = shown[0]
    assert "image/png" in data and metadata["ntk_book_figure"]["name"] == "fig-ch7-line"
    assert metadata["ntk_book_figure"]["number"] == "7.1" and metadata["ntk_book_figure"]["alt"] == "A rising line."
    assert shown[1].data.startswith("**Figure 7.1.** A line") and caption in shown[1].data
    with pytest.raises(ValueError, match="start with 'fig-ch7-'"):
        figures.show(plt.figure(), name="fig-x", caption="c", alt="a", seeds=1)
    assert notebook.plain_markdown("see {numref}`fig-ch7-line`") == "see Figure 7.1"


def test_figure_captions_are_numbered_and_state_profile_seeds_device(shown):
    figures = notebook.FigureCaptions(3, profile="quick", device="cpu (2 threads)")
    first = figures.show("What to see", [0, 1])
    second = figures.show("More", 1)
    assert first.startswith("**Figure 3.1.** What to see.") and second.startswith("**Figure 3.2.**")
    assert "Profile 'quick', 2 seeds (0, 1)" in first and "cpu (2 threads)" in first

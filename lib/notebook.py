"""Helpers for the chapter notebooks: glued numbers and numbered, captioned figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lib.plotting import caption


def record(name: str, value: Any) -> None:
    """Glue ``value`` under ``name`` for ``{glue:text}`` roles in the chapter's text.

    NumPy and torch scalars become plain Python numbers, so format specs such as ``:.2f`` work
    (myst-nb parses the stored ``text/plain`` representation).
    """
    from myst_nb import glue

    glue(name, value.item() if hasattr(value, "item") else value, display=False)


def record_markdown(name: str, text: str) -> None:
    """Glue a Markdown sentence computed from the results under ``name``, for ``{glue:md}`` roles.

    Use plain text or Unicode symbols: ``$…$`` math inside glued Markdown is not rendered.
    """
    from IPython.display import Markdown
    from myst_nb import glue

    glue(name, Markdown(text), display=False)


class FigureCaptions:
    """Numbered figure captions for one chapter: ``Figure <chapter>.<k>. <text> Profile …``."""

    def __init__(self, chapter: int, *, profile: str, device: str) -> None:
        self.chapter, self.profile, self.device = chapter, profile, device
        self.count = 0

    def show(self, text: str, seeds: Sequence[int] | int) -> str:
        """Display the next caption below the figure just shown, and return it."""
        from IPython.display import Markdown, display

        self.count += 1
        full = f"**Figure {self.chapter}.{self.count}.** " + caption(text, profile=self.profile, seeds=seeds,
                                                                     device=self.device)
        display(Markdown(full))
        return full

"""Notebook helpers: recorded numbers, prose and figures that read the same on the site and on Colab.

A chapter records each number once (:func:`record`), writes its findings as Markdown templates
that a code cell fills in and displays (:func:`say`), and shows figures with a number, a caption
and alt text (:func:`show_figure`). None of this needs the site toolchain: on Colab or in Jupyter
the reader sees the same sentences and numbered captions as on the site.

Two modes, chosen by the environment variable ``NTK_BOOK_SITE`` (``tools/book.py`` sets it to
``1`` when it executes the chapters for the site):

* **site** — :func:`say` emits MyST Markdown (roles such as ``{cite}`` and ``{numref}`` are
  rendered by Jupyter Book); :func:`show_figure` publishes the PNG with an ``ntk_book_figure``
  entry in the output's metadata (``name``, ``number``, ``caption``, ``alt``), which the build turns
  into a numbered, captioned figure with alt text that ``{numref}`` can cite; values passed to
  :func:`record` are also glued (``myst_nb.glue``) for pages that still use ``{glue:text}`` roles.
* **notebook** (default) — MyST roles are rewritten as plain Markdown (``{cite}`a,b``` → ``[a; b]``,
  ``{numref}`fig-x``` → ``Figure 5.2``, ``{eq}`eq-x``` → ``(eq-x)``), and each figure is followed by
  its caption ``**Figure 5.2.** …`` as Markdown.
"""

from __future__ import annotations

import base64
import io
import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from textwrap import dedent
from typing import Any

__all__ = ["FigureCaptions", "Figures", "on_site", "plain_markdown", "fill", "record", "record_markdown", "recorded",
           "say", "show_figure"]

_VALUES: dict[str, Any] = {}
_FIGURE_NUMBERS: dict[str, str] = {}


def on_site() -> bool:
    """Whether the chapter is being executed for the site (``NTK_BOOK_SITE=1``, set by ``tools/book.py``)."""
    return os.environ.get("NTK_BOOK_SITE") == "1"


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 else value


def record(name: str, value: Any) -> Any:
    """Store ``value`` under ``name`` for :func:`say` templates and return it (as a plain Python number).

    On the site the value is also glued for ``{glue:text}`` roles (chapters not yet converted).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"record() needs a Python identifier as name (it is used in format templates); got {name!r}.")
    value = _plain(value)
    _VALUES[name] = value
    if on_site():
        try:
            from myst_nb import glue
        except ImportError:  # the site toolchain is absent: nothing to glue into
            return value
        glue(name, value, display=False)
    return value


def record_markdown(name: str, text: str) -> str:
    """Store a computed Markdown sentence under ``name`` (glued for ``{glue:md}`` roles on the site)."""
    _VALUES[name] = text
    if on_site():
        try:
            from IPython.display import Markdown
            from myst_nb import glue
        except ImportError:
            return text
        glue(name, Markdown(text), display=False)
    return text


def recorded() -> Mapping[str, Any]:
    """A read-only copy of everything recorded so far."""
    return dict(_VALUES)


_ROLE = re.compile(r"\{(cite|cite:p|cite:t|numref|eq|ref|doc|math)\}`([^`]*)`")


def plain_markdown(text: str) -> str:
    """Rewrite the MyST roles of ``text`` as plain Markdown a notebook front end can show."""

    def replace(match: re.Match[str]) -> str:
        role, body = match.group(1), match.group(2)
        if role.startswith("cite"):
            return "[" + "; ".join(key.strip() for key in body.split(",")) + "]"
        if role == "numref":
            label = re.sub(r".*<(.*)>", r"\1", body).strip()
            return f"Figure {_FIGURE_NUMBERS[label]}" if label in _FIGURE_NUMBERS else label
        if role == "eq":
            return f"({body})"
        if role == "math":
            return f"${body}$"
        return re.sub(r"(.*)<.*>", r"\1", body).strip() or body

    return _ROLE.sub(replace, text)


_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_NAME = re.compile(r"[A-Za-z_]\w*")


def fill(template: str, values: Mapping[str, Any]) -> str:
    """Fill the :meth:`str.format` fields of ``template`` with ``values``, leaving MyST and LaTeX braces alone.

    ``{{``/``}}`` are literal braces and ``{name}``, ``{name:.2f}``, ``{name!r}``, ``{name.attr}``,
    ``{name[key]}`` are fields, as with :meth:`str.format`. Unlike it, braces that cannot be a field are
    kept as written: a role or directive name (``{cite}`x```, ``:::{note}``), LaTeX groups
    (``$\\mathbb R^{K\\times P}$``, ``\\operatorname{tr}``, ``x_{t,a}``). A field whose name was neither
    recorded nor passed raises :class:`KeyError`. Braces right after a letter, ``^``, ``_`` or ``\\`` are
    LaTeX (``\\mathbb{R}``, ``x^{n}``), never fields; write ``x_{{{n}}}`` to put a value there.
    """
    formatter = string.Formatter()

    def replace(match: re.Match[str]) -> str:
        whole, body = match.group(0), match.group(1)
        if whole in ("{{", "}}"):
            return whole[0]
        end, start = match.end(), match.start()
        following = template[end:end + 1]
        preceding = template[start - 1:start] if start else ""
        name = _NAME.match(body)
        if following == "`" or preceding in ("`", ":") or name is None:
            return whole  # a MyST role or directive name, or a LaTeX group
        if preceding.isalpha() or preceding in ("^", "_", "\\"):
            return whole  # \\mathbb{R}, \\operatorname{tr}, x^{n}, x_{i}: LaTeX arguments, not fields
        parts = re.fullmatch(r"([^!:]*)(?:!([rsa]))?(?::(.*))?", body, re.S)
        if parts is None:
            return whole
        field, conversion, spec = parts.group(1), parts.group(2), parts.group(3) or ""
        if name.group(0) not in values:
            raise KeyError(name.group(0))
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*|\[[^\]]*\])*", field):
            return whole
        value, _ = formatter.get_field(field, (), values)
        value = formatter.convert_field(value, conversion) if conversion else value
        return formatter.format_field(value, spec)

    return _FIELD.sub(replace, template)


class Shown(str):
    """The Markdown :func:`say` displayed: a ``str`` that IPython does not display again as a cell's result."""

    def _ipython_display_(self) -> None:  # `say(...)` as the last line of a cell shows the prose once
        return None


def say(template: str, **values: Any) -> str:
    """Display ``template`` as Markdown, filled with the recorded values and ``values``.

    ``template`` uses :meth:`str.format` fields (``{alpha:.2f}``, ``{verdict}``); the braces of MyST
    roles (``{cite}`vyas2022limitations```) and of LaTeX (``$x_{t,a}$``) are left alone (see
    :func:`fill`). On the site the text is MyST, rendered by Jupyter Book; in a notebook front end
    (Colab, Jupyter) MyST roles are rewritten as plain Markdown first (:func:`plain_markdown`).
    Returns the Markdown that was shown.
    """
    from IPython.display import Markdown, display

    body = dedent(template).strip()
    names = {**_VALUES, **values}
    try:
        text = fill(body, names)
    except KeyError as error:
        raise KeyError(f"say(): {error.args[0]!r} was neither recorded (lib.notebook.record) nor passed; "
                       f"recorded names: {', '.join(sorted(_VALUES)) or 'none'}.") from None
    shown = text if on_site() else plain_markdown(text)
    display(Markdown(shown))
    return Shown(shown)


@dataclass
class Figures:
    """Numbered figures of one chapter: ``Figure <chapter>.<k>``.

    Args:
        chapter: the chapter number.
        profile, seeds, device: stated at the end of every caption (what produced the figure).
    """

    chapter: int
    profile: str
    device: str
    count: int = 0
    names: list[str] = field(default_factory=list)

    def show(self, fig: Any, *, name: str, caption: str, alt: str, seeds: Any, bands: str | None = None) -> str:
        """Show ``fig`` as the chapter's next numbered figure; returns the full caption.

        Args:
            fig: a matplotlib figure (closed after it is shown).
            name: the label ``{numref}`` cites, e.g. ``"fig-ch5-data-scaling"``.
            caption: what the figure shows and what to see in it.
            alt: alt text for readers who cannot see the image.
            seeds: the seeds (list or count) behind the figure.
            bands: what the bands or error bars are (default: ±1 s.e. over seeds).
        """
        if not name.startswith(f"fig-ch{self.chapter}-"):
            raise ValueError(f"Figure names of chapter {self.chapter} start with 'fig-ch{self.chapter}-'; "
                             f"got {name!r}.")
        if name in self.names:
            raise ValueError(f"Figure name {name!r} is used twice in chapter {self.chapter}.")
        self.count += 1
        self.names.append(name)
        number = f"{self.chapter}.{self.count}"
        _FIGURE_NUMBERS[name] = number
        from lib.plotting import caption as provenance

        full = provenance(caption, profile=self.profile, seeds=seeds, device=self.device, bands=bands)
        show_figure(fig, name=name, number=number, caption=full, alt=alt)
        return full


def show_figure(fig: Any, *, name: str, number: str, caption: str, alt: str) -> None:
    """Publish ``fig`` as PNG with its figure metadata, then (off the site) its caption as Markdown."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display, publish_display_data

    if not alt.strip():
        raise ValueError(f"Figure {name!r} needs alt text.")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    meta = {"name": name, "number": number, "caption": caption, "alt": alt}
    publish_display_data(data={"image/png": base64.b64encode(buffer.getvalue()).decode(), "text/plain": alt},
                         metadata={"ntk_book_figure": meta})
    if not on_site():
        display(Markdown(f"**Figure {number}.** {plain_markdown(caption)}"))


class FigureCaptions:
    """Numbered captions shown below a figure already displayed (chapters not yet on :class:`Figures`)."""

    def __init__(self, chapter: int, *, profile: str, device: str) -> None:
        self.chapter, self.profile, self.device = chapter, profile, device
        self.count = 0

    def show(self, text: str, seeds: Any) -> str:
        """Display the next caption below the figure just shown, and return it."""
        from IPython.display import Markdown, display

        from lib.plotting import caption

        self.count += 1
        full = f"**Figure {self.chapter}.{self.count}.** " + caption(text, profile=self.profile, seeds=seeds,
                                                                     device=self.device)
        display(Markdown(full))
        return full

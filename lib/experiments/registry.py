"""Which chapter's sweeps live where: ``tools/sweep.py`` runs a chapter's ``run_chapter`` through a cache.

Each chapter package ``lib.experiments.<name>`` has a ``chapter`` module with
``run_chapter(profile, device, cache, *, seed=0)`` that runs every sweep of the chapter in the notebook's
order. Filling the cache this way (on any executor, :mod:`lib.sweeps`) and then running the notebook renders
the chapter from the stored results.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

__all__ = ["CHAPTERS", "chapter_runner"]

#: Chapter number -> package under ``lib.experiments``.
CHAPTERS: dict[int, str] = {1: "kernel_regime", 2: "natural_gradient", 3: "bandits", 4: "forgetting",
                            5: "scaling_laws"}


def chapter_runner(chapter: int | str) -> Callable[..., None]:
    """The ``run_chapter`` function of a chapter (its number, or its package name such as ``"scaling_laws"``).

    Raises:
        ValueError: no such chapter.
        NotImplementedError: the chapter does not define its sweeps in ``lib`` (no ``run_chapter``).
    """
    by_name = {name: number for number, name in CHAPTERS.items()}
    if isinstance(chapter, str) and chapter.isdigit():
        chapter = int(chapter)
    if isinstance(chapter, str):
        if chapter not in by_name:
            raise ValueError(f"Unknown chapter {chapter!r}; choose a number 1-5 or one of {sorted(by_name)}.")
        chapter = by_name[chapter]
    if chapter not in CHAPTERS:
        raise ValueError(f"Unknown chapter {chapter!r}; choose one of {sorted(CHAPTERS)}.")
    name = CHAPTERS[chapter]
    try:
        module = importlib.import_module(f"lib.experiments.{name}.chapter")
    except ModuleNotFoundError as error:
        if error.name and error.name.startswith(f"lib.experiments.{name}"):
            raise NotImplementedError(f"Chapter {chapter} ({name}) does not define its sweeps as a lib package yet "
                                      f"(lib/experiments/{name}/chapter.py with run_chapter).") from error
        raise
    runner = getattr(module, "run_chapter", None)
    if runner is None:
        raise NotImplementedError(f"lib.experiments.{name}.chapter has no run_chapter(profile, device, cache, *, seed)")
    return runner

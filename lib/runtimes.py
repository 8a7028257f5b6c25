"""Measured run times of the chapters, for the "Runtime" line at the top of each chapter.

The build measures how long papermill takes to execute each chapter (``tools/book.py``); with
``--record-runtimes`` it also writes those times into the committed file ``chapters/runtimes.json``,
and every chapter shows them through :func:`say_runtime` instead of a hand-typed sentence.

File format (``chapters/runtimes.json``)::

    {"about": "...", "profiles": {"<profile>": {"<chapter>": {"seconds": 31.0, "machine": "...", "date": "YYYY-MM-DD",
                                               "bound": "upper"}}}}

* ``<chapter>`` is the toc name, e.g. ``"chapters/01_kernel_regime"``; ``seconds`` is the wall-clock
  time of executing the notebook from scratch with an empty results cache (``> 0``);
* ``machine`` says where (:func:`tools.book.machine_description`), ``date`` when (UTC);
* ``bound`` (optional) is ``"upper"`` for an entry known only as an upper bound ("under 1 min");
  a recorded build never writes it.

A profile or chapter missing from the file is shown as "not measured".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lib.paths import checkout_root
from lib.profiles import PROFILES, check_profile

__all__ = ["RUNTIMES_FILE", "format_duration", "load_runtimes", "record_runtimes", "runtime_markdown", "say_runtime"]

#: Where the measured run times live, relative to the checkout.
RUNTIMES_FILE = Path("chapters") / "runtimes.json"
#: The file's own explanation (its "about" key).
ABOUT = ("Wall-clock seconds to execute each chapter from scratch (empty results cache), per profile; "
         "written by `python tools/book.py run|build --profile P --record-runtimes`, read by lib.runtimes.")


def _default_path() -> Path:
    root = checkout_root()
    if root is None:
        raise FileNotFoundError(f"No book checkout next to lib, so there is no {RUNTIMES_FILE}; pass path=... .")
    return root / RUNTIMES_FILE


def _check_entry(profile: str, chapter: str, entry: Any) -> None:
    where = f"{RUNTIMES_FILE} [{profile}][{chapter}]"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be an object with 'seconds' and 'machine', got {entry!r}.")
    seconds = entry.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise ValueError(f"{where}: 'seconds' must be a number > 0, got {seconds!r}.")
    if not isinstance(entry.get("machine"), str) or not entry["machine"]:
        raise ValueError(f"{where}: 'machine' must be a non-empty string, got {entry.get('machine')!r}.")
    if entry.get("bound", "upper") != "upper":
        raise ValueError(f"{where}: 'bound' may only be 'upper', got {entry['bound']!r}.")


def load_runtimes(path: Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{profile: {chapter: entry}}`` from ``chapters/runtimes.json`` (module docstring), checked.

    Raises:
        FileNotFoundError: no such file. ValueError: the file does not follow the format.
    """
    path = Path(path) if path is not None else _default_path()
    data = json.loads(path.read_text())
    profiles = data.get("profiles") if isinstance(data, Mapping) else None
    if not isinstance(profiles, Mapping):
        raise ValueError(f"{path} must be an object with a 'profiles' object (see lib.runtimes).")
    for profile, chapters in profiles.items():
        check_profile(profile)
        if not isinstance(chapters, Mapping):
            raise ValueError(f"{path}: profile {profile!r} must map chapters to entries, got {chapters!r}.")
        for chapter, entry in chapters.items():
            _check_entry(profile, chapter, entry)
    return {p: {c: dict(e) for c, e in chapters.items()} for p, chapters in profiles.items()}


def format_duration(seconds: float) -> str:
    """``31 s``, ``5 min 49 s``, ``1 h 05 min``: seconds below a minute, else minutes (and hours)."""
    total = round(seconds)
    if total < 60:
        return f"{max(total, 1)} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def runtime_markdown(chapter: str, *, path: Path | None = None, unmeasured: Mapping[str, str] | None = None,
                     note: str = "") -> str:
    """The chapter's "Runtime" paragraph (Markdown) from the measured times.

    Args:
        chapter: the toc name, e.g. ``"chapters/01_kernel_regime"``.
        path: the runtimes file (default ``<checkout>/chapters/runtimes.json``).
        unmeasured: an expectation for profiles without a measurement, e.g. ``{"paper": "hours on a GPU"}``,
            shown as "not measured (hours on a GPU)".
        note: a sentence appended after the times (e.g. what the results cache saves).
    """
    runtimes = load_runtimes(path)
    parts, machines = [], []
    for profile in PROFILES:
        entry = runtimes.get(profile, {}).get(chapter)
        if entry is None:
            expected = (unmeasured or {}).get(profile)
            parts.append(f"`{profile}` not measured" + (f" ({expected})" if expected else ""))
            continue
        duration = format_duration(entry["seconds"])
        parts.append(f"`{profile}` {'under ' + duration if entry.get('bound') == 'upper' else duration}")
        if entry["machine"] not in machines:
            machines.append(entry["machine"])
    where = f" on {'; '.join(machines)}" if machines else ""
    text = f"**Runtime** (executed from scratch with an empty results cache{where}): {', '.join(parts)}."
    return f"{text} {note}".strip()


def say_runtime(chapter: str, **kwargs: Any) -> str:
    """Display :func:`runtime_markdown` in the notebook (via :func:`lib.notebook.say`) and return it."""
    from lib.notebook import say

    text = runtime_markdown(chapter, **kwargs)
    return say(text.replace("{", "{{").replace("}", "}}"))


def record_runtimes(records: Iterable[Mapping[str, Any]], *, machine: str, date: str,
                    path: Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """Write measured times into the runtimes file, replacing older entries of the same profile and chapter.

    Args:
        records: ``{"chapter": ..., "profile": ..., "seconds": ...}`` per executed chapter (what
            ``tools/book.py`` writes to ``status.json``).
        machine: where they ran; date: when (``YYYY-MM-DD``).
        path: the runtimes file (default ``<checkout>/chapters/runtimes.json``); created if missing.

    Returns:
        The updated ``{profile: {chapter: entry}}``.
    """
    path = Path(path) if path is not None else _default_path()
    runtimes = load_runtimes(path) if path.exists() else {}
    for record in records:
        profile = check_profile(record["profile"])
        entry = {"seconds": round(float(record["seconds"]), 1), "machine": machine, "date": date}
        _check_entry(profile, record["chapter"], entry)
        runtimes.setdefault(profile, {})[record["chapter"]] = entry
    ordered = {p: dict(sorted(runtimes[p].items())) for p in PROFILES if p in runtimes}
    path.write_text(json.dumps({"about": ABOUT, "profiles": ordered}, indent=2, ensure_ascii=False) + "\n")
    return ordered

"""Run profiles: how big each chapter's experiments are.

Every chapter's ``parameters`` cell sets ``profile`` to one of

* ``"quick"`` — at most 3 minutes per chapter on 2 CPU cores; what the tests run;
* ``"book"``  — at most 10 minutes per chapter on 2 CPU cores (minutes on a GPU);
  what the published site shows;
* ``"paper"`` — the papers' scale, meant for a GPU.

A chapter's module in ``lib`` defines its sizes as a mapping from profile to a
(frozen) dataclass or dict, and the notebook calls :func:`pick_profile`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

PROFILES: tuple[str, ...] = ("quick", "book", "paper")

T = TypeVar("T")


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is valid, else raise ``ValueError`` listing the valid ones."""
    if profile not in PROFILES:
        raise ValueError(
            f"Unknown profile {profile!r}; valid profiles are {', '.join(map(repr, PROFILES))}."
        )
    return profile


def pick_profile(sizes: Mapping[str, T], profile: str) -> T:
    """Return ``sizes[profile]`` after checking the profile and the table.

    Args:
        sizes: ``{"quick": ..., "book": ..., "paper": ...}`` — exactly these keys.
        profile: the profile requested by the notebook's ``parameters`` cell.

    Raises:
        ValueError: unknown profile (the message lists the valid ones), or a table
            that does not define exactly the three profiles.
    """
    check_profile(profile)
    if set(sizes) != set(PROFILES):
        raise ValueError(
            f"A size table must define exactly the profiles {PROFILES}; this one defines {sorted(sizes)}."
        )
    return sizes[profile]

"""Where the book keeps things on disk.

* the **checkout**: the folder holding ``pyproject.toml`` next to this package
  (``None`` when ``lib`` was installed without a checkout, e.g. from a wheel);
* the **data root** (``$NTK_BOOK_DATA``, default ``<checkout>/data`` or
  ``~/.cache/ntk-book/data``): datasets in torchvision's layout;
* the **tensor cache** (``$NTK_BOOK_CACHE``, default ``<checkout>/data/.tensor-cache``):
  parsed datasets as ``.pt`` files. It is kept apart from the data root because
  the data root may be read-only (CI points it at ``../shared/data``);
* the **results root** (``$NTK_BOOK_RESULTS``, default ``<checkout>/results``).
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """The repository checkout that holds this ``lib`` package, if any."""
    candidate = _PACKAGE_DIR.parent
    return candidate if (candidate / "pyproject.toml").exists() and (candidate / "_toc.yml").exists() else None


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ntk-book"


def default_data_root() -> Path:
    """``$NTK_BOOK_DATA`` if set, else ``<checkout>/data`` (or ``~/.cache/ntk-book/data``)."""
    env = os.environ.get("NTK_BOOK_DATA")
    if env:
        return Path(env).expanduser()
    root = checkout_root()
    return (root / "data") if root else _user_cache() / "data"


def default_tensor_cache() -> Path:
    """``$NTK_BOOK_CACHE`` if set, else ``<checkout>/data/.tensor-cache`` (or the user cache)."""
    env = os.environ.get("NTK_BOOK_CACHE")
    if env:
        return Path(env).expanduser()
    root = checkout_root()
    return (root / "data" / ".tensor-cache") if root else _user_cache() / "tensor-cache"


def default_results_root() -> Path:
    """``$NTK_BOOK_RESULTS`` if set, else ``<checkout>/results`` (or the user cache)."""
    env = os.environ.get("NTK_BOOK_RESULTS")
    if env:
        return Path(env).expanduser()
    root = checkout_root()
    return (root / "results") if root else _user_cache() / "results"

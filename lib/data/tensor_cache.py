"""Parsed datasets cached as ``.pt`` files, so a second load is fast.

The cache key combines the dataset's name, the loader's format version and the size and
modification time of every source file, so replacing a source file invalidates it.
Files are written atomically; a cache folder that is not writable is simply skipped. A cache file
that cannot be read back (truncated, overwritten, not a dict of tensors) is reported with a warning
naming it, moved aside to ``<name>.corrupt`` (deleted if that fails) and rebuilt from the raw data.
Loading uses ``weights_only=True``: a cache file can never run code.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from lib.paths import default_tensor_cache

FORMAT_VERSION = 1


def _fingerprint(name: str, sources: Sequence[Path]) -> str:
    digest = hashlib.sha256(f"{name}:{FORMAT_VERSION}".encode())
    for path in sources:
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def cached_tensors(name: str, sources: Sequence[Path], build: Callable[[], dict[str, torch.Tensor]], *,
                   cache_dir: Path | None = None) -> dict[str, torch.Tensor]:
    """Return ``build()``'s tensors, from the cache when the sources are unchanged."""
    folder = cache_dir if cache_dir is not None else default_tensor_cache()
    path = folder / f"{name}-{_fingerprint(name, sources)}.pt"
    if path.exists():
        cached = _load_or_discard(path)
        if cached is not None:
            return cached
    tensors = build()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            torch.save(tensors, handle)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only cache location: still correct, only slower next time
    return tensors


def _load_or_discard(path: Path) -> dict[str, torch.Tensor] | None:
    """The tensors in cache file ``path``, or ``None`` after moving a damaged file aside (with a warning)."""
    try:
        loaded = torch.load(path, weights_only=True, map_location="cpu")
        if not isinstance(loaded, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                   for k, v in loaded.items()):
            raise ValueError(f"expected a dict of tensors, found {type(loaded).__name__}")
        return loaded
    except Exception as error:  # noqa: BLE001 — any unreadable cache file is rebuilt, never trusted
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
            where = f"moved it to {aside}"
        except OSError:
            try:
                path.unlink()
                where = "deleted it"
            except OSError:
                where = "could not remove it (read-only cache)"
        warnings.warn(f"The tensor cache file {path} is damaged ({type(error).__name__}: {error}); {where} and "
                      "am rebuilding it from the raw data files.", RuntimeWarning, stacklevel=3)
        return None


def encode_names(names: tuple[str, ...]) -> torch.Tensor:
    """Class names as a ``uint8`` tensor, so they can be cached with the data (``weights_only`` loading)."""
    return torch.tensor(list("\x1f".join(names).encode()), dtype=torch.uint8)


def decode_names(encoded: torch.Tensor) -> tuple[str, ...]:
    """Inverse of :func:`encode_names`."""
    return tuple(bytes(encoded.tolist()).decode().split("\x1f"))

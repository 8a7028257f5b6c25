"""Checksums and downloads with verification."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from lib.data.errors import DatasetCorruptError


def file_digest(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, *, md5: str | None = None, sha256: str | None = None) -> None:
    """Raise :class:`DatasetCorruptError` unless ``path`` has the given checksum(s)."""
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is not None:
            actual = file_digest(path, algorithm)
            if actual != expected:
                raise DatasetCorruptError(path, f"{algorithm} is {actual}, expected {expected}")


def download(url: str, destination: Path, *, md5: str | None = None, sha256: str | None = None,
             timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` atomically, then verify its checksum.

    Network failures propagate as ``OSError``; loaders turn them into
    :class:`~lib.data.errors.DatasetNotFoundError` with the files and the fix.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            shutil.copyfileobj(response, out)
        verify(Path(tmp), md5=md5, sha256=sha256)
        os.replace(tmp, destination)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return destination

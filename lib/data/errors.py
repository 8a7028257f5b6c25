"""Errors of the data layer: what is missing or wrong, and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DatasetNotFoundError(FileNotFoundError):
    """The files of a dataset are not on disk and could not be downloaded."""

    def __init__(self, name: str, folder: Path, files: Sequence[str], urls: Sequence[str], reason: str = "",
                 root: Path | None = None) -> None:
        lines = [f"Dataset {name!r} is not available under {folder}."]
        if reason:
            lines.append(f"Reason: {reason}")
        lines.append("Expected files:")
        lines += [f"  {folder / f}" for f in files]
        lines.append("Fix: connect to the internet and call the loader with download=True, or download")
        lines += [f"  {u}" for u in urls]
        lines.append("and place the files as listed above.")
        if root is not None:
            lines.append(f"The data root is {root} (set it with the environment variable $NTK_BOOK_DATA).")
        super().__init__("\n".join(lines))
        self.name, self.folder, self.files = name, folder, list(files)


class DatasetCorruptError(ValueError):
    """A dataset file exists but fails its checksum or format check."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} is corrupt or not the expected file: {problem}. Delete it and download it again "
                         "(loader with download=True) or replace it with a good copy.")
        self.path = path

"""Datasets of the book: one data root, real files, clear errors.

* :func:`load_dataset` — any dataset by name (see :data:`DATASETS`);
* :func:`is_available` — whether its files are on disk (no download);
* data root ``$NTK_BOOK_DATA`` (see :mod:`lib.paths`); parsed tensors are cached.

A missing dataset raises :class:`DatasetNotFoundError` listing the files and where to
put them; nothing is ever synthesised in its place.
"""

from __future__ import annotations

from pathlib import Path

from lib.data.dataset import TensorData
from lib.data.errors import DatasetCorruptError, DatasetNotFoundError
from lib.data.tiny_imagenet import load_tiny_imagenet
from lib.data.uci import SPECS as UCI_SPECS
from lib.data.uci import load_uci, standardize
from lib.data.vision import SPECS as VISION_SPECS
from lib.data.vision import is_available as _vision_available
from lib.data.vision import load_vision
from lib.paths import default_data_root

DATASETS: tuple[str, ...] = (*VISION_SPECS, "tiny_imagenet", *UCI_SPECS)


def load_dataset(name: str, split: str | None = None, *, root: Path | str | None = None,
                 download: bool = True) -> TensorData:
    """Load dataset ``name`` (one of :data:`DATASETS`).

    ``split`` defaults to ``"train"`` for image datasets and ``"all"`` for UCI ones.
    """
    if name in VISION_SPECS:
        return load_vision(name, split or "train", root=root, download=download)
    if name == "tiny_imagenet":
        return load_tiny_imagenet(split or "train", root=root, download_missing=download)
    if name in UCI_SPECS:
        return load_uci(name, split or "all", root=root, download=download)
    raise ValueError(f"Unknown dataset {name!r}; valid: {', '.join(DATASETS)}.")


def is_available(name: str, root: Path | str | None = None) -> bool:
    """Whether ``name``'s files are on disk under the data root (never downloads)."""
    root = Path(root or default_data_root())
    if name in VISION_SPECS:
        return _vision_available(name, root)
    if name == "tiny_imagenet":
        return (root / "tiny-imagenet-200" / "wnids.txt").exists() or (root / "tiny-imagenet-200.zip").exists()
    if name in UCI_SPECS:
        return all((root / "uci" / name / f.name).exists() for f in UCI_SPECS[name].all_files)
    raise ValueError(f"Unknown dataset {name!r}; valid: {', '.join(DATASETS)}.")


__all__ = ["DATASETS", "TensorData", "DatasetNotFoundError", "DatasetCorruptError", "load_dataset", "is_available",
           "load_vision", "load_tiny_imagenet", "load_uci", "standardize"]

"""Image datasets through ``torchvision.datasets`` (download and checksums included).

Layout under the data root is torchvision's: ``MNIST/raw/``, ``FashionMNIST/raw/``,
``cifar-10-batches-py/``, ``cifar-100-python/``. Every loader returns a
:class:`~lib.data.dataset.TensorData` with ``uint8`` images ``[N, C, H, W]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lib.data.dataset import TensorData
from lib.data.errors import DatasetCorruptError, DatasetNotFoundError
from lib.data.files import verify
from lib.data.tensor_cache import cached_tensors, decode_names, encode_names
from lib.paths import default_data_root

SPLITS = ("train", "test")


@dataclass(frozen=True)
class _VisionSpec:
    torchvision_name: str
    folder: str
    files: tuple[str, ...]
    urls: tuple[str, ...]
    sha256: dict[str, str] | None = None  # of the raw files, where they are fixed (the MNIST family)


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte")
_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_FASHION_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
SPECS = {
    "mnist": _VisionSpec(
        "MNIST", "MNIST/raw", _MNIST_FILES,
        ("https://ossci-datasets.s3.amazonaws.com/mnist/ (the four *-ubyte.gz files)",), _MNIST_SHA256),
    "fashion_mnist": _VisionSpec(
        "FashionMNIST", "FashionMNIST/raw", _MNIST_FILES,
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ (four *-ubyte.gz files)",), _FASHION_SHA256),
    "cifar10": _VisionSpec(
        "CIFAR10", "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
        ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (md5 c58f30108f718f92721af3b95e74349a)",)),
    "cifar100": _VisionSpec(
        "CIFAR100", "cifar-100-python", ("train", "test", "meta"),
        ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (md5 eb9058c3a382ffc7106e4002c42a8d85)",)),
}


def is_available(name: str, root: Path | None = None) -> bool:
    """Whether the files of image dataset ``name`` are on disk (no download is attempted)."""
    spec = SPECS[name]
    folder = Path(root or default_data_root()) / spec.folder
    return all((folder / f).exists() for f in spec.files)


def load_vision(name: str, split: str = "train", *, root: Path | str | None = None,
                download: bool = True) -> TensorData:
    """Load ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"cifar100"``.

    Args:
        name: dataset key (see :data:`SPECS`).
        split: ``"train"`` or ``"test"``.
        root: data root; default ``$NTK_BOOK_DATA`` (see :mod:`lib.paths`).
        download: download (with torchvision's checksum checks) when the files are missing.

    Returns:
        ``TensorData`` with ``x`` ``uint8 [N, C, H, W]`` (C = 1 for the MNIST family, 3 for CIFAR)
        and ``y`` ``int64 [N]``.

    Raises:
        DatasetNotFoundError: files missing and not downloadable (lists the files and the fix).
        DatasetCorruptError: files present but failing torchvision's checksums.
    """
    if not isinstance(name, str) or name not in SPECS:
        raise ValueError(f"Unknown image dataset {name!r}; valid: {sorted(SPECS)}.")
    if not isinstance(split, str) or split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid: {SPLITS}.")
    import torchvision

    spec = SPECS[name]
    root = Path(root or default_data_root())
    folder = root / spec.folder
    cls = getattr(torchvision.datasets, spec.torchvision_name)

    def open_dataset(download_now: bool):
        try:
            return cls(root=str(root), train=split == "train", download=download_now)
        except RuntimeError as error:  # torchvision: "Dataset not found or corrupted"
            if is_available(name, root):
                raise DatasetCorruptError(folder, f"torchvision's integrity check failed ({error})") from error
            raise DatasetNotFoundError(name, folder, spec.files, spec.urls, str(error), root=root) from error
        except OSError as error:  # network unreachable, permission denied, ...
            raise DatasetNotFoundError(name, folder, spec.files, spec.urls, f"download failed: {error}",
                                       root=root) from error

    if not is_available(name, root):
        if not download:
            raise DatasetNotFoundError(name, folder, spec.files, spec.urls, "files missing and download=False",
                                       root=root)
        open_dataset(download_now=True)

    prefix = "train" if split == "train" else "t10k"
    label_file = folder / (f"{prefix}-labels-idx1-ubyte" if spec.sha256 else spec.files[0])

    def build() -> dict[str, torch.Tensor]:
        for file, digest in (spec.sha256 or {}).items():
            if file.startswith(prefix + "-"):
                verify(folder / file, sha256=digest)
        try:
            dataset = open_dataset(download_now=False)
            x = torch.as_tensor(np.asarray(dataset.data))
            y = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)
            classes = tuple(dataset.classes)
        except (DatasetCorruptError, DatasetNotFoundError):
            raise
        except Exception as error:  # a malformed file makes the parser fail in its own words
            raise DatasetCorruptError(folder, f"torchvision could not parse the {split} files "
                                      f"({type(error).__name__}: {error})") from error
        if x.dtype != torch.uint8 or x.dim() not in (3, 4) or x.shape[0] != y.shape[0]:
            raise DatasetCorruptError(folder, f"parsed images {tuple(x.shape)} {x.dtype} and {y.shape[0]} labels "
                                      "(expected uint8 images, one label each)")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= len(classes)):
            bad = int(((y < 0) | (y >= len(classes))).nonzero()[0])
            raise DatasetCorruptError(label_file, f"label {int(y[bad])} at sample {bad} is outside "
                                      f"0..{len(classes) - 1} ({len(classes)} classes)")
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)  # [N, C, H, W]
        return {"x": x.contiguous(), "y": y, "classes": encode_names(classes)}

    tensors = cached_tensors(f"{name}-{split}", [folder / f for f in spec.files], build)
    return TensorData(f"{name}/{split}", tensors["x"], tensors["y"], decode_names(tensors["classes"]))

"""Tiny ImageNet (200 classes, 64x64): download the zip, verify its md5, read train and val.

Layout after extraction (``<root>/tiny-imagenet-200/``): ``wnids.txt`` (class ids),
``words.txt`` (names), ``train/<wnid>/images/*.JPEG`` and ``val/images/*.JPEG`` with labels in
``val/val_annotations.txt`` (``file<TAB>wnid<TAB>bbox...``). The official test split has no
labels and is not read; ``split="val"`` is the usual held-out set.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from lib.data.dataset import TensorData
from lib.data.errors import DatasetCorruptError, DatasetNotFoundError
from lib.data.files import download, verify
from lib.data.tensor_cache import cached_tensors
from lib.paths import default_data_root

URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
ARCHIVE = "tiny-imagenet-200.zip"
FOLDER = "tiny-imagenet-200"
SPLITS = ("train", "val")


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _read_split(folder: Path, split: str) -> dict[str, torch.Tensor]:
    wnids = (folder / "wnids.txt").read_text().split()
    index = {w: i for i, w in enumerate(wnids)}
    items: list[tuple[Path, int]] = []
    if split == "train":
        for wnid in wnids:
            items += [(p, index[wnid]) for p in sorted((folder / "train" / wnid / "images").glob("*.JPEG"))]
    else:
        for line in (folder / "val" / "val_annotations.txt").read_text().splitlines():
            if line.strip():
                file, wnid = line.split("\t")[:2]
                items.append((folder / "val" / "images" / file, index[wnid]))
    if not items:
        raise DatasetCorruptError(folder, f"no {split} images found")
    from tqdm.auto import tqdm

    images = np.stack([_read_image(p) for p, _ in tqdm(items, desc=f"tiny-imagenet {split}", leave=False)])
    return {"x": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
            "y": torch.tensor([label for _, label in items], dtype=torch.int64)}


def load_tiny_imagenet(split: str = "train", *, root: Path | str | None = None, download_missing: bool = True,
                       md5: str = MD5) -> TensorData:
    """Load Tiny ImageNet as ``uint8 [N, 3, 64, 64]`` images and ``int64`` labels (index into ``wnids.txt``).

    The zip is verified against ``md5`` before extraction (a corrupt archive raises
    :class:`DatasetCorruptError`); missing data raises :class:`DatasetNotFoundError`.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid: {SPLITS} (the official test split has no labels).")
    root = Path(root or default_data_root())
    folder, archive = root / FOLDER, root / ARCHIVE
    if not (folder / "wnids.txt").exists():
        if not archive.exists():
            if not download_missing:
                raise DatasetNotFoundError("tiny_imagenet", root, [ARCHIVE], [f"{URL} (md5 {MD5})"],
                                           "archive missing and download_missing=False", root=root)
            try:
                download(URL, archive, md5=md5)
            except OSError as error:
                raise DatasetNotFoundError("tiny_imagenet", root, [ARCHIVE], [f"{URL} (md5 {MD5})"],
                                           f"download failed: {error}", root=root) from error
        verify(archive, md5=md5)
        try:
            with zipfile.ZipFile(archive) as handle:
                handle.extractall(root)
        except zipfile.BadZipFile as error:
            raise DatasetCorruptError(archive, str(error)) from error
    sources = [folder / "wnids.txt", folder / "val" / "val_annotations.txt"]
    tensors = cached_tensors(f"tiny_imagenet-{split}", sources, lambda: _read_split(folder, split))
    classes = tuple((folder / "wnids.txt").read_text().split())
    return TensorData(f"tiny_imagenet/{split}", tensors["x"], tensors["y"], classes)

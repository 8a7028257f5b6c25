"""The data layer on the real files in ../shared/data and on small archives in the real formats."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import lib.data.uci as uci
from lib.data import (
    DATASETS,
    DatasetCorruptError,
    DatasetNotFoundError,
    is_available,
    load_dataset,
    load_tiny_imagenet,
    standardize,
)

SHARED = Path(os.environ.get("NTK_BOOK_DATA", ""))
needs_shared = pytest.mark.skipif(not (SHARED / "MNIST").is_dir(),
                                  reason="set NTK_BOOK_DATA to ../shared/data (make test does)")


@pytest.fixture(autouse=True)
def _private_tensor_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NTK_BOOK_CACHE", str(tmp_path / "tensor-cache"))


@needs_shared
@pytest.mark.parametrize("name,split,shape,counts", [
    ("mnist", "train", (60000, 1, 28, 28), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
    ("mnist", "test", (10000, 1, 28, 28), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    ("fashion_mnist", "train", (60000, 1, 28, 28), [6000] * 10),
    ("mushroom", "all", (8124, 117), [4208, 3916]),
    ("magic", "all", (19020, 10), [12332, 6688]),
    ("letter", "all", (20000, 16), None),
    ("shuttle", "train", (43500, 9), None),
    ("shuttle", "test", (14500, 9), None),
    ("adult", "train", (32561, 108), None),
    ("adult", "test", (16281, 108), None),
])
def test_real_datasets_load_with_documented_shapes(name, split, shape, counts, tmp_path):
    data = load_dataset(name, split, download=False)
    assert tuple(data.x.shape) == shape and data.y.dtype == torch.int64
    assert data.y.min() == 0 and data.y.max() == data.num_classes - 1
    if counts is not None:
        assert data.y.bincount().tolist() == counts
    again = load_dataset(name, split, download=False)  # second load comes from the tensor cache
    assert torch.equal(again.x, data.x) and torch.equal(again.y, data.y)
    assert any((tmp_path / "tensor-cache").glob(f"*{name}*"))


@needs_shared
def test_image_pixels_match_the_idx_file():
    raw = (SHARED / "MNIST" / "raw" / "t10k-images-idx3-ubyte").read_bytes()
    first = np.frombuffer(raw[16:16 + 784], dtype=np.uint8).reshape(28, 28)
    data = load_dataset("mnist", "test", download=False)
    assert np.array_equal(data.x[0, 0].numpy(), first)
    assert data.features(flatten=True).shape == (10000, 784) and data.features().max() <= 1.0


@needs_shared
def test_uci_encodings_are_as_documented():
    mushroom = load_dataset("mushroom", download=False)
    assert set(mushroom.x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(mushroom.x.sum(1), torch.full((8124,), 22.0))  # one active value per categorical feature
    adult = load_dataset("adult", "train", download=False)
    assert adult.x[0, 0] == 39  # first row: age 39
    train, test = standardize(adult.x, load_dataset("adult", "test", download=False).x)
    assert torch.allclose(train.mean(0), torch.zeros(108), atol=1e-4)


def test_missing_datasets_say_which_files_and_where(tmp_path):
    for name in ["cifar10", "cifar100", "covertype", "tiny_imagenet", "mnist"]:
        assert not is_available(name, tmp_path)
        with pytest.raises(DatasetNotFoundError) as info:
            load_dataset(name, root=tmp_path, download=False)
        message = str(info.value)
        assert str(tmp_path) in message and "Expected files" in message and "Fix:" in message
    with pytest.raises(ValueError, match="valid: "):
        load_dataset("cifar11")
    assert "covertype" in DATASETS and "tiny_imagenet" in DATASETS


# ----------------------------------------------------------------- generated archives in the real formats
def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write_cifar(root: Path, hundred: bool, n: int = 6) -> tuple[Path, dict[str, np.ndarray]]:
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    label_key = "fine_labels" if hundred else "labels"
    files = ["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    arrays = {}
    for f in files:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 100 if hundred else 10, size=n).tolist()
        with open(folder / f, "wb") as handle:
            pickle.dump({"data": data, label_key: labels}, handle)
        arrays[f] = data
    meta_name, key = ("meta", "fine_label_names") if hundred else ("batches.meta", "label_names")
    with open(folder / meta_name, "wb") as handle:
        pickle.dump({key: [f"class{i}" for i in range(100 if hundred else 10)]}, handle)
    return folder, arrays


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_loader_reads_real_pickle_format_and_rejects_corrupt_files(hundred, tmp_path, monkeypatch):
    import torchvision

    folder, arrays = _write_cifar(tmp_path, hundred)
    cls = torchvision.datasets.CIFAR100 if hundred else torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[f, _md5(folder / f)] for f in arrays if "test" not in f])
    monkeypatch.setattr(cls, "test_list", [[f, _md5(folder / f)] for f in arrays if "test" in f])
    meta = dict(cls.meta, md5=_md5(folder / cls.meta["filename"]))
    monkeypatch.setattr(cls, "meta", meta)
    name = "cifar100" if hundred else "cifar10"
    train = load_dataset(name, "train", root=tmp_path, download=False)
    assert train.x.shape == ((6 if hundred else 30), 3, 32, 32) and train.x.dtype == torch.uint8
    first = "train" if hundred else "data_batch_1"
    assert np.array_equal(train.x[0].numpy(), arrays[first][0].reshape(3, 32, 32))  # channel-first, row-major
    assert train.num_classes == (100 if hundred else 10)
    test = load_dataset(name, "test", root=tmp_path, download=False)
    assert len(test) == 6
    with open(folder / first, "ab") as handle:  # corrupt one file: torchvision's md5 check must catch it
        handle.write(b"garbage")
    with pytest.raises(DatasetCorruptError, match="integrity"):
        load_dataset(name, "train", root=tmp_path / ".." / tmp_path.name, download=False)


def _write_tiny_imagenet(root: Path) -> Path:
    from PIL import Image

    base = root / "build" / "tiny-imagenet-200"
    wnids = ["n01443537", "n01629819"]
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    annotations = []
    for c, wnid in enumerate(wnids):
        images = base / "train" / wnid / "images"
        images.mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (64, 64), (40 * c + 10 * i, 100, 200)).save(images / f"{wnid}_{i}.JPEG")
        Image.new("RGB", (64, 64), (0, 0, 0)).save(base / "val" / "images" / f"val_{c}.JPEG")
        annotations.append(f"val_{c}.JPEG\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(annotations) + "\n")
    archive = root / "tiny-imagenet-200.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted(base.rglob("*")):
            handle.write(path, path.relative_to(base.parent))
    return archive


def test_tiny_imagenet_zip_is_verified_extracted_and_read(tmp_path):
    archive = _write_tiny_imagenet(tmp_path)
    with pytest.raises(DatasetCorruptError, match="md5"):
        load_tiny_imagenet("train", root=tmp_path, download_missing=False)  # canonical md5 ≠ our archive
    train = load_tiny_imagenet("train", root=tmp_path, download_missing=False, md5=_md5(archive))
    assert train.x.shape == (6, 3, 64, 64) and train.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert abs(int(train.x[4, 0, 5, 5]) - 50) <= 2  # JPEG round trip of a flat colour
    val = load_tiny_imagenet("val", root=tmp_path, download_missing=False)
    assert val.y.tolist() == [0, 1] and val.num_classes == 2


def test_covertype_gz_is_parsed_and_checked(tmp_path, monkeypatch):
    folder = tmp_path / "uci" / "covertype"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, 3000, (20, 10)), rng.integers(0, 2, (20, 44)),
                           rng.integers(1, 8, (20, 1))], axis=1)
    with gzip.open(folder / "covtype.data.gz", "wt") as handle:
        handle.write("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    spec = uci.SPECS["covertype"]
    small = dataclasses.replace(spec.all_files[0], rows=20)
    monkeypatch.setitem(uci.SPECS, "covertype", dataclasses.replace(spec, files={"all": (small,)}))
    data = load_dataset("covertype", root=tmp_path, download=False)
    assert data.x.shape == (20, 54) and torch.equal(data.y, torch.as_tensor(rows[:, -1] - 1))
    assert torch.equal(data.x, torch.as_tensor(rows[:, :-1], dtype=torch.float32))
    monkeypatch.setitem(uci.SPECS, "covertype",
                        dataclasses.replace(spec, files={"all": (dataclasses.replace(small, rows=21),)}))
    monkeypatch.setenv("NTK_BOOK_CACHE", str(tmp_path / "fresh-cache"))  # the parsed copy would skip the check
    with pytest.raises(DatasetCorruptError, match="20 rows, expected 21"):
        load_dataset("covertype", root=tmp_path, download=False)

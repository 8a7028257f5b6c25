"""The image benchmarks of Chapter 4 on generated files in the real formats (never in the shared data folder):
Split CIFAR-10/100 and Split Tiny ImageNet build with the right splits and per-class caps, and a WRN-16-1 runs a
whole task sequence with the book's recipe."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from lib.continual import split_dataset
from lib.continual.benchmarks import PER_CLASS, TEST_SPLIT


@pytest.fixture(autouse=True)
def _private_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("NTK_BOOK_CACHE", str(tmp_path / "tensor-cache"))


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _cifar(root: Path, monkeypatch, hundred: bool, train_per_class: int, test_per_class: int) -> None:
    """CIFAR files in torchvision's pickle layout with exactly ``*_per_class`` images of every class."""
    import torchvision

    classes = 100 if hundred else 10
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    key = "fine_labels" if hundred else "labels"
    files = {"train": train_per_class, "test": test_per_class} if hundred else \
        {**{f"data_batch_{i}": 0 for i in range(1, 6)}, "data_batch_1": train_per_class, "test_batch": test_per_class}
    for name, per_class in files.items():
        labels = np.repeat(np.arange(classes), per_class)
        rng.shuffle(labels)
        data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": data, key: labels.tolist()}, handle)
    meta_name, meta_key = ("meta", "fine_label_names") if hundred else ("batches.meta", "label_names")
    with open(folder / meta_name, "wb") as handle:
        pickle.dump({meta_key: [f"c{i}" for i in range(classes)]}, handle)
    cls = torchvision.datasets.CIFAR100 if hundred else torchvision.datasets.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[f, _md5(folder / f)] for f in files if "test" not in f])
    monkeypatch.setattr(cls, "test_list", [[f, _md5(folder / f)] for f in files if "test" in f])
    monkeypatch.setattr(cls, "meta", dict(cls.meta, md5=_md5(folder / meta_name)))


def _tiny_imagenet(root: Path, train_per_class: int = 2, val_per_class: int = 1) -> None:
    """An extracted Tiny ImageNet folder with 200 classes of 64x64 JPEGs (train and labelled val, no test)."""
    from PIL import Image

    base = root / "tiny-imagenet-200"
    wnids = [f"n{i:08d}" for i in range(200)]
    (base / "val" / "images").mkdir(parents=True)
    (base / "test" / "images").mkdir(parents=True)     # the official test split: images without labels
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    lines = []
    for c, wnid in enumerate(wnids):
        images = base / "train" / wnid / "images"
        images.mkdir(parents=True)
        for i in range(train_per_class):
            Image.new("RGB", (64, 64), (c, 10 * i, 0)).save(images / f"{wnid}_{i}.JPEG")
        for i in range(val_per_class):
            name = f"val_{c}_{i}.JPEG"
            Image.new("RGB", (64, 64), (c, 0, 100)).save(base / "val" / "images" / name)
            lines.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def test_split_cifar100_caps_requests_beyond_the_available_images(tmp_path, monkeypatch):
    _cifar(tmp_path, monkeypatch, hundred=True, train_per_class=3, test_per_class=2)
    seq = split_dataset("split_cifar100", 500, 500, seed=0, root=tmp_path)   # the old book sizes: now caps
    assert seq.num_tasks == 20 and seq.num_classes == 100
    for t, task in enumerate(seq.tasks):
        assert task.classes == tuple(range(5 * t, 5 * t + 5)) and task.x_train.shape == (15, 3, 32, 32)
        assert torch.bincount(task.labels_test, minlength=100)[list(task.classes)].tolist() == [2] * 5
    capped = split_dataset("split_cifar100", 2, 1, seed=0, root=tmp_path)
    assert capped.tasks[0].x_train.shape[0] == 10 and capped.tasks[0].x_test.shape[0] == 5
    assert PER_CLASS["cifar100"] == (500, 100) and PER_CLASS["tiny_imagenet"] == (500, 50)


def test_split_tiny_imagenet_is_evaluated_on_the_labelled_validation_split(tmp_path):
    _tiny_imagenet(tmp_path)
    assert TEST_SPLIT["tiny_imagenet"] == "val"
    seq = split_dataset("split_tiny_imagenet", 500, 50, seed=0, root=tmp_path)
    assert seq.num_tasks == 10 and seq.num_classes == 200
    task = seq.tasks[3]
    assert task.x_train.shape == (40, 3, 64, 64) and task.x_test.shape == (20, 3, 64, 64)
    assert set(task.labels_test.tolist()) == set(task.classes) == set(range(60, 80))
    # the validation images were drawn blue-ish (B = 100), the training images not
    assert float(task.x_test[:, 2].mean()) > 0.3 > float(task.x_train[:, 2].mean())


def test_a_wide_resnet_runs_split_cifar10_with_the_book_recipe(tmp_path, monkeypatch):
    from lib.experiments import forgetting as ch4
    from lib.models import WideResNet

    _cifar(tmp_path, monkeypatch, hundred=False, train_per_class=4, test_per_class=3)
    monkeypatch.setenv("NTK_BOOK_DATA", str(tmp_path))
    config = dict(run="split_cifar10_task", arm="standard-matched", parametrization="standard", width=1,
                  depth=ch4.WRN_DEPTH, n_train=None, n_test=None, learning_rate=0.01, epochs=1, seed=0, data_seed=0,
                  probe_per_task=0)
    r = ch4.sequence_run(config)
    a = np.array(r["accuracy"])
    assert a.shape == (5, 5) and not r["diverged"] and r["steps"] == [1] * 5      # 8 images, batch 64
    assert np.all((a >= 0) & (a <= 1)) and r["kernel_shape_change"] == []
    model = ch4.build_model("wrn", 2, 16, 10, (3, 32, 32), seed=0)
    again = ch4.build_model("wrn", 2, 16, 10, (3, 32, 32), seed=0)
    assert isinstance(model, WideResNet) and model.widen_factor == 2
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters(), strict=True))
    with pytest.raises(ValueError, match="standard parametrization"):
        ch4.build_model("wrn", 1, 16, 10, (3, 32, 32), seed=0, parametrization="ntk")
    with pytest.raises(ValueError, match="architecture"):
        ch4.build_model("vit", 1, 16, 10, (3, 32, 32), seed=0)

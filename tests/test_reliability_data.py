"""Faults against lib.data: damaged files are reported with file, line and fix; corrupt caches are rebuilt."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
import torch

from lib.data import DatasetCorruptError, TensorData, load_dataset, standardize, uci
from lib.data.tasks import centred_one_hot, image_regression_task, sphere_normalize
from lib.data.tensor_cache import cached_tensors

SHARED = Path(os.environ.get("NTK_BOOK_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
needs_shuttle = pytest.mark.skipif(not (SHARED / "uci" / "shuttle" / "shuttle.tst").exists(), reason="no shuttle")
needs_mnist = pytest.mark.skipif(not (SHARED / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").exists(),
                                 reason="no MNIST")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NTK_BOOK_CACHE", str(tmp_path / "tensor-cache"))


def _shuttle(tmp_path, monkeypatch, edit) -> Path:
    """A 20+20-row copy of the real shuttle files, with ``edit(lines)`` applied to the training file."""
    folder = tmp_path / "uci" / "shuttle"
    folder.mkdir(parents=True)
    for name in ("shuttle.trn", "shuttle.tst"):
        lines = (SHARED / "uci" / "shuttle" / name).read_text().splitlines()[:20]
        if name == "shuttle.trn":
            lines = edit(lines)
        (folder / name).write_text("\n".join(lines) + "\n")
    spec = uci.SPECS["shuttle"]
    files = {split: tuple(dataclasses.replace(f, rows=20) for f in fs) for split, fs in spec.files.items()}
    monkeypatch.setitem(uci.SPECS, "shuttle", dataclasses.replace(spec, files=files))
    return folder / "shuttle.trn"


def _set(index, text):
    def edit(lines):
        lines[index] = text(lines[index])
        return lines
    return edit


SHUTTLE_FAULTS = [
    ("extra column", _set(16, lambda s: s + " 7"), r"shuttle.trn.*line 17: expected 10 columns, found 11"),
    ("missing column", _set(3, lambda s: " ".join(s.split()[1:])), r"line 4: expected 10 columns, found 9"),
    ("question mark", _set(5, lambda s: "? " + " ".join(s.split()[1:])), r"line 6, column 1: '\?' is not a finite"),
    ("nan value", _set(7, lambda s: "nan " + " ".join(s.split()[1:])), r"line 8, column 1: 'nan'"),
    ("bad label", _set(9, lambda s: " ".join(s.split()[:-1]) + " 9"), r"line 10: unexpected label '9'"),
    ("binary garbage", _set(2, lambda s: "\x00\x01 " * 10), r"line 3"),
]


@needs_shuttle
@pytest.mark.parametrize("fault", SHUTTLE_FAULTS, ids=[f[0] for f in SHUTTLE_FAULTS])
def test_damaged_uci_rows_name_file_line_and_fix(fault, tmp_path, monkeypatch):
    _, edit, match = fault
    _shuttle(tmp_path, monkeypatch, edit)
    with pytest.raises(DatasetCorruptError, match=match) as info:
        load_dataset("shuttle", "train", root=tmp_path, download=False)
    assert "download it again" in str(info.value)


@needs_shuttle
def test_intact_uci_copy_loads_the_same_numbers(tmp_path, monkeypatch):
    _shuttle(tmp_path, monkeypatch, lambda lines: lines)
    data = load_dataset("shuttle", "train", root=tmp_path, download=False)
    first = [float(v) for v in (SHARED / "uci" / "shuttle" / "shuttle.trn").read_text().split("\n")[0].split()]
    assert data.x.shape == (20, 9) and data.x[0].tolist() == first[:9] and int(data.y[0]) == int(first[9]) - 1


def _mnist(tmp_path) -> Path:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (SHARED / "MNIST" / "raw").iterdir():
        if f.name.startswith("t10k-labels"):
            shutil.copy(f, raw / f.name)
        else:
            (raw / f.name).symlink_to(f)
    return raw / "t10k-labels-idx1-ubyte"


@needs_mnist
def test_overwritten_mnist_labels_are_caught(tmp_path):
    labels = _mnist(tmp_path)
    data = bytearray(labels.read_bytes())
    data[8 + 100] = 200
    labels.write_bytes(bytes(data))
    with pytest.raises(DatasetCorruptError, match="t10k-labels-idx1-ubyte.*sha256"):
        load_dataset("mnist", "test", root=tmp_path, download=False)


@needs_mnist
def test_truncated_tensor_cache_is_reported_moved_aside_and_rebuilt(tmp_path):
    _mnist(tmp_path)
    good = load_dataset("mnist", "test", root=tmp_path, download=False)
    (cache,) = (tmp_path / "tensor-cache").glob("mnist-test-*.pt")
    cache.write_bytes(cache.read_bytes()[:1000])
    with pytest.warns(RuntimeWarning, match=f"{cache.name}.*damaged.*rebuilding"):
        again = load_dataset("mnist", "test", root=tmp_path, download=False)
    assert torch.equal(again.x, good.x) and torch.equal(again.y, good.y)
    assert cache.with_name(cache.name + ".corrupt").exists() and cache.exists()


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04garbage"])
def test_garbage_cache_files_are_rebuilt(tmp_path, content):
    source = tmp_path / "source.txt"
    source.write_text("x")
    calls = []

    def build():
        calls.append(1)
        return {"x": torch.arange(3)}

    cached_tensors("demo", [source], build, cache_dir=tmp_path / "c")
    (path,) = (tmp_path / "c").glob("demo-*.pt")
    path.write_bytes(content)
    with pytest.warns(RuntimeWarning, match="damaged"):
        out = cached_tensors("demo", [source], build, cache_dir=tmp_path / "c")
    assert torch.equal(out["x"], torch.arange(3)) and len(calls) == 2


def test_cache_file_holding_a_non_tensor_is_not_trusted(tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("x")
    cached_tensors("demo", [source], lambda: {"x": torch.ones(1)}, cache_dir=tmp_path)
    (path,) = tmp_path.glob("demo-*.pt")
    torch.save([1, 2, 3], path)
    with pytest.warns(RuntimeWarning, match="dict of tensors"):
        assert torch.equal(cached_tensors("demo", [source], lambda: {"x": torch.ones(1)}, cache_dir=tmp_path)["x"],
                           torch.ones(1))


BAD = [
    ("label out of range", lambda: TensorData("d", torch.zeros(2, 3), torch.tensor([0, 12]), ("a", "b")), ValueError,
     "0..1"),
    ("float labels", lambda: TensorData("d", torch.zeros(2, 3), torch.zeros(2), ("a", "b")), TypeError, "integers"),
    ("one-hot range", lambda: centred_one_hot(torch.tensor([0, 3]), 3), ValueError, "0..2"),
    ("one-hot float k", lambda: centred_one_hot(torch.tensor([0, 1]), 3.0), TypeError, "num_classes"),
    ("sphere nan", lambda: sphere_normalize(torch.tensor([[1.0, float("nan")]])), ValueError, "NaN"),
    ("standardize nan", lambda: standardize(torch.tensor([[1.0], [float("nan")]])), ValueError, "NaN"),
    ("standardize width", lambda: standardize(torch.ones(3, 2), torch.ones(3, 3)), ValueError, r"\[\*, 2\]"),
    ("task n_test 0", lambda: image_regression_task("mnist", 10, 0, seed=0), ValueError, "n_test"),
    ("task float n", lambda: image_regression_task("mnist", 10.0, 5, seed=0), TypeError, "n_train"),
    ("unknown dataset", lambda: load_dataset("mnist2"), ValueError, "valid"),
    ("bad split", lambda: load_dataset("mnist", "validation"), ValueError, "split"),
]


@pytest.mark.parametrize("probe", BAD, ids=[b[0] for b in BAD])
def test_data_helpers_reject_bad_arguments(probe):
    _, call, error, match = probe
    with pytest.raises(error, match=match):
        call()

"""UCI classification datasets parsed into float features and integer labels.

Files live under ``<root>/uci/<name>/`` with their UCI file names. Encodings:

* **mushroom** (8124 × 22 categorical): every feature one-hot encoded over the values seen
  in the file, sorted (``'?'``, a missing ``stalk-root``, is its own value) → 117 binary
  features; label ``e`` (edible) = 0, ``p`` (poisonous) = 1.
* **shuttle** (Statlog; 43500 train + 14500 test × 9 numeric): raw integers; labels 1..7 → 0..6.
* **magic** (19020 × 10 numeric): raw values; label ``g`` (gamma) = 0, ``h`` (hadron) = 1.
* **adult** (32561 train + 16281 test; 6 numeric + 8 categorical): numeric columns raw,
  categorical columns one-hot over the values of both files sorted (``'?'`` its own value);
  label ``<=50K`` = 0, ``>50K`` = 1 (the test file's trailing ``.`` removed).
* **letter** (20000 × 16 integer): raw; letters A..Z → 0..25.
* **covertype** (581012 × 54: 10 numeric, 4 + 40 binary indicators): raw; labels 1..7 → 0..6.

Features are *not* standardised here; see :func:`standardize`. Verification: SHA-256 for the
files known to be byte-identical to UCI's, else a check of row count, columns and labels.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lib.data.dataset import TensorData
from lib.data.errors import DatasetCorruptError, DatasetNotFoundError
from lib.data.files import download, verify
from lib.data.tensor_cache import cached_tensors, decode_names, encode_names
from lib.paths import default_data_root

_BASE = "https://archive.ics.uci.edu/ml/machine-learning-databases"


@dataclass(frozen=True)
class UCIFile:
    name: str
    url: str
    rows: int
    sha256: str | None = None


@dataclass(frozen=True)
class UCISpec:
    files: dict[str, tuple[UCIFile, ...]]  # split -> files
    parse: Callable[[dict[str, list[list[str]]], str], tuple[np.ndarray, np.ndarray, tuple[str, ...]]]

    @property
    def all_files(self) -> tuple[UCIFile, ...]:
        seen: dict[str, UCIFile] = {}
        for files in self.files.values():
            for f in files:
                seen[f.name] = f
        return tuple(seen.values())


def _read_rows(path: Path, sep: str | None, skip_prefix: str | None = None) -> list[list[str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    rows = []
    with opener(path, "rt") as handle:
        for line in handle:
            line = line.strip()
            if not line or (skip_prefix and line.startswith(skip_prefix)):
                continue
            rows.append([v.strip() for v in (line.split(sep) if sep else line.split())])
    return rows


def _one_hot(columns: list[list[str]], vocab: list[list[str]]) -> np.ndarray:
    blocks = []
    for values, categories in zip(columns, vocab):
        index = {c: i for i, c in enumerate(categories)}
        block = np.zeros((len(values), len(categories)), dtype=np.float32)
        block[np.arange(len(values)), [index[v] for v in values]] = 1.0
        blocks.append(block)
    return np.concatenate(blocks, axis=1)


def _labels(values: list[str], classes: tuple[str, ...], path_hint: str) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(values) - set(index))
    if unknown:
        raise DatasetCorruptError(Path(path_hint), f"unexpected labels {unknown[:5]}")
    return np.array([index[v] for v in values], dtype=np.int64)


def _parse_mushroom(rows: dict[str, list[list[str]]], split: str):
    data = rows["agaricus-lepiota.data"]
    columns = [list(c) for c in zip(*[r[1:] for r in data])]
    x = _one_hot(columns, [sorted(set(c)) for c in columns])
    return x, _labels([r[0] for r in data], ("e", "p"), "agaricus-lepiota.data"), ("edible", "poisonous")


def _numeric_last_label(file: str, classes: tuple[str, ...], names: tuple[str, ...] | None = None):
    def parse(rows: dict[str, list[list[str]]], split: str):
        data = rows[file]
        x = np.array([[float(v) for v in r[:-1]] for r in data], dtype=np.float32)
        return x, _labels([r[-1] for r in data], classes, file), names or classes
    return parse


def _parse_shuttle(rows: dict[str, list[list[str]]], split: str):
    files = {"train": ["shuttle.trn"], "test": ["shuttle.tst"], "all": ["shuttle.trn", "shuttle.tst"]}[split]
    data = [r for f in files for r in rows[f]]
    x = np.array([[float(v) for v in r[:-1]] for r in data], dtype=np.float32)
    classes = tuple(str(i) for i in range(1, 8))
    names = ("Rad Flow", "Fpv Close", "Fpv Open", "High", "Bypass", "Bpv Close", "Bpv Open")
    return x, _labels([r[-1] for r in data], classes, "shuttle"), names


_ADULT_NUMERIC = (0, 2, 4, 10, 11, 12)


def _parse_adult(rows: dict[str, list[list[str]]], split: str):
    train, test = rows["adult.data"], rows["adult.test"]
    files = {"train": [train], "test": [test], "all": [train, test]}[split]
    data = [r for f in files for r in f]
    categorical = [i for i in range(14) if i not in _ADULT_NUMERIC]
    vocab = [sorted({r[i] for r in train + test}) for i in categorical]
    numeric = np.array([[float(r[i]) for i in _ADULT_NUMERIC] for r in data], dtype=np.float32)
    onehot = _one_hot([[r[i] for r in data] for i in categorical], vocab)
    labels = [r[14].rstrip(".") for r in data]
    return np.concatenate([numeric, onehot], axis=1), _labels(labels, ("<=50K", ">50K"), "adult"), ("<=50K", ">50K")


def _parse_letter(rows: dict[str, list[list[str]]], split: str):
    data = rows["letter-recognition.data"]
    classes = tuple(chr(ord("A") + i) for i in range(26))
    x = np.array([[float(v) for v in r[1:]] for r in data], dtype=np.float32)
    return x, _labels([r[0] for r in data], classes, "letter-recognition.data"), classes


def _parse_covertype(rows: dict[str, list[list[str]]], split: str):
    data = rows["covtype.data.gz"]
    x = np.array([[float(v) for v in r[:-1]] for r in data], dtype=np.float32)
    return x, _labels([r[-1] for r in data], tuple(str(i) for i in range(1, 8)), "covtype.data.gz"), tuple(
        ("Spruce/Fir", "Lodgepole Pine", "Ponderosa Pine", "Cottonwood/Willow", "Aspen", "Douglas-fir", "Krummholz"))


_MUSHROOM = UCIFile("agaricus-lepiota.data", f"{_BASE}/mushroom/agaricus-lepiota.data", 8124,
                    "e65d082030501a3ebcbcd7c9f7c71aa9d28fdfff463bf4cf4716a3fe13ac360e")
_SHUTTLE_TRN = UCIFile("shuttle.trn", f"{_BASE}/statlog/shuttle/shuttle.trn.Z (compressed: uncompress it)", 43500)
_SHUTTLE_TST = UCIFile("shuttle.tst", f"{_BASE}/statlog/shuttle/shuttle.tst", 14500)
_MAGIC = UCIFile("magic04.data", f"{_BASE}/magic/magic04.data", 19020,
                 "e9314b7ebd4b4b59a3b3d65f7316663963777b16a46786877651dbbaa640b36a")
_ADULT_DATA = UCIFile("adult.data", f"{_BASE}/adult/adult.data", 32561,
                      "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d")
_ADULT_TEST = UCIFile("adult.test", f"{_BASE}/adult/adult.test", 16281)
_LETTER = UCIFile("letter-recognition.data", f"{_BASE}/letter-recognition/letter-recognition.data", 20000)
_COVTYPE = UCIFile("covtype.data.gz", f"{_BASE}/covtype/covtype.data.gz", 581012)

SPECS: dict[str, UCISpec] = {
    "mushroom": UCISpec({"all": (_MUSHROOM,)}, _parse_mushroom),
    "shuttle": UCISpec({"train": (_SHUTTLE_TRN,), "test": (_SHUTTLE_TST,), "all": (_SHUTTLE_TRN, _SHUTTLE_TST)},
                       _parse_shuttle),
    "magic": UCISpec({"all": (_MAGIC,)}, _numeric_last_label("magic04.data", ("g", "h"), ("gamma", "hadron"))),
    "adult": UCISpec({"train": (_ADULT_DATA, _ADULT_TEST), "test": (_ADULT_DATA, _ADULT_TEST),
                      "all": (_ADULT_DATA, _ADULT_TEST)}, _parse_adult),
    "letter": UCISpec({"all": (_LETTER,)}, _parse_letter),
    "covertype": UCISpec({"all": (_COVTYPE,)}, _parse_covertype),
}
_SEPARATORS = {"agaricus-lepiota.data": ",", "magic04.data": ",", "adult.data": ",", "adult.test": ",",
               "letter-recognition.data": ",", "covtype.data.gz": ",", "shuttle.trn": None, "shuttle.tst": None}


def _ensure_file(name: str, spec_file: UCIFile, folder: Path, dataset: str, download_missing: bool) -> Path:
    path = folder / spec_file.name
    if path.exists():
        return path
    urls = [f.url for f in SPECS[dataset].all_files]
    files = [f.name for f in SPECS[dataset].all_files]
    if not download_missing or spec_file.url.endswith(")"):  # .Z archives need a manual uncompress
        raise DatasetNotFoundError(dataset, folder, files, urls,
                                   "files missing" + ("" if download_missing else " and download=False"),
                                   root=folder.parent.parent)
    try:
        return download(spec_file.url, path, sha256=spec_file.sha256)
    except OSError as error:
        raise DatasetNotFoundError(dataset, folder, files, urls, f"download failed: {error}",
                                   root=folder.parent.parent) from error


def load_uci(name: str, split: str = "all", *, root: Path | str | None = None, download: bool = True) -> TensorData:
    """Load a UCI dataset as float32 features ``[N, D]`` and int64 labels ``[N]`` (module docstring).

    Args:
        name: one of :data:`SPECS` (``mushroom``, ``shuttle``, ``magic``, ``adult``, ``letter``, ``covertype``).
        split: ``"all"``; ``"train"``/``"test"`` for the datasets with official splits (shuttle, adult).
        root: data root (default ``$NTK_BOOK_DATA``); files are read from ``<root>/uci/<name>/``.
        download: fetch missing files from UCI.
    """
    if name not in SPECS:
        raise ValueError(f"Unknown UCI dataset {name!r}; valid: {sorted(SPECS)}.")
    spec = SPECS[name]
    if split not in spec.files:
        raise ValueError(f"Dataset {name!r} has splits {sorted(spec.files)}, not {split!r}.")
    folder = Path(root or default_data_root()) / "uci" / name
    paths = [_ensure_file(f.name, f, folder, name, download) for f in spec.all_files]

    def build() -> dict[str, torch.Tensor]:
        rows = {}
        for f, path in zip(spec.all_files, paths):
            if f.sha256:
                verify(path, sha256=f.sha256)
            rows[f.name] = _read_rows(path, _SEPARATORS[f.name], skip_prefix="|")
            if len(rows[f.name]) != f.rows:
                raise DatasetCorruptError(path, f"{len(rows[f.name])} rows, expected {f.rows}")
        x, y, classes = spec.parse(rows, split)
        return {"x": torch.from_numpy(x), "y": torch.from_numpy(y), "classes": encode_names(classes)}

    tensors = cached_tensors(f"uci-{name}-{split}", paths, build)
    return TensorData(f"{name}/{split}", tensors["x"], tensors["y"], decode_names(tensors["classes"]))


def standardize(train: torch.Tensor, *others: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, ...]:
    """Z-score features with the mean and std of ``train`` (constant columns are left at 0)."""
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std < eps, torch.ones_like(std), std)
    return tuple((t - mean) / std for t in (train, *others))

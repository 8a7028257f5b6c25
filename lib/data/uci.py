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
import math
import zlib
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
from lib.validation import check_nonnegative, check_tensor

_BASE = "https://archive.ics.uci.edu/ml/machine-learning-databases"


@dataclass(frozen=True)
class UCIFile:
    """One UCI file: its name, download URL, expected number of data rows and SHA-256 (where fixed)."""

    name: str
    url: str
    rows: int
    sha256: str | None = None


@dataclass(frozen=True)
class UCISpec:
    """A UCI dataset: its files per split and the parser that turns their rows into ``(x, y, classes)``."""

    files: dict[str, tuple[UCIFile, ...]]  # split -> files
    parse: Callable[[dict[str, list[list[str]]], str], tuple[np.ndarray, np.ndarray, tuple[str, ...]]]

    @property
    def all_files(self) -> tuple[UCIFile, ...]:
        seen: dict[str, UCIFile] = {}
        for files in self.files.values():
            for f in files:
                seen[f.name] = f
        return tuple(seen.values())


class _Rows(list):
    """The data rows of one file (lists of string fields), with the file's path and each row's line number."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.lines: list[int] = []

    def where(self, i: int) -> str:
        return f"line {self.lines[i]}"


#: Fields per row of every file (features + label).
_COLUMNS = {"agaricus-lepiota.data": 23, "magic04.data": 11, "adult.data": 15, "adult.test": 15,
            "letter-recognition.data": 17, "covtype.data.gz": 55, "shuttle.trn": 10, "shuttle.tst": 10}


def _read_rows(path: Path, sep: str | None, skip_prefix: str | None = None, columns: int | None = None) -> _Rows:
    """Non-empty, non-comment rows of a text file split at ``sep``; every row must have ``columns`` fields."""
    opener = gzip.open if path.suffix == ".gz" else open
    rows = _Rows(path)
    try:
        with opener(path, "rt") as handle:
            for number, line in enumerate(handle, 1):
                line = line.strip()
                if not line or (skip_prefix and line.startswith(skip_prefix)):
                    continue
                fields = [v.strip() for v in (line.split(sep) if sep else line.split())]
                if columns is not None and len(fields) != columns:
                    raise DatasetCorruptError(path, f"line {number}: expected {columns} columns, found {len(fields)} "
                                              f"({line[:60]!r}); the file is damaged (check $NTK_BOOK_DATA)")
                rows.append(fields)
                rows.lines.append(number)
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DatasetCorruptError(path, f"it cannot be read as text ({type(error).__name__}: {error})") from error
    return rows


def _floats(rows: _Rows, columns: list[int]) -> np.ndarray:
    """The given columns of every row as finite float32 ``[N, len(columns)]``; a missing (``?``), NaN or
    non-numeric value raises :class:`DatasetCorruptError` naming the file, line and column."""
    if not rows:
        return np.zeros((0, len(columns)), dtype=np.float32)
    try:
        values = np.array([[r[c] for c in columns] for r in rows], dtype=np.float64)
        if np.isfinite(values).all():
            return values.astype(np.float32)
    except ValueError:
        pass
    for i, r in enumerate(rows):  # locate the first bad value for the message
        for c in columns:
            try:
                ok = math.isfinite(float(r[c]))
            except ValueError:
                ok = False
            if not ok:
                raise DatasetCorruptError(rows.path, f"{rows.where(i)}, column {c + 1}: {r[c]!r} is not a finite "
                                          "number (a missing or damaged value)")
    raise DatasetCorruptError(rows.path, "numeric columns could not be parsed")  # pragma: no cover


def _one_hot(columns: list[list[str]], vocab: list[list[str]]) -> np.ndarray:
    blocks = []
    for values, categories in zip(columns, vocab, strict=False):
        index = {c: i for i, c in enumerate(categories)}
        block = np.zeros((len(values), len(categories)), dtype=np.float32)
        block[np.arange(len(values)), [index[v] for v in values]] = 1.0
        blocks.append(block)
    return np.concatenate(blocks, axis=1)


def _labels(rows: _Rows, column: int, classes: tuple[str, ...], strip: str = "") -> np.ndarray:
    """Column ``column`` of every row as class indices into ``classes``; an unknown label names its line."""
    index = {c: i for i, c in enumerate(classes)}
    out = np.empty(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        value = r[column].rstrip(strip) if strip else r[column]
        if value not in index:
            raise DatasetCorruptError(rows.path, f"{rows.where(i)}: unexpected label {value!r} (valid: "
                                      f"{', '.join(classes)})")
        out[i] = index[value]
    return out


def _parse_mushroom(rows: dict[str, _Rows], split: str):
    data = rows["agaricus-lepiota.data"]
    columns = [list(c) for c in zip(*[r[1:] for r in data], strict=False)]
    x = _one_hot(columns, [sorted(set(c)) for c in columns])
    return x, _labels(data, 0, ("e", "p")), ("edible", "poisonous")


def _numeric_last_label(file: str, classes: tuple[str, ...], names: tuple[str, ...] | None = None):
    def parse(rows: dict[str, _Rows], split: str):
        data = rows[file]
        x = _floats(data, list(range(_COLUMNS[file] - 1)))
        return x, _labels(data, _COLUMNS[file] - 1, classes), names or classes
    return parse


def _parse_shuttle(rows: dict[str, _Rows], split: str):
    files = {"train": ["shuttle.trn"], "test": ["shuttle.tst"], "all": ["shuttle.trn", "shuttle.tst"]}[split]
    classes = tuple(str(i) for i in range(1, 8))
    x = np.concatenate([_floats(rows[f], list(range(9))) for f in files])
    y = np.concatenate([_labels(rows[f], 9, classes) for f in files])
    names = ("Rad Flow", "Fpv Close", "Fpv Open", "High", "Bypass", "Bpv Close", "Bpv Open")
    return x, y, names


_ADULT_NUMERIC = (0, 2, 4, 10, 11, 12)


def _parse_adult(rows: dict[str, _Rows], split: str):
    train, test = rows["adult.data"], rows["adult.test"]
    files = {"train": [train], "test": [test], "all": [train, test]}[split]
    data = [r for f in files for r in f]
    categorical = [i for i in range(14) if i not in _ADULT_NUMERIC]
    vocab = [sorted({r[i] for r in train + test}) for i in categorical]
    numeric = np.concatenate([_floats(f, list(_ADULT_NUMERIC)) for f in files])
    onehot = _one_hot([[r[i] for r in data] for i in categorical], vocab)
    labels = np.concatenate([_labels(f, 14, ("<=50K", ">50K"), strip=".") for f in files])
    return np.concatenate([numeric, onehot], axis=1), labels, ("<=50K", ">50K")


def _parse_letter(rows: dict[str, _Rows], split: str):
    data = rows["letter-recognition.data"]
    classes = tuple(chr(ord("A") + i) for i in range(26))
    x = _floats(data, list(range(1, 17)))
    return x, _labels(data, 0, classes), classes


def _parse_covertype(rows: dict[str, _Rows], split: str):
    data = rows["covtype.data.gz"]
    x = _floats(data, list(range(54)))
    return x, _labels(data, 54, tuple(str(i) for i in range(1, 8))), tuple(
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
    if not isinstance(name, str) or name not in SPECS:
        raise ValueError(f"Unknown UCI dataset {name!r}; valid: {sorted(SPECS)}.")
    spec = SPECS[name]
    if not isinstance(split, str) or split not in spec.files:
        raise ValueError(f"Dataset {name!r} has splits {sorted(spec.files)}, not {split!r}.")
    folder = Path(root or default_data_root()) / "uci" / name
    paths = [_ensure_file(f.name, f, folder, name, download) for f in spec.all_files]

    def build() -> dict[str, torch.Tensor]:
        rows = {}
        for f, path in zip(spec.all_files, paths, strict=False):
            # Structure first (the line of a damaged row is the most useful message), then the checksum.
            rows[f.name] = _read_rows(path, _SEPARATORS[f.name], skip_prefix="|", columns=_COLUMNS.get(f.name))
            if len(rows[f.name]) != f.rows:
                raise DatasetCorruptError(path, f"{len(rows[f.name])} rows, expected {f.rows}")
            if f.sha256:
                verify(path, sha256=f.sha256)
        x, y, classes = spec.parse(rows, split)
        return {"x": torch.from_numpy(x), "y": torch.from_numpy(y), "classes": encode_names(classes)}

    tensors = cached_tensors(f"uci-{name}-{split}", paths, build)
    return TensorData(f"{name}/{split}", tensors["x"], tensors["y"], decode_names(tensors["classes"]))


def standardize(train: torch.Tensor, *others: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, ...]:
    """Z-score features with the mean and std of ``train`` ``[N, D]`` (constant columns are left at 0);
    ``others`` are ``[M, D]`` arrays scaled the same way."""
    check_tensor("train", train, ndim=2, floating=True, finite=True)
    if train.shape[0] < 2:
        raise ValueError(f"standardize needs at least 2 training rows to estimate a std, got {train.shape[0]}.")
    eps = check_nonnegative("eps", eps)
    for i, t in enumerate(others):
        check_tensor(f"others[{i}]", t, ndim=2, floating=True, finite=True, shape=(None, train.shape[1]))
    mean, std = train.mean(0), train.std(0)
    std = torch.where(std < eps, torch.ones_like(std), std)
    return tuple((t - mean) / std for t in (train, *others))

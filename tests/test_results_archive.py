"""Published results (lib.results_archive): JSON round trip of every value type, nothing unpickled, bad archives
refused before anything is installed, and a cache that finds the installed results."""

from __future__ import annotations

import json
import pickle
import zipfile

import pytest
import torch

from lib.cache import ResultsCache
from lib.results_archive import ArchiveError, export_archive, install_archive


def experiment(config: dict) -> dict:
    g = torch.Generator().manual_seed(config["seed"])
    return {
        "float32": torch.randn(3, 4, generator=g),
        "float64": torch.randn(5, generator=g, dtype=torch.float64),
        "bfloat16": torch.randn(2, 2, generator=g).to(torch.bfloat16),
        "int64": torch.arange(7),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "strided": torch.arange(12.0).reshape(3, 4).t(),
        "tuple": (1, 2.0, "three", None, True),
        "int_keys": {1: "a", 2: [torch.ones(2)]},
        "reserved": {"__tuple__": [1]},
        "nan": float("nan"),
        "inf": float("inf"),
        "nested": [{"x": (torch.ones(1), 3)}],
    }


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and \
            torch.equal(a.float().nan_to_num(7.0), b.float().nan_to_num(7.0))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return type(a) is type(b) and a == b


def test_round_trip_installs_results_that_the_cache_finds(tmp_path, monkeypatch):
    source = ResultsCache(tmp_path / "built")
    expected = source.sweep(experiment, [{"seed": s} for s in range(3)], progress=False)
    zip_path = tmp_path / "site" / "results-book.zip"
    assert export_archive((tmp_path / "built").rglob("*.pt"), tmp_path / "built", zip_path, note="test") == 3
    with zipfile.ZipFile(zip_path) as archive:
        assert json.loads(archive.read("manifest.json"))["entries"] == 3
    assert install_archive(zip_path, tmp_path / "reader") == 3
    assert install_archive(zip_path, tmp_path / "reader") == 0, "existing entries are kept"

    def never(*args, **kwargs):
        raise AssertionError("the reader recomputed a published result")

    reader = ResultsCache(tmp_path / "reader")
    monkeypatch.setattr(experiment, "__code__", never.__code__)
    got = reader.sweep(experiment, [{"seed": s} for s in range(3)], progress=False)
    for a, b in zip(expected, got):
        assert same(a, b)


def test_install_never_unpickles(tmp_path, monkeypatch):
    ResultsCache(tmp_path / "built").run(experiment, {"seed": 0})
    zip_path = tmp_path / "r.zip"
    export_archive((tmp_path / "built").rglob("*.pt"), tmp_path / "built", zip_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("unpickling during install")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    assert install_archive(zip_path, tmp_path / "reader") == 1


def write_archive(path, members: dict[str, str], manifest: dict | None = None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest or {"format": "ntk-book-results", "version": 1}))
        for name, text in members.items():
            archive.writestr(name, text)


GOOD = json.dumps({"config": {"seed": 0}, "result": {"x": 1}})
BAD_TENSOR = json.dumps({"config": {}, "result": {"__tensor__": {"dtype": "float32", "shape": [4], "data": "AAAA"}}})
BAD_DTYPE = json.dumps({"config": {}, "result": {"__tensor__": {"dtype": "os.system", "shape": [], "data": ""}}})


@pytest.mark.parametrize(("members", "manifest", "match"), [
    ({"entries/../0123456789abcdef.json": GOOD}, None, "unexpected member"),
    ({"entries/.hidden/0123456789abcdef.json": GOOD}, None, "unexpected member"),
    ({"/etc/0123456789abcdef.json": GOOD}, None, "unexpected member"),
    ({"entries/exp/0123456789abcdef.pkl": GOOD}, None, "unexpected member"),
    ({"entries/exp/0123456789abcdef.json": "{not json"}, None, "not valid JSON"),
    ({"entries/exp/0123456789abcdef.json": BAD_TENSOR}, None, "needs 16 bytes"),
    ({"entries/exp/0123456789abcdef.json": BAD_DTYPE}, None, "unknown tensor dtype"),
    ({"entries/exp/0123456789abcdef.json": GOOD}, {"format": "other", "version": 1}, "this lib reads"),
])
def test_bad_archives_are_refused_and_install_nothing(tmp_path, members, manifest, match):
    path = tmp_path / "bad.zip"
    write_archive(path, {"entries/exp/fedcba9876543210.json": GOOD, **members}, manifest)
    with pytest.raises(ArchiveError, match=match):
        install_archive(path, tmp_path / "reader")
    assert not (tmp_path / "reader").exists() or not list((tmp_path / "reader").rglob("*.pt"))


def test_missing_archive_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No results archive"):
        install_archive(tmp_path / "nope.zip", tmp_path / "reader")

"""The results cache: keys from the experiment's own code, safe loading, corrupt entries, read-only roots."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

import lib.cache as cache_module
from lib.cache import ResultsCache, code_version, lib_import_closure


def _fake_lib(root):
    (root / "lib" / "experiments").mkdir(parents=True)
    (root / "lib" / "__init__.py").write_text("from lib.profiles import PROFILES\n")
    (root / "lib" / "profiles.py").write_text("PROFILES = ('quick',)\n")
    (root / "lib" / "experiments" / "__init__.py").write_text("")
    (root / "lib" / "experiments" / "exp.py").write_text(
        "from lib.helper import f\n\ndef run(config):\n    from lib import lazy\n    return f(config)\n")
    (root / "lib" / "helper.py").write_text("def f(c):\n    return c\n")
    (root / "lib" / "lazy.py").write_text("X = 1\n")
    (root / "lib" / "plotting.py").write_text("def band():\n    pass\n")
    return root / "lib"


def experiment(config):
    return {"value": config["x"] ** 2}


experiment.__module__ = "lib.experiments.exp"


def test_import_closure_follows_static_lazy_and_package_imports(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "_LIB_ROOT", _fake_lib(tmp_path))
    names = {p.relative_to(tmp_path / "lib").as_posix() for p in lib_import_closure("lib.experiments.exp")}
    # lib/__init__.py is hashed as a parent package; its own import (profiles) is not followed
    assert names == {"__init__.py", "experiments/__init__.py", "experiments/exp.py", "helper.py", "lazy.py"}


def test_editing_unused_code_keeps_results_and_editing_used_code_recomputes(tmp_path, monkeypatch):
    fake = _fake_lib(tmp_path)
    monkeypatch.setattr(cache_module, "_LIB_ROOT", fake)

    def version():  # a fresh process: the memo is per process
        code_version.cache_clear()
        return code_version(experiment)

    before = version()
    (fake / "plotting.py").write_text("def band():\n    return 'restyled'\n")
    assert version() == before, "editing a plotting function must keep results"
    (fake / "lazy.py").write_text("X = 2\n")
    after_lazy = version()
    assert after_lazy != before, "editing a module the experiment imports lazily must recompute"
    (fake / "helper.py").write_text("def f(c):\n    return 2 * c\n")
    assert version() not in {before, after_lazy}
    # within one process the key stays that of the code it imported, even after an edit
    (fake / "helper.py").write_text("def f(c):\n    return 3 * c\n")
    memo = code_version(experiment)
    (fake / "helper.py").write_text("def f(c):\n    return 4 * c\n")
    assert code_version(experiment) == memo
    code_version.cache_clear()


def test_real_chapter_experiment_does_not_depend_on_the_figures():
    files = {p.relative_to(p.parents[1]).as_posix() for p in lib_import_closure("lib.experiments.scaling_laws.runs")}
    assert "scaling_laws/runs.py" in files and "lib/training.py" in files
    assert "scaling_laws/__init__.py" in files  # hashed (it runs on import) ...
    assert "scaling_laws/analysis.py" not in files  # ... but what it re-exports is not followed
    assert not any(f.endswith(("plotting.py", "notebook.py")) or "figures" in f for f in files)


def test_round_trip_converts_numpy_and_loads_without_pickle(tmp_path):
    cache = ResultsCache(tmp_path)
    calls = []

    def fn(config):
        calls.append(config)
        return {"a": np.arange(3), "b": np.float64(0.5), "c": [1, (2, 3)], "t": torch.ones(2)}

    first = cache.run(fn, {"x": 1})
    second = cache.run(fn, {"x": 1})
    assert len(calls) == 1
    assert torch.equal(second["a"], torch.arange(3)) and second["b"] == 0.5 and second["c"] == [1, (2, 3)]
    assert isinstance(first["a"], np.ndarray)  # the caller gets what fn returned


def test_a_pickled_object_in_the_folder_is_never_executed(tmp_path):
    cache = ResultsCache(tmp_path)
    path = cache.path_for(experiment, {"x": 2})
    path.parent.mkdir(parents=True)

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    torch.save({"config": {"x": 2}, "result": Payload()}, path)
    with pytest.warns(UserWarning, match="could not be read"):
        assert cache.run(experiment, {"x": 2}) == {"value": 4}
    assert not (tmp_path / "pwned").exists()
    assert list(path.parent.glob("*.corrupt-*")), "the bad entry is moved aside, not deleted"


def test_truncated_entry_is_reported_moved_aside_and_recomputed_in_a_sweep(tmp_path):
    cache = ResultsCache(tmp_path)
    results = cache.sweep(experiment, [{"x": i} for i in range(3)], progress=False)
    path = cache.path_for(experiment, {"x": 1})
    path.write_bytes(path.read_bytes()[:20])
    with pytest.warns(UserWarning, match=r"could not be read.*recomputed"):
        again = cache.sweep(experiment, [{"x": i} for i in range(3)], progress=False)
    assert again == results
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.run(experiment, {"x": 1}) == {"value": 1}  # the recomputed entry is sound


def test_entry_whose_config_does_not_match_its_key_is_not_trusted(tmp_path):
    cache = ResultsCache(tmp_path)
    cache.run(experiment, {"x": 3})
    path = cache.path_for(experiment, {"x": 3})
    torch.save({"config": {"x": 4}, "result": {"value": 16}}, path)
    with pytest.warns(UserWarning, match="stored config differs"):
        assert cache.run(experiment, {"x": 3}) == {"value": 9}


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else False, reason="root ignores file permissions")
def test_read_only_root_fails_before_the_experiment_runs(tmp_path):
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    calls = []
    try:
        with pytest.raises(PermissionError, match="not writable.*NTK_BOOK_RESULTS"):
            ResultsCache(root).run(lambda c: calls.append(c), {"x": 1})
    finally:
        root.chmod(0o700)
    assert calls == []


def test_unwritable_root_fails_before_the_experiment_runs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    calls = []
    with pytest.raises(PermissionError, match="not writable"):
        ResultsCache(blocker / "results").run(lambda c: calls.append(c), {"x": 1})
    assert calls == []


def test_unstorable_result_is_returned_with_a_warning(tmp_path):
    cache = ResultsCache(tmp_path)
    with pytest.warns(UserWarning, match="computed but not cached"):
        result = cache.run(lambda c: {"obj": object()}, {"x": 1})
    assert "obj" in result

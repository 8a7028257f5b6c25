"""Device selection, seeding, profiles, the results cache and the plotting helpers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import lib
from lib.cache import ResultsCache, config_key
from lib.device import no_tf32, seed_everything, select_device
from lib.plotting import caption, mean_and_sem, save_figure, use_book_style
from lib.profiles import pick_profile

REPO = Path(__file__).resolve().parents[1]


def test_lib_is_this_checkout():
    assert Path(lib.__file__).resolve() == REPO / "lib" / "__init__.py"


def test_select_device(monkeypatch):
    monkeypatch.delenv("NTK_BOOK_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert select_device().type == expected
    assert select_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("NTK_BOOK_DEVICE", "cpu")
    assert select_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="Unknown device"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="not available"):
            select_device("cuda")


def test_seed_everything_is_reproducible():
    g1 = seed_everything(3)
    a = (torch.randn(3), np.random.rand(), torch.randn(2, generator=g1))
    g2 = seed_everything(3)
    b = (torch.randn(3), np.random.rand(), torch.randn(2, generator=g2))
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2])
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_no_tf32_restores_flags():
    torch.backends.cuda.matmul.allow_tf32 = True
    with no_tf32():
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False


def test_profiles():
    sizes = {"quick": 1, "book": 2, "paper": 3}
    assert pick_profile(sizes, "book") == 2
    with pytest.raises(ValueError, match="valid profiles are 'quick', 'book', 'paper'"):
        pick_profile(sizes, "fast")
    with pytest.raises(ValueError, match="exactly the profiles"):
        pick_profile({"quick": 1}, "quick")


def square(config):
    return {"value": config["x"] ** 2, "tensor": torch.arange(config["x"])}


def test_results_cache_stores_recalls_and_keys_on_config(tmp_path):
    cache = ResultsCache(tmp_path)
    calls = []

    def fn(config):
        calls.append(config)
        return square(config)

    assert cache.run(fn, {"x": 3})["value"] == 9
    assert torch.equal(cache.run(fn, {"x": 3})["tensor"], torch.arange(3))
    assert len(calls) == 1
    cache.run(fn, {"x": 4})
    assert len(calls) == 2
    assert config_key("e", {"a": 1, "b": 2}, "v") == config_key("e", {"b": 2, "a": 1}, "v")
    assert config_key("e", {"a": 1}, "v1") != config_key("e", {"a": 1}, "v2")
    with pytest.raises(TypeError, match="JSON-like"):
        cache.run(fn, {"x": object()})
    assert not list(tmp_path.rglob("*.tmp"))


SWEEP_SCRIPT = textwrap.dedent("""
    import sys, time, pathlib
    from lib.cache import ResultsCache
    log = pathlib.Path(sys.argv[2])

    def slow(config):
        with log.open("a") as handle:
            handle.write(f"{config['i']}\\n")
        time.sleep(0.4)
        return config["i"] * 10

    results = ResultsCache(sys.argv[1]).sweep(slow, [{"i": i} for i in range(6)], progress=False)
    print("RESULTS", results)
""")


def test_killed_sweep_resumes_without_redoing_finished_configs(tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP_SCRIPT)
    log = tmp_path / "log.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "results"), str(log)], env=env)
    try:
        deadline = 120
        import time
        start = time.time()
        while (not log.exists() or len(log.read_text().split()) < 3) and time.time() - start < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    started = log.read_text().split()
    finished = len(list((tmp_path / "results").rglob("*.pt")))
    assert 2 <= finished < 6, f"the kill should land mid-sweep (finished {finished})"
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "results"), str(log)], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert "RESULTS [0, 10, 20, 30, 40, 50]" in out
    rerun = log.read_text().split()[len(started):]
    assert len(rerun) == 6 - finished, "finished configs must not be recomputed"
    assert not list((tmp_path / "results").rglob("*.tmp")), "no half-written files"
    # a second complete run is served from the cache
    subprocess.run([sys.executable, str(script), str(tmp_path / "results"), str(log)], env=env, check=True,
                   capture_output=True)
    assert len(log.read_text().split()) == len(started) + len(rerun)


def test_plotting_helpers(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    use_book_style()
    mean, sem = mean_and_sem(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert mean.tolist() == [2.0, 3.0] and np.allclose(sem, [1.0, 1.0])
    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    text = save_figure(fig, tmp_path / "fig", text="Lines go up.", profile="quick", seeds=3, device="cpu")
    assert (tmp_path / "fig.png").stat().st_size > 0
    assert text == caption("Lines go up", profile="quick", seeds=[0, 1, 2], device="cpu")
    assert "Profile 'quick', 3 seeds (0, 1, 2)" in text and "cpu" in text

"""Sweeps on an executor (lib.sweeps): in-process, and on a real local Dask cluster over loopback.

The cluster tests start worker processes (a few seconds each) and check the faults the executor promises to
survive: a worker killed mid-task, a driver killed and restarted, an experiment that raises.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sweep_experiments as ex

from lib.cache import ResultsCache, code_version
from lib.sweeps import DaskCluster, InProcess, SweepError, Task, compute_and_store, executor_from

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def configs(tmp_path: Path, n: int = 6, **extra) -> list[dict]:
    return [{"i": i, "log": str(tmp_path / "log.txt"), **extra} for i in range(n)]


def computed(tmp_path: Path) -> list[int]:
    log = tmp_path / "log.txt"
    return [int(line.split()[0]) for line in log.read_text().splitlines()] if log.exists() else []


def test_in_process_failure_is_reported_with_its_config_and_the_rest_is_stored(tmp_path):
    cache = ResultsCache(tmp_path / "results")
    with pytest.raises(SweepError, match=r"1 of 6 configs .* failed[\s\S]*'i': 3[\s\S]*cannot handle i = 3") as info:
        cache.sweep(ex.fails_on_three, configs(tmp_path), progress=False)
    assert [f.config["i"] for f in info.value.failures] == [3]
    assert sorted(computed(tmp_path)) == [0, 1, 2, 4, 5]
    assert len(list((tmp_path / "results").rglob("*.pt"))) == 5
    # run again: only the failed config is attempted
    with pytest.raises(SweepError):
        cache.sweep(ex.fails_on_three, configs(tmp_path), progress=False)
    assert sorted(computed(tmp_path)) == [0, 1, 2, 4, 5]


def test_duplicate_configs_are_computed_once(tmp_path):
    cache = ResultsCache(tmp_path / "results")
    items = configs(tmp_path, 3)
    out = cache.sweep(ex.square, items + items[:2], progress=False)
    assert [r["value"] for r in out] == [0, 1, 4, 0, 1]
    assert sorted(computed(tmp_path)) == [0, 1, 2]


def test_worker_on_other_code_refuses_the_task(tmp_path):
    config = configs(tmp_path, 1)[0]
    task = Task(ex.square, config, str(tmp_path / "x.pt"), "0123456789abcdef", config)
    with pytest.raises(RuntimeError, match="other code than the driver"):
        compute_and_store(task)
    assert not (tmp_path / "x.pt").exists()
    good = Task(ex.square, config, str(tmp_path / "x.pt"), code_version(ex.square), config)
    assert compute_and_store(good) == str(tmp_path / "x.pt")


def test_bad_executor_arguments_are_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="lib.sweeps.Executor"):
        ResultsCache(tmp_path, executor="local")
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        DaskCluster("local", workers=0)
    assert isinstance(executor_from(None), InProcess)
    assert isinstance(executor_from("in-process"), InProcess)


@pytest.fixture(scope="module")
def cluster():
    """A real local Dask cluster: 2 worker processes, one thread each, over loopback."""
    with DaskCluster("local", workers=2, gpu_resource=False) as executor:
        yield executor


@pytest.mark.slow
def test_cluster_sweep_matches_in_process_and_sends_only_missing_configs(tmp_path, cluster):
    items = configs(tmp_path, 8, sleep=0.05)
    ResultsCache(tmp_path / "results").sweep(ex.square, items[:3], progress=False)  # three finished in-process
    assert sorted(computed(tmp_path)) == [0, 1, 2]
    out = ResultsCache(tmp_path / "results", executor=cluster).sweep(ex.square, items, progress=False)
    assert [r["value"] for r in out] == [i * i for i in range(8)]
    assert sorted(computed(tmp_path)) == [0, 1, 2, 3, 4, 5, 6, 7], "only the 5 missing configs are sent"
    assert {r["pid"] for r in out[3:]} - {os.getpid()}, "the missing configs ran in worker processes"


@pytest.mark.slow
def test_cluster_failure_is_reported_and_the_rest_completes(tmp_path, cluster):
    cache = ResultsCache(tmp_path / "results", executor=cluster)
    with pytest.raises(SweepError, match=r"'i': 3[\s\S]*cannot handle i = 3") as info:
        cache.sweep(ex.fails_on_three, configs(tmp_path), progress=False)
    assert [f.config["i"] for f in info.value.failures] == [3]
    assert sorted(computed(tmp_path)) == [0, 1, 2, 4, 5]


@pytest.mark.slow
def test_gpu_configs_without_gpu_workers_fail_at_once(tmp_path, cluster):
    cache = ResultsCache(tmp_path / "results", executor=cluster)
    with pytest.raises(RuntimeError, match="no worker of the cluster advertises a GPU"):
        cache.sweep(ex.square, configs(tmp_path, 2, device="cuda"), progress=False)
    assert computed(tmp_path) == []


@pytest.mark.slow
def test_worker_killed_mid_task_the_sweep_completes_and_nothing_finished_is_lost(tmp_path):
    items = configs(tmp_path, 6, sleep=0.2, marker=str(tmp_path / "killed"))
    with DaskCluster("local", workers=2, gpu_resource=False) as executor:
        out = ResultsCache(tmp_path / "results", executor=executor).sweep(ex.kills_its_worker_once, items,
                                                                           progress=False)
    assert (tmp_path / "killed").exists(), "a worker was killed"
    assert [r["value"] for r in out] == [i * i for i in range(6)]
    done = computed(tmp_path)
    assert sorted(set(done)) == list(range(6))
    assert len(done) <= 7, "at most the killed worker's other in-flight task is computed twice"


DRIVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import sweep_experiments as ex
    from lib.cache import ResultsCache
    from lib.sweeps import DaskCluster

    if __name__ == "__main__":  # worker processes re-import this file: only the driver starts the cluster
        root, log = sys.argv[1], sys.argv[2]
        items = [{{"i": i, "log": log, "sleep": 0.6}} for i in range(8)]
        with DaskCluster("local", workers=2, gpu_resource=False) as cluster:
            out = ResultsCache(root, executor=cluster).sweep(ex.square, items, progress=False)
        print("VALUES", [r["value"] for r in out])
""")


@pytest.mark.slow
def test_driver_killed_and_restarted_resumes_from_finished_results(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(TESTS)))
    # Both drivers import one frozen copy of lib, so the key (which hashes lib) is the same for both runs
    # even if the checkout is edited meanwhile.
    snapshot = tmp_path / "snapshot"
    shutil.copytree(REPO / "lib", snapshot / "lib", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(snapshot)}
    args = [sys.executable, str(script), str(tmp_path / "results"), str(tmp_path / "log.txt")]
    proc = subprocess.Popen(args, env=env, start_new_session=True)
    try:
        start = time.time()
        while (len(list((tmp_path / "results").rglob("*.pt"))) < 2 and time.time() - start < 120
               and proc.poll() is None):
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its local cluster die together
    finally:
        proc.wait()
    finished = len(list((tmp_path / "results").rglob("*.pt")))
    first = computed(tmp_path)  # may include a config whose result was not yet stored when the driver died
    assert 2 <= finished < 8, f"the kill should land mid-sweep (finished {finished})"
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"VALUES {[i * i for i in range(8)]}" in out.stdout
    again = computed(tmp_path)[len(first):]
    assert len(again) == 8 - finished, f"finished configs must not be recomputed: {first} then {again}"
    assert not list((tmp_path / "results").rglob("*.tmp")), "no half-written result"


@pytest.mark.slow
def test_sweep_command_runs_a_chapter_on_a_local_cluster_and_reports_failures(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(REPO / "tools"))
    import sweep as command

    import lib.experiments.registry as registry

    monkeypatch.setattr(registry, "chapter_runner", lambda chapter: ex.run_chapter)
    monkeypatch.setenv("SWEEP_TEST_LOG", str(tmp_path / "log.txt"))
    args = ["5", "--profile", "quick", "--device", "cpu", "--scheduler", "local", "--workers", "2",
            "--results", str(tmp_path / "results")]
    assert command.main(args) == 1, "a failed config makes the command fail"
    err = capsys.readouterr().err
    assert "1 of 4 configs" in err and "'i': 3" in err
    assert sorted(computed(tmp_path)) == [0, 0, 1, 1, 2, 4]
    assert command.main(args[:-2] + ["--scheduler", "in-process", "--results", str(tmp_path / "results")]) == 1
    assert sorted(computed(tmp_path)) == [0, 0, 1, 1, 2, 4], "a rerun computes only what failed"


def test_run_time_is_stored_with_each_result_and_reported_per_chapter(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "tools"))
    import sweep as command

    from lib.cache import read_run_record

    cache = ResultsCache(tmp_path / "results")
    cache.sweep(ex.square, configs(tmp_path, 3, sleep=0.1), name="lib.experiments.scaling_laws.runs.fake",
                progress=False)
    records = [read_run_record(p) for p in (tmp_path / "results").rglob("*.pt")]
    assert len(records) == 3 and all(r["seconds"] >= 0.1 and "CPU" in r["hardware"] for r in records)
    assert command.main(["5", "--report", "--results", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "runs.fake" in out and " 3 " in out
    assert command.main(["2", "--report", "--results", str(tmp_path / "results")]) == 1

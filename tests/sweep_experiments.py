"""Experiments for tests/test_sweeps.py, importable by Dask worker processes (they run them by reference).

Each config names a log file; every computation appends one line, so a test can count what was computed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def _log(config: dict) -> None:
    with Path(config["log"]).open("a") as handle:
        handle.write(f"{config['i']} {os.getpid()}\n")


def square(config: dict) -> dict:
    """``{"value": i²}``, after ``config.get("sleep", 0)`` seconds; logs the computation."""
    time.sleep(config.get("sleep", 0.0))
    _log(config)
    return {"value": config["i"] ** 2, "pid": os.getpid()}


def fails_on_three(config: dict) -> dict:
    """Like :func:`square` but raises for ``i == 3``."""
    if config["i"] == 3:
        raise ValueError("the experiment cannot handle i = 3")
    return square(config)


def kills_its_worker_once(config: dict) -> dict:
    """Like :func:`square`, but the first attempt at ``i == 2`` kills the worker process running it."""
    marker = Path(config["marker"])
    if config["i"] == 2 and not marker.exists():
        marker.write_text("killed once")
        os._exit(1)  # the worker process dies mid-task, as on an out-of-memory kill or a lost node
    return square(config)


def run_chapter(profile: str, device, cache, *, seed: int = 0) -> None:
    """A two-stage 'chapter' for the tools/sweep.py test: the second stage's configs depend on the first's results."""
    import os as _os

    log = _os.environ["SWEEP_TEST_LOG"]
    first = cache.sweep(square, [{"i": i, "log": log, "profile": profile, "seed": seed} for i in range(3)],
                        desc="stage 1")
    cache.sweep(fails_on_three, [{"i": r["value"], "log": log} for r in first] + [{"i": 3, "log": log}],
                desc="stage 2")

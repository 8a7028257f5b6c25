"""The experiments of each chapter as pure functions ``config -> result`` (cacheable with
:class:`lib.cache.ResultsCache`) plus each chapter's size table per profile.

* :mod:`lib.experiments.kernel_regime` — Chapter 1, the kernel regime: what makes a network lazy;
* :mod:`lib.experiments.natural_gradient` — Chapter 2, natural gradient vs gradient descent;
* :mod:`lib.experiments.forgetting` — Chapter 4, catastrophic forgetting vs width and budget;
* :mod:`lib.experiments.scaling_laws` — Chapter 5, NTK and generalization (scaling laws).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch


def single_threaded(fn: Callable[[dict], dict]) -> Callable[[dict], dict]:
    """Run an experiment ``fn(config)`` with one intra-op CPU thread, restoring the caller's setting afterwards.

    For chapters whose networks are small (Chapters 1 and 4): splitting their matrix products over threads gains
    little, and on a machine whose other core is busy it costs a great deal (threads spin at barriers; one
    full-batch GD run at width 128 took 0.8 s with one thread and 39 s with two on a loaded 2-core machine, one
    forgetting run at width 512 2.5 s against 19.5 s of CPU). Runs on other devices (:func:`config_device`) are
    unaffected.
    """

    @functools.wraps(fn)
    def wrapper(config: dict) -> dict:
        if config_device(config).type != "cpu":
            return fn(config)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(config)
        finally:
            torch.set_num_threads(threads)

    return wrapper


def config_device(config: dict) -> torch.device:
    """The device an experiment runs on: ``config["device"]`` (e.g. ``"cuda"``), CPU if absent."""
    return torch.device(config.get("device", "cpu"))


def optional_skip_reason(dataset: str, description: str, *, profile: str, device: torch.device) -> str | None:
    """Why an optional (large-data) variant is skipped, or ``None`` if it runs.

    It runs when ``dataset`` is under the data root and there is compute for it: the ``"paper"``
    profile or a CUDA device. The message names the variant (``description``) and the fix.
    """
    from lib.data import is_available

    if not is_available(dataset):
        return f"{description}: skipped — {dataset} is not under the data root ($NTK_BOOK_DATA; see data/README.md)."
    if profile != "paper" and device.type != "cuda":
        return (f"{description}: skipped — the data is present, but this variant runs only in the 'paper' profile "
                "or on a GPU.")
    return None


def optional_runs(candidates: dict[str, tuple[str, str]], *, profile: str,
                  device: torch.device) -> tuple[list[str], list[str]]:
    """``(names, messages)`` for optional variants ``{name: (dataset, description)}``: the names that run
    (see :func:`optional_skip_reason`) in the given order, and one message per skipped variant."""
    names, messages = [], []
    for name, (dataset, description) in candidates.items():
        reason = optional_skip_reason(dataset, description, profile=profile, device=device)
        if reason is None:
            names.append(name)
        else:
            messages.append(reason)
    return names, messages

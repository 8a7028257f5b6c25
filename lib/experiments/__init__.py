"""The experiments of each chapter as pure functions ``config -> result`` (cacheable with
:class:`lib.cache.ResultsCache`) plus each chapter's size table per profile.

* :mod:`lib.experiments.kernel_regime` — Chapter 1, the kernel regime primer;
* :mod:`lib.experiments.natural_gradient` — Chapter 2, natural gradient vs gradient descent;
* :mod:`lib.experiments.forgetting` — Chapter 4, catastrophic forgetting vs width and budget;
* :mod:`lib.experiments.scaling_laws` — Chapter 5, NTK and generalization (scaling laws).
"""

from __future__ import annotations

import torch


def config_device(config: dict) -> torch.device:
    """The device an experiment runs on: ``config["device"]`` (e.g. ``"cuda"``), CPU if absent."""
    return torch.device(config.get("device", "cpu"))

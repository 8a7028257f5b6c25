"""``lib`` — the code behind "NTK: theory vs practice", an executable book.

Notebooks tell the story; this package does the work. Subpackages:
``lib.ntk`` (Jacobians, kernels, linearization, NTK-GP, natural gradient), ``lib.models``,
``lib.data`` (datasets and small tasks), ``lib.experiments`` (each chapter's experiments and
sizes per profile), and the modules ``lib.training`` (training loops), ``lib.kernel_change``
(how far parameters, Jacobian and kernel move), ``lib.device``, ``lib.profiles``,
``lib.cache`` (results cache) and ``lib.plotting`` (the house style).
"""

from __future__ import annotations

__version__ = "0.1.0"

from lib.device import describe_device, no_tf32, seed_everything, select_device
from lib.profiles import PROFILES, check_profile, pick_profile

__all__ = ["__version__", "select_device", "describe_device", "seed_everything", "no_tf32",
           "PROFILES", "check_profile", "pick_profile"]

"""Device selection, seeding and numerics switches shared by every chapter.

Nothing here touches global state implicitly: :func:`seed_everything` is the
one place that seeds the global RNGs, and it is called explicitly by the
chapters' setup cells; :func:`no_tf32` restores the previous TF32 flags on exit.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

VALID_DEVICES = ("auto", "cuda", "mps", "cpu")


def select_device(preferred: str | None = "auto") -> torch.device:
    """Return the device a chapter should run on.

    Args:
        preferred: ``"auto"`` (or ``None``) picks CUDA, then Apple MPS, then CPU.
            ``"cuda"``, ``"cuda:1"``, ``"mps"`` or ``"cpu"`` force a device; a
            forced device that is not available raises ``RuntimeError`` rather
            than silently running elsewhere. The environment variable
            ``NTK_BOOK_DEVICE`` overrides ``"auto"`` (handy in CI).

    Returns:
        The selected ``torch.device``.
    """
    if preferred is None or preferred == "auto":
        preferred = os.environ.get("NTK_BOOK_DEVICE", "auto")
    if preferred == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = preferred.split(":")[0]
    if kind not in VALID_DEVICES[1:]:
        raise ValueError(
            f"Unknown device {preferred!r}; use one of {VALID_DEVICES} (or 'cuda:<index>')."
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was requested but CUDA is not available; use 'auto' or 'cpu'.")
    if kind == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise RuntimeError("device='mps' was requested but MPS is not available; use 'auto' or 'cpu'.")
    return torch.device(preferred)


def describe_device(device: torch.device | str) -> str:
    """A human-readable name for figure captions, e.g. ``"cpu (2 threads)"``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's global RNGs and return a fresh CPU generator.

    Library functions never read the global RNG when they can take an explicit
    ``generator``; the returned generator is the one to pass around.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def no_tf32() -> Iterator[None]:
    """Disable TF32 matmuls/convolutions on CUDA inside the block, then restore.

    TF32 keeps only ~10 mantissa bits; kernel and Jacobian computations need
    full fp32 / fp64 precision. A no-op on machines without CUDA.
    """
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn

"""Wall-clock time and peak memory of one call, on CPU and CUDA.

* CUDA: growth of ``torch.cuda.max_memory_allocated`` over the call (synchronised).
* CPU: growth of the bytes allocated through ``malloc`` (glibc ``mallinfo2``: arena plus
  mmap'd blocks in use), sampled every millisecond by a helper thread. Unlike the resident-set
  size this falls when tensors are freed, so an earlier call's memory does not hide a later
  call's peak. Where ``mallinfo2`` is missing (not glibc, e.g. macOS) the peak is ``nan``.

Peaks are *increments* over what was allocated before the call, in bytes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _load_mallinfo2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    return fn


_MALLINFO2 = _load_mallinfo2()


def heap_in_use() -> int | None:
    """Bytes currently allocated through ``malloc``, or ``None`` where glibc's ``mallinfo2`` is missing."""
    if _MALLINFO2 is None:
        return None
    info = _MALLINFO2()
    return info.uordblks + info.hblkhd


@dataclass
class Measurement:
    """``seconds``: best of the timed repeats; ``peak_bytes``: peak memory growth of one call (``nan`` if
    unmeasurable here); ``result``: what the first (memory-measured) call returned; ``note``: free text."""

    seconds: float
    peak_bytes: float
    result: Any = None
    note: str = ""


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(fn: Callable[[], Any], device: torch.device | str) -> tuple[float, Any]:
    """``(peak bytes allocated during fn() beyond what was allocated before, fn's result)``.

    On CUDA the allocator's own peak counter is exact. On the CPU the heap in use (glibc ``mallinfo2``) is sampled
    by a thread every millisecond, before and after ``fn``: an allocation that lives for less than a sampling
    interval (or while the GIL is held) can be missed, so this measures the memory of computations that hold their
    buffers for a while (as the benchmarks' do), not of one short-lived temporary.
    """
    device = torch.device(device)
    gc.collect()
    if device.type == "cuda":
        _synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        result = fn()
        _synchronize(device)
        return float(max(torch.cuda.max_memory_allocated(device) - base, 0)), result
    base = heap_in_use()
    if base is None:
        return math.nan, fn()
    peak, stop = [base], threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], heap_in_use())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = fn()
    finally:
        stop.set()
        sampler.join()
    return float(max(max(peak[0], heap_in_use()) - base, 0)), result


def measure(fn: Callable[[], Any], device: torch.device | str, *, repeats: int = 3) -> Measurement:
    """Peak memory of one call (which also warms up), then the best wall time of ``repeats`` more calls."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    device = torch.device(device)
    peak, result = peak_memory(fn, device)
    times = []
    for _ in range(repeats):
        _synchronize(device)
        start = time.perf_counter()
        out = fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
        del out
    return Measurement(min(times), peak, result)

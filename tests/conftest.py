"""Shared test setup: float64 references, the data root and the lib-identity guard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# Point the data root at ../shared/data when nothing else was set (as .ci/run does).
if "NTK_BOOK_DATA" not in os.environ and (REPO.parent / "shared" / "data").is_dir():
    os.environ["NTK_BOOK_DATA"] = str(REPO.parent / "shared" / "data")

import lib  # noqa: E402

if Path(lib.__file__).resolve().parent != REPO / "lib":
    raise RuntimeError(
        f"'import lib' resolved to {lib.__file__}, not {REPO / 'lib'}; install this checkout with "
        "'pip install -e .' (make test does) and remove other 'lib' packages from sys.path."
    )


@pytest.fixture(autouse=True)
def _deterministic_threads():
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def devices() -> list[str]:
    """CPU always; CUDA too where present (the GPU tests run on a lent machine)."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

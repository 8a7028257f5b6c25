"""One lint configuration (``[tool.ruff]`` in pyproject.toml) over lib, tests, tools, benchmarks and the chapters."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    local = Path(sys.executable).with_name("ruff")
    if local.exists():
        return [str(local)]
    if shutil.which("ruff"):
        return ["ruff"]
    pytest.fail("ruff is not installed; it is in requirements.txt (make test installs it).")


def test_ruff_passes_on_every_python_file_and_notebook():
    targets = ["lib", "tests", "tools", "benchmarks", "chapters"]
    result = subprocess.run(_ruff() + ["check", "--no-cache", *targets], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, "ruff found problems (fix them or run `ruff check --fix`):\n" + result.stdout


def test_lint_covers_notebooks_and_docstrings():
    config = (REPO / "pyproject.toml").read_text()
    assert 'extend-include = ["*.ipynb"]' in config
    assert '"D103"' in config and '"F"' in config

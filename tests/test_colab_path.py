"""The Colab path: chapters conform to _config.yml's repository, and run with only lib's declared dependencies.

The slow test builds (once, cached in ``_build/.venv-colab``) a virtual environment from ``pip install -e .``
plus a kernel and a notebook runner — what Colab has after the setup cell, without myst-nb or Jupyter Book —
and runs every chapter there in the quick profile (``tools/run_notebooks.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import sync_notebooks
from tools.book import chapter_notebooks

REPO = Path(__file__).resolve().parents[1]
COLAB_VENV = REPO / "_build" / ".venv-colab"
RUNNER_PACKAGES = ["ipykernel", "nbclient", "nbformat"]
GLUE = re.compile(r"\{glue(:\w+)?\}`")


def _chapters() -> list[Path]:
    return [REPO / f"{name}.ipynb" for name in chapter_notebooks(REPO)]


@pytest.mark.parametrize("path", _chapters(), ids=lambda p: p.stem)
def test_chapter_is_in_sync_with_the_repository_settings(path):
    """Badge, setup cell and GPU metadata are generated from _config.yml (python tools/sync_notebooks.py)."""
    url, ref = sync_notebooks.repository()
    stale = sync_notebooks.out_of_date([path], url, ref)
    assert not stale, f"{path.name} is out of date: run `python tools/sync_notebooks.py {path.relative_to(REPO)}`"
    nb = json.loads(path.read_text())
    assert nb["metadata"]["accelerator"] == "GPU" and nb["metadata"]["colab"]["gpuType"]
    setup = nb["cells"][1]
    assert setup["metadata"]["tags"] == ["colab-setup", "remove-cell"]
    source = "".join(setup["source"])
    site = sync_notebooks.pages_url(url)
    assert f'REPOSITORY, REF, SITE = "{url}", "{ref}", "{site}"' in source and "KEEP_RESULTS_ON_DRIVE = False" in source
    assert "USE_PUBLISHED_RESULTS = False" in source
    assert sync_notebooks.badge(url, ref, path.relative_to(REPO).as_posix()) in "".join(nb["cells"][0]["source"])


@pytest.mark.parametrize("path", _chapters(), ids=lambda p: p.stem)
def test_findings_are_not_glue_roles_in_markdown(path):
    """A notebook front end shows Markdown cells as written: numbers must come from say() cells instead."""
    nb = json.loads(path.read_text())
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            found = GLUE.search("".join(cell["source"]))
            assert not found, f"{path.name}, cell {index}: {found.group(0)} in Markdown (use lib.notebook.say)"
        elif "".join(line for line in "".join(cell["source"]).splitlines(True)
                     if not line.lstrip().startswith("#")).lstrip().startswith("say("):
            # a findings cell (prose only) hides its code; a cell that runs code and then say()s a table may fold it
            assert "remove-input" in cell["metadata"].get("tags", []), \
                f"{path.name}, cell {index}: a say() cell is tagged remove-input (the site shows only its prose)"


def test_sync_writes_badge_setup_cell_and_metadata(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# 9. A chapter\n", "\n", "Text."]},
                    {"cell_type": "code", "id": "b", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": ["import lib\n"]}],
          "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    url, ref = "https://github.com/someone/ntk-book", "v1.2"
    out = sync_notebooks.synced(nb, "chapters/09_x.ipynb", url, ref)
    first = "".join(out["cells"][0]["source"])
    assert first.startswith("# 9. A chapter\n\n[![Open In Colab]")
    assert "github/someone/ntk-book/blob/v1.2/chapters/09_x.ipynb" in first
    assert "--branch" in "".join(out["cells"][1]["source"]) and '"v1.2"' in "".join(out["cells"][1]["source"])
    assert out["metadata"]["accelerator"] == "GPU"
    again = sync_notebooks.synced(out, "chapters/09_x.ipynb", url, ref)
    assert sync_notebooks.dumps(again) == sync_notebooks.dumps(out), "syncing twice changes nothing"


def _colab_venv() -> Path:
    """A venv with only lib's declared dependencies plus the kernel runner; rebuilt when pyproject.toml changes."""
    python = COLAB_VENV / "bin" / "python"
    stamp = COLAB_VENV / ".installed"
    want = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + " ".join(RUNNER_PACKAGES).encode()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text() == want:
        return python
    base = getattr(sys, "_base_executable", None) or "python3"
    subprocess.run([base, "-m", "venv", "--clear", str(COLAB_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-e", str(REPO), *RUNNER_PACKAGES], check=True)
    stamp.write_text(want)
    return python


@pytest.mark.book
@pytest.mark.slow
def test_every_chapter_runs_with_only_libs_declared_dependencies(tmp_path):
    """The Colab path, tested: quick profile, plain kernel, no site toolchain, no raw MyST in any output."""
    python = _colab_venv()
    probe = subprocess.run([str(python), "-c", "import myst_nb"], capture_output=True)
    assert probe.returncode != 0, "the Colab-like environment must not have the site toolchain (myst-nb)"
    env = {k: v for k, v in os.environ.items() if k not in {"NTK_BOOK_SITE", "TQDM_DISABLE", "VIRTUAL_ENV",
                                                          "PYTHONPATH"}}
    env["NTK_BOOK_RESULTS"] = str(tmp_path / "results")  # a reader's first run: nothing cached
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run([str(python), str(REPO / "tools" / "run_notebooks.py"), "--profile", "quick",
                             "--out", str(tmp_path / "executed")], env=env, cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    for name in chapter_notebooks(REPO):
        assert (tmp_path / "executed" / Path(name).with_suffix(".ipynb").name).exists()

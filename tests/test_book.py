"""The book pipeline: notebook hygiene, papermill runs in the quick profile, the site build and its checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools.book import chapter_notebooks, check_site, resolve_document, toc_files

REPO = Path(__file__).resolve().parents[1]
BOOK = [sys.executable, str(REPO / "tools" / "book.py")]


def test_every_toc_entry_exists_and_chapters_are_clean_notebooks():
    for name in toc_files(REPO / "_toc.yml"):
        resolve_document(REPO, name)  # raises if missing
    for path in sorted((REPO / "chapters").glob("**/*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and not cell.get("execution_count"), f"{path} has outputs"
        assert nb["metadata"]["kernelspec"]["name"] == "python3", f"{path}: kernelspec must be python3"
    for name in chapter_notebooks(REPO):
        assert name.startswith("chapters/"), f"{name}: chapter notebooks live in chapters/"
        nb = nbformat.read(REPO / f"{name}.ipynb", as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{name}: needs exactly one cell tagged 'parameters', found {len(tagged)}"
        assert 'profile = "book"' in tagged[0].source and "seed =" in tagged[0].source


def _write_mini_book(root: Path, cell: str) -> Path:
    source = root / "src"
    (source / "chapters").mkdir(parents=True)
    for f in ("_config.yml", "references.bib", "bibliography.md"):
        shutil.copy(REPO / f, source / f)
    (source / "intro.md").write_text("# Mini book\n\nA test book {cite}`jacot2018ntk`.\n")
    (source / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: chapters/demo\n"
                                     "  - file: bibliography\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "book"\nseed = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Demo"), params, nbformat.v4.new_code_cell(cell)]
    nbformat.write(nb, source / "chapters" / "demo.ipynb")
    return source


@pytest.mark.book
def test_a_failing_cell_fails_the_build(tmp_path):
    source = _write_mini_book(tmp_path, 'raise RuntimeError("deliberately failing cell")')
    result = subprocess.run(BOOK + ["build", "--profile", "quick", "--source", str(source), "--out",
                                    str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode != 0
    assert "FAILED: chapters/demo.ipynb" in result.stderr + result.stdout
    assert "deliberately failing cell" in result.stderr + result.stdout
    assert not (tmp_path / "out" / "site" / "_build" / "html" / "index.html").exists()


@pytest.mark.book
def test_mini_book_runs_with_injected_profile_and_renders(tmp_path):
    source = _write_mini_book(tmp_path, 'assert profile == "quick", profile\nprint("ran with", profile)')
    out = tmp_path / "out"
    subprocess.run(BOOK + ["build", "--profile", "quick", "--source", str(source), "--out", str(out)], check=True,
                   capture_output=True, text=True)
    html = out / "site" / "_build" / "html"
    assert "ran with quick" in (html / "chapters" / "demo.html").read_text()
    status = json.loads((out / "site" / "status.json").read_text())
    assert status["chapters"][0]["chapter"] == "chapters/demo" and status["chapters"][0]["profile"] == "quick"
    assert not nbformat.read(source / "chapters" / "demo.ipynb", as_version=4).cells[2].outputs, \
        "sources must stay free of outputs"


def test_site_check_catches_broken_links_and_missing_pages(tmp_path):
    site = tmp_path / "site"
    html = site / "_build" / "html"
    html.mkdir(parents=True)
    (site / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: missing\n")
    (html / "index.html").write_text('<html><body><a href="nowhere.html">x</a><img src="fig.png">'
                                     '<a href="index.html#nope">y</a><a href="https://example.org">ok</a></body></html>')
    with pytest.raises(SystemExit) as info:
        check_site(site, html)
    message = str(info.value)
    assert "missing.html was not rendered" in message and "nowhere.html" in message
    assert "fig.png" in message and "#nope" in message and "example.org" not in message


@pytest.mark.book
def test_the_book_runs_every_chapter_in_quick_profile_and_builds(tmp_path):
    """The real book: papermill runs every chapter in _toc.yml (quick profile), then the site is built and checked."""
    out = tmp_path / "quick"
    result = subprocess.run(BOOK + ["build", "--profile", "quick", "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = out / "site" / "_build" / "html"
    for name in toc_files(REPO / "_toc.yml"):
        assert (html / f"{name}.html").exists()
    status = json.loads((out / "site" / "status.json").read_text())
    assert [r["chapter"] for r in status["chapters"]] == chapter_notebooks(REPO)

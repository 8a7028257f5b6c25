"""The book pipeline: notebook hygiene, papermill runs in the quick profile, the site build and its checks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools.book import chapter_notebooks, check_site, resolve_document, select_chapters, toc_files

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
def test_only_selects_chapters_by_toc_name_file_name_or_number():
    names = ["intro", "chapters/01_kernel_regime", "chapters/02_natural_gradient", "chapters/05_scaling_laws"]
    assert select_chapters(names, None) == names
    assert select_chapters(names, ["5", "1"]) == ["chapters/01_kernel_regime", "chapters/05_scaling_laws"]
    assert select_chapters(names, ["02_natural_gradient.ipynb"]) == ["chapters/02_natural_gradient"]
    assert select_chapters(names, ["chapters/01_kernel_regime", "01"]) == ["chapters/01_kernel_regime"]
    with pytest.raises(ValueError, match="matches no chapter; choose among"):
        select_chapters(names, ["07"])


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


@pytest.fixture(scope="module")
def quick_book(tmp_path_factory):
    """The real book built once in the quick profile (shared by the build test and the browser check)."""
    out = tmp_path_factory.mktemp("book") / "quick"
    result = subprocess.run(BOOK + ["build", "--profile", "quick", "--out", str(out)], capture_output=True, text=True)
    return out, result


@pytest.mark.book
def test_the_book_runs_every_chapter_in_quick_profile_and_builds(quick_book):
    """The real book: papermill runs every chapter in _toc.yml (quick profile), then the site is built and checked."""
    out, result = quick_book
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    html = out / "site" / "_build" / "html"
    for name in toc_files(REPO / "_toc.yml"):
        assert (html / f"{name}.html").exists()
    status = json.loads((out / "site" / "status.json").read_text())
    assert [r["chapter"] for r in status["chapters"]] == chapter_notebooks(REPO)
    for name in chapter_notebooks(REPO):
        page = (html / f"{name}.html").read_text(encoding="utf-8")
        assert "{glue" not in page, f"{name}: raw glue role on the page"
        assert "KEEP_RESULTS_ON_DRIVE" not in page, f"{name}: the Colab setup cell is shown on the site"
        assert "it/s]" not in page and "TqdmExperimentalWarning" not in page, f"{name}: progress-bar noise"


@pytest.mark.book
def test_the_site_in_a_real_browser(quick_book):
    """Every page in headless Chromium: no console errors, images load with alt text, math typeset, dropdowns open."""
    from tools.browser_check import browser_unavailable

    why = browser_unavailable()
    if why:
        pytest.skip(why)
    out, result = quick_book
    if result.returncode != 0:
        pytest.skip("the quick-profile build failed (see test_the_book_runs_every_chapter_in_quick_profile_and_builds)")
    html = out / "site" / "_build" / "html"
    browse = subprocess.run(BOOK + ["browse", str(html)], capture_output=True, text=True)
    assert browse.returncode == 0, browse.stdout[-6000:] + browse.stderr[-3000:]
    screenshots = sorted((out / "screenshots").glob("*.png"))
    assert len(screenshots) == len(toc_files(REPO / "_toc.yml")), screenshots
    print(browse.stdout)


def test_publish_numbers_figures_and_drops_noise(tmp_path):
    """An executed notebook is prepared for the site: figure metadata -> mystnb figure; stderr noise dropped."""
    from tools.book import publish

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("show()")
    meta = {"name": "fig-ch9-demo", "number": "9.1", "caption": "What to see.", "alt": "A line going up."}
    bar = "lazy training: 40%|####  | 4/10 [00:01<00:01]"
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text=bar),
                    nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "A line"},
                                           metadata={"ntk_book_figure": meta}),
                    nbformat.v4.new_output("stream", name="stdout", text="kept\n")]
    nb.cells = [cell]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    publish(path)
    cells = nbformat.read(path, as_version=4).cells
    # the figure gets a cell of its own (myst-nb would wrap every output of the cell in the same labelled figure)
    assert len(cells) == 3 and cells[0].source == "show()" and cells[0].outputs == []
    out = cells[1]
    assert out.metadata["mystnb"] == {"figure": {"name": "fig-ch9-demo", "caption": "What to see."},
                                      "image": {"alt": "A line going up."}}
    assert len(out.outputs) == 1 and "remove-input" in out.metadata["tags"]
    assert [o.get("name") for o in cells[2].outputs if o.output_type == "stream"] == ["stdout"]
    assert "mystnb" not in cells[0].metadata and "mystnb" not in cells[2].metadata
    # two figures shown by one cell (a loop): each gets its own cell, number and caption; a name used twice fails
    second = nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "B"},
                                    metadata={"ntk_book_figure": dict(meta, name="fig-ch9-other", alt="B.")})
    cell.outputs = [cell.outputs[1], nbformat.v4.new_output("stream", name="stdout", text="between\n"), second]
    nbformat.write(nb, path)
    publish(path)
    cells = nbformat.read(path, as_version=4).cells
    names = [c.metadata.get("mystnb", {}).get("figure", {}).get("name") for c in cells]
    assert names == [None, "fig-ch9-demo", None, "fig-ch9-other"]
    assert cells[2].outputs[0]["text"] == "between\n" and cells[3].metadata["mystnb"]["image"] == {"alt": "B."}
    cell.outputs = [cell.outputs[0], cell.outputs[0]]
    nbformat.write(nb, path)
    with pytest.raises(SystemExit, match="shown twice"):
        publish(path)

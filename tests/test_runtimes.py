"""The chapters' "Runtime" lines come from measured times (chapters/runtimes.json), not from hand-typed text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from lib.runtimes import RUNTIMES_FILE, format_duration, load_runtimes, record_runtimes, runtime_markdown
from tools.book import chapter_notebooks, record_measured_runtimes

REPO = Path(__file__).resolve().parents[1]
#: Chapters whose Runtime line is generated (chapter 5 is converted separately).
GENERATED = [name for name in chapter_notebooks(REPO) if not name.endswith("05_scaling_laws")]


def test_the_committed_runtimes_file_is_valid_and_covers_the_chapters():
    runtimes = load_runtimes(REPO / RUNTIMES_FILE)
    assert runtimes == load_runtimes()  # the default path is the checkout's file
    for name in GENERATED:
        # every chapter has a measured quick time; a book time may be missing (the page then says "not measured")
        # until a build measures it: never type one in by hand
        assert name in runtimes["quick"], f"{RUNTIMES_FILE} has no quick run time for {name}"
    assert runtimes["book"], f"{RUNTIMES_FILE} has no book run time at all"


@pytest.mark.parametrize("name", GENERATED)
def test_chapters_show_measured_runtimes_not_hand_typed_ones(name):
    nb = nbformat.read(REPO / f"{name}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert "**Runtime**" not in cell.source, f"{name}: the Runtime line is typed by hand; use say_runtime"
        assert not re.search(r"record\(\"ch\d_runtime_", cell.source), f"{name}: hand-typed runtime record"
    calls = [c for c in nb.cells if c.cell_type == "code" and f'say_runtime("{name}"' in c.source]
    assert len(calls) == 1, f"{name}: needs exactly one say_runtime({name!r}, ...) cell"
    assert "remove-input" in calls[0].metadata.get("tags", []), "the Runtime cell shows its output only"
    text = runtime_markdown(name)
    assert text.startswith("**Runtime**") and "`quick`" in text and "`book`" in text


def test_format_and_markdown(tmp_path):
    assert [format_duration(s) for s in (0.2, 31, 60, 349, 3600 + 300)] == ["1 s", "31 s", "1 min", "5 min 49 s",
                                                                          "1 h 05 min"]
    path = tmp_path / "runtimes.json"
    path.write_text(json.dumps({"profiles": {"quick": {"chapters/x": {"seconds": 60, "machine": "m", "bound": "upper"}},
                                             "book": {"chapters/x": {"seconds": 349.2, "machine": "m"}}}}))
    text = runtime_markdown("chapters/x", path=path, unmeasured={"paper": "hours"}, note="Cached.")
    assert text == ("**Runtime** (executed from scratch with an empty results cache on m): `quick` under 1 min, "
                    "`book` 5 min 49 s, `paper` not measured (hours). Cached.")
    assert "`quick` not measured, `book` not measured, `paper` not measured" in runtime_markdown("other", path=path)


@pytest.mark.parametrize("bad", [{"profiles": {"quick": {"c": {"seconds": -1, "machine": "m"}}}},
                                 {"profiles": {"quick": {"c": {"seconds": 3}}}},
                                 {"profiles": {"fast": {}}},
                                 {"chapters": {}}])
def test_malformed_runtimes_files_are_rejected(tmp_path, bad):
    path = tmp_path / "runtimes.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError):
        load_runtimes(path)


def test_a_recorded_build_updates_the_file(tmp_path):
    source = tmp_path / "src"
    (source / "chapters").mkdir(parents=True)
    records = [{"chapter": "chapters/a", "profile": "quick", "seed": 0, "seconds": 12.34},
               {"chapter": "chapters/b", "profile": "quick", "seed": 0, "seconds": 70.0}]
    path = record_measured_runtimes(source, records)
    assert path == source / RUNTIMES_FILE
    first = load_runtimes(path)
    assert first["quick"]["chapters/a"]["seconds"] == 12.3 and first["quick"]["chapters/b"]["machine"]
    record_runtimes([{"chapter": "chapters/a", "profile": "book", "seconds": 300}], machine="gpu", date="2025-01-02",
                    path=path)
    second = load_runtimes(path)
    assert second["quick"] == first["quick"] and second["book"]["chapters/a"] == {
        "seconds": 300.0, "machine": "gpu", "date": "2025-01-02"}
    assert "about" in json.loads(path.read_text())

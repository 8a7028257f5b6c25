"""Execute the book's chapters with papermill and render the site with Jupyter Book 1.x.

Usage (from the repository root; ``make book`` and ``make test`` call this):

    python tools/book.py run   --profile quick      # execute every chapter in _toc.yml
    python tools/book.py build --profile book       # execute, then render HTML, then check it
    python tools/book.py check _build/book/site/_build/html
    python tools/book.py browse _build/book/site/_build/html   # every page in headless Chromium

Layout: sources are copied to ``_build/<profile>/site/`` (the repository's ``chapters/``
stay free of outputs), every chapter listed in ``_toc.yml`` is executed there by papermill
with ``profile`` and ``seed`` injected into its ``parameters`` cell, run times are written to
``status.json`` and the generated ``status.md`` (with ``--record-runtimes`` also into the committed
``chapters/runtimes.json`` that the chapters' "Runtime" lines read, :mod:`lib.runtimes`; pages built
afterwards show them), and Jupyter Book renders the executed notebooks (no re-execution) with warnings
as errors. Any failing cell fails the command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python tools/book.py` run as a script: make `tools` and `lib` importable
    sys.path.insert(0, str(REPO))
from lib.profiles import PROFILES  # noqa: E402  (the one list of profiles; needs REPO on sys.path)

SOURCE_FILES = ("_config.yml", "_toc.yml", "references.bib")
SOURCE_SUFFIXES = (".md", ".ipynb", ".bib", ".yml", ".png", ".svg", ".jpg", ".css")
# The kernel that executes the chapters for the site: lib.notebook in site mode, no progress bars (tqdm >= 4.66
# reads TQDM_DISABLE); interactive runs keep their progress bars.
SITE_KERNEL_ENV = {"NTK_BOOK_SITE": "1", "TQDM_DISABLE": "1"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def toc_files(toc_path: Path) -> list[str]:
    """Every document named in ``_toc.yml`` (root first), as paths without suffix."""
    toc = yaml.safe_load(toc_path.read_text())
    found = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                found.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in toc.items() if k != "root"})
    return found


def resolve_document(source: Path, name: str) -> Path:
    for suffix in (".ipynb", ".md"):
        if (source / f"{name}{suffix}").exists():
            return source / f"{name}{suffix}"
    raise FileNotFoundError(f"_toc.yml lists {name!r} but neither {name}.ipynb nor {name}.md exists in {source}.")


def chapter_notebooks(source: Path) -> list[str]:
    """The notebooks among the toc entries (these are executed)."""
    return [n for n in toc_files(source / "_toc.yml") if resolve_document(source, n).suffix == ".ipynb"]


def copy_sources(source: Path, site: Path) -> None:
    if site.exists():
        shutil.rmtree(site)
    site.mkdir(parents=True)
    for path in source.rglob("*"):
        rel = path.relative_to(source)
        if rel.parts[0] in {"_build", ".venv", ".git", "lib", "tests", "tools", "data", "results", "benchmarks",
                            ".github", ".ci"} or rel.parts[0].startswith("."):
            continue
        if path.is_file() and (path.suffix in SOURCE_SUFFIXES or path.name in SOURCE_FILES):
            target = site / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def select_chapters(names: list[str], only: list[str] | None) -> list[str]:
    """The chapters among ``names`` (toc names) that ``only`` selects (``None``: all).

    Each entry of ``only`` matches a chapter by its toc name (``chapters/01_kernel_regime``), file name
    (``01_kernel_regime``) or number prefix (``01``, ``1``). Raises ValueError naming the choices if one matches none.
    """
    if not only:
        return names
    chosen = []
    for wanted in only:
        key = wanted.removesuffix(".ipynb")
        hits = [n for n in names
                if key in (n, Path(n).name) or Path(n).name.split("_")[0].lstrip("0") == key.lstrip("0")]
        if not hits:
            raise ValueError(f"--only {wanted!r} matches no chapter; choose among {', '.join(names)}.")
        chosen.extend(h for h in hits if h not in chosen)
    return [n for n in names if n in chosen]


def run_chapters(source: Path, site: Path, profile: str, seed: int, only: list[str] | None = None) -> list[dict]:
    """Execute the notebook chapters (all, or those ``only`` selects) with papermill; raise on the first failure."""
    import papermill

    os.environ.update(SITE_KERNEL_ENV)  # papermill's kernel inherits this process's environment
    records = []
    for name in select_chapters(chapter_notebooks(source), only):
        notebook = site / f"{name}.ipynb"
        print(f"[book] executing {name}.ipynb (profile={profile}, seed={seed})", flush=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(notebook), str(notebook), parameters={"profile": profile, "seed": seed},
                                       kernel_name="python3", cwd=str(notebook.parent), progress_bar=False,
                                       request_save_on_cell_execute=False)
        except papermill.PapermillExecutionError as error:
            raise SystemExit(f"[book] FAILED: {name}.ipynb, cell {error.exec_count}: {error.ename}: {error.evalue}\n"
                             f"[book] the executed notebook with the traceback is {notebook}") from None
        seconds = time.perf_counter() - start
        publish(notebook)
        print(f"[book] {name}.ipynb done in {seconds:.1f} s", flush=True)
        records.append({"chapter": name, "profile": profile, "seed": seed, "seconds": round(seconds, 1)})
    return records


#: Source of the cells that carry outputs split off a cell (myst-nb drops code cells whose source is empty, and
#: with them their outputs; remove-input hides this line on the page).
SPLIT_SOURCE = "# (output of the cell above)"


def _label(cell: dict, figure: dict) -> None:
    """Make ``cell``'s (single) output a numbered myst-nb figure with caption and alt text."""
    mystnb = cell.metadata.setdefault("mystnb", {})
    mystnb["figure"] = {"name": figure["name"], "caption": figure["caption"]}
    mystnb["image"] = {"alt": figure["alt"]}


def publish(notebook: Path) -> None:
    """Prepare an executed notebook for the site, in place.

    * Each output that carries ``ntk_book_figure`` metadata (``lib.notebook.Figures.show``) becomes a
      numbered figure in a cell of its own (a loop may show several): its ``mystnb.figure`` (name, caption)
      and ``mystnb.image`` (alt) are set, so the page shows a captioned figure with alt text that
      ``{numref}`` can cite.
    * Progress bars and warnings are not published: stderr streams and widget outputs are dropped
      (the kernel already runs with ``TQDM_DISABLE=1``; this catches whatever still got through).
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    dropped: list[str] = []
    cells = []
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        cells.append(cell)
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                dropped.append(output.get("text", "").strip().splitlines()[-1:][0] if output.get("text", "").strip()
                               else "")
                continue
            if WIDGET_MIME in output.get("data", {}):
                continue
            kept.append(output)
        cell.outputs = kept
        at = [i for i, o in enumerate(kept) if "ntk_book_figure" in (o.get("metadata") or {})]
        for i in at:
            name = kept[i]["metadata"]["ntk_book_figure"]["name"]
            if name in seen:
                raise SystemExit(f"[book] FAILED: {notebook.name}, cell {index}: figure {name!r} is shown twice; "
                                 "each figure needs its own name (its label for {numref}).")
            seen.add(name)
        if len(kept) == 1 and at == [0]:
            _label(cell, kept[0]["metadata"]["ntk_book_figure"])
        elif at:
            # myst-nb applies a cell's figure options to every output of the cell (each would become a figure
            # with the same label): every figure gets a cell of its own, the other outputs stay around them
            cell.outputs = kept[:at[0]]
            for n, i in enumerate(at):
                target = nbformat.v4.new_code_cell(SPLIT_SOURCE, metadata={"tags": ["remove-input"]})
                target.outputs = [kept[i]]
                _label(target, kept[i]["metadata"]["ntk_book_figure"])
                cells.append(target)
                rest_outputs = kept[i + 1:at[n + 1] if n + 1 < len(at) else len(kept)]
                if rest_outputs:
                    rest = nbformat.v4.new_code_cell(SPLIT_SOURCE, metadata={"tags": ["remove-input"]})
                    rest.outputs = rest_outputs
                    cells.append(rest)
    nb.cells = cells
    noise = [line for line in dropped if line]
    if noise:
        print(f"[book] {notebook.name}: dropped {len(dropped)} stderr output(s) from the page "
              f"(progress bars, warnings); last line of the first: {noise[0][:160]!r}", flush=True)
    nbformat.write(nb, notebook)


def machine_description() -> str:
    try:
        import torch

        device = (f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
                  else f"CPU, {torch.get_num_threads()} threads")
    except ImportError:
        device = "CPU"
    return f"{platform.system()} {platform.machine()}, {device}, {os.cpu_count()} cores"


def write_status(site: Path, records: list[dict], profile: str) -> None:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (site / "status.json").write_text(json.dumps({"built": stamp, "machine": machine_description(),
                                                  "chapters": records}, indent=2))
    lines = ["# Build status", "",
             f"This site was built on {stamp} with profile **{profile}** on {machine_description()}.",
             "Each chapter below was executed from scratch by papermill for this build; the times are wall-clock",
             "seconds of that execution (cached experiment results, if any, make re-runs faster).", ""]
    if records:
        lines += ["| chapter | profile | seed | run time (s) |", "|---|---|---|---|"]
        lines += [f"| [{r['chapter']}]({r['chapter']}.ipynb) | {r['profile']} | {r['seed']} | {r['seconds']} |"
                  for r in records]
    else:
        lines.append("No chapter notebooks are listed in `_toc.yml` yet, so none were executed.")
    (site / "status.md").write_text("\n".join(lines) + "\n")


def record_measured_runtimes(source: Path, records: list[dict]) -> Path:
    """Write this build's run times into ``<source>/chapters/runtimes.json`` (:func:`lib.runtimes.record_runtimes`)."""
    from lib.runtimes import RUNTIMES_FILE, record_runtimes

    path = source / RUNTIMES_FILE
    record_runtimes(records, machine=machine_description(), date=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
                    path=path)
    print(f"[book] recorded {len(records)} run time(s) in {path}; commit it so the chapters show them", flush=True)
    return path


def publish_results(used: Path, html: Path, profile: str) -> Path | None:
    """Pack the results this build rendered into ``<html>/_static/results-<profile>.zip`` (JSON, no pickle;
    :mod:`lib.results_archive`), so a reader can install them and re-render a chapter without recomputing."""
    from lib.paths import default_results_root
    from lib.results_archive import export_archive

    if not used.exists():
        print("[book] no results-cache entries were used: nothing to publish", flush=True)
        return None
    entries = sorted(set(used.read_text(encoding="utf-8").split()))
    target = html / "_static" / f"results-{profile}.zip"
    count = export_archive(entries, default_results_root(), target,
                           note=f"profile {profile}; {machine_description()}")
    print(f"[book] published {count} results ({target.stat().st_size / 2**20:.1f} MiB) as {target}", flush=True)
    return target


def render(site: Path) -> Path:
    config = yaml.safe_load((site / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"  # papermill already ran them
    (site / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    jb = Path(sys.executable).with_name("jupyter-book")
    command = [str(jb) if jb.exists() else "jupyter-book", "build", str(site), "-W", "-n", "--keep-going"]
    print("[book] " + " ".join(command), flush=True)
    if subprocess.run(command).returncode != 0:
        raise SystemExit("[book] FAILED: Jupyter Book reported errors or warnings (printed above); "
                         "warnings are errors in this build.")
    html = site / "_build" / "html"
    dedupe_thebe_config(html)
    check_site(site, html)
    return html / "index.html"


def dedupe_thebe_config(html: Path) -> None:
    """Work around sphinx-thebe 0.3 writing its inline ``const THEBE_JS_URL = …`` script twice per page.

    The second copy is a SyntaxError ("Identifier 'THEBE_JS_URL' has already been declared") in every
    reader's browser console; the real-browser check (tools/browser_check.py) found it.
    """
    import re

    pattern = re.compile(r"[ \t]*<script>const THEBE_JS_URL = [^<]*</script>\n?")
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        found = pattern.findall(text)
        if len(found) > 1:
            first = text.index(found[0]) + len(found[0])
            page.write_text(text[:first] + pattern.sub("", text[first:]), encoding="utf-8")


def check_site(site: Path, html: Path) -> None:
    """Every toc page was rendered; every local link, image and anchor on every page resolves."""
    from bs4 import BeautifulSoup

    pages = sorted(html.rglob("*.html"))
    if not (html / "index.html").exists() or not pages:
        raise SystemExit(f"[book] FAILED: the site in {html} is empty.")
    problems = []
    for name in toc_files(site / "_toc.yml"):
        if not (html / f"{name}.html").exists():
            problems.append(f"{name}: listed in _toc.yml but {name}.html was not rendered")
    ids_cache: dict[Path, set[str]] = {}

    def ids(page: Path) -> set[str]:
        if page not in ids_cache:
            soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
            ids_cache[page] = {tag["id"] for tag in soup.find_all(id=True)}
        return ids_cache[page]

    for page in pages:
        skipped = page.parent.name in {"_static", "_sources", "_images"}
        if skipped or "genindex" in page.name or page.name == "search.html":
            continue
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for tag, attribute in (("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")):
            for element in soup.find_all(tag):
                target = element.get(attribute)
                if not target:
                    continue
                url = urlparse(target)
                if url.scheme or url.netloc or target.startswith(("mailto:", "javascript:")):
                    continue
                path = (page.parent / unquote(url.path)).resolve() if url.path else page
                if not path.exists():
                    problems.append(f"{page.relative_to(html)}: <{tag} {attribute}={target!r}> does not exist")
                elif url.fragment and path.suffix == ".html" and url.fragment not in ids(path):
                    problems.append(f"{page.relative_to(html)}: anchor {target!r} not found")
    if problems:
        raise SystemExit("[book] FAILED site check:\n  " + "\n  ".join(problems))
    print(f"[book] site check passed: {len(pages)} pages, all local links, images and anchors resolve", flush=True)


def warn_if_placeholder(source: Path) -> None:
    """Say loudly when the site would be published with the placeholder repository URL."""
    config = yaml.safe_load((source / "_config.yml").read_text())
    url = str((config.get("repository") or {}).get("url", ""))
    if "YOUR-ORG" in url or not url:
        bar = "!" * 100
        print(f"{bar}\n[book] WARNING: _config.yml's repository.url is the placeholder {url!r}: the Colab badges, "
              "setup cells and launch buttons of this site point nowhere.\n[book] Before publishing, set "
              "repository.url (and branch) once and run `python tools/sync_notebooks.py` (README: 'Publishing')."
              f"\n{bar}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "build", "check", "browse"])
    parser.add_argument("html", nargs="?", help="for 'check' and 'browse': the built html folder")
    parser.add_argument("--profile", default=os.environ.get("PROFILE", "book"), choices=PROFILES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", type=Path, default=REPO, help="book sources (default: the repository)")
    parser.add_argument("--out", type=Path, default=None, help="build folder (default: _build/<profile>)")
    parser.add_argument("--record-runtimes", action="store_true",
                        help="also write the measured run times into <source>/chapters/runtimes.json, which the "
                             "chapters' Runtime lines show (lib.runtimes); commit that file")
    parser.add_argument("--only", action="append", default=None, metavar="CHAPTER",
                        help="for 'run': execute only this chapter (toc name, file name or number; repeatable)")
    args = parser.parse_args(argv)
    if args.only and args.command != "run":
        parser.error("--only works with 'run' only (a site build executes every chapter).")
    if args.command == "check":
        html = Path(args.html)
        check_site(html.parents[1], html)
        return
    if args.command == "browse":
        from tools.browser_check import browser_unavailable, check_site_in_browser

        html = Path(args.html).resolve()
        why = browser_unavailable()
        if why:
            print(f"[browser] SKIPPED: {why}", flush=True)
            return
        check_site_in_browser(html.parents[1], html)
        return
    if args.command == "build":
        warn_if_placeholder(args.source)
    out = args.out or args.source / "_build" / args.profile
    site = out / "site"
    started = time.perf_counter()
    copy_sources(args.source, site)
    used = out / "results-used.txt"  # every results-cache entry the chapters read or wrote (lib.cache)
    used.unlink(missing_ok=True)
    os.environ["NTK_BOOK_RESULTS_LOG"] = str(used)
    records = run_chapters(args.source, site, args.profile, args.seed, args.only)
    write_status(site, records, args.profile)
    if args.record_runtimes:
        record_measured_runtimes(args.source, records)
    if args.command == "build":
        index = render(site)
        publish_results(used, index.parent, args.profile)
        print(f"[book] built in {time.perf_counter() - started:.0f} s. Open {index}")
    else:
        print(f"[book] executed {len(records)} chapter(s) in {time.perf_counter() - started:.0f} s into {site}")


if __name__ == "__main__":
    main()

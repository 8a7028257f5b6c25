"""Run the chapters as a reader on Colab or in Jupyter would: plain kernel, no site toolchain.

Usage (from the repository root, with any Python that has ``nbclient``, ``nbformat`` and ``ipykernel``):

    python tools/run_notebooks.py --profile quick --out /tmp/colab-run [chapters/01_kernel_regime.ipynb ...]

Each chapter (default: every notebook in ``_toc.yml``) is executed by ``nbclient`` in a ``python3`` kernel of
*this* interpreter, with ``profile``/``seed`` set in a cell after its ``parameters`` cell, ``NTK_BOOK_SITE``
unset (``lib.notebook`` in notebook mode) and progress bars on. The executed copies are written to ``--out``;
sources are not touched. Then every output a reader would see is checked: no cell error, and no MyST syntax
(``{glue:…}``, ``{cite}`…```, ``{numref}`…```) left unrendered. Exit status 1 on any problem.
``tests/test_colab_path.py`` runs this in a virtual environment holding only ``lib``'s declared dependencies.
This file needs only the standard library plus nbformat/nbclient (no PyYAML, no Jupyter Book).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RAW_MYST = re.compile(r"\{glue(:\w+)?\}`|\{(cite|cite:p|cite:t|numref|eq|ref|doc)\}`")


def toc_notebooks(root: Path) -> list[Path]:
    """The ``file:`` entries of ``_toc.yml`` that are notebooks (a line-based read: no YAML dependency)."""
    names = re.findall(r"^\s*-?\s*file:\s*(\S+)\s*$", (root / "_toc.yml").read_text(), re.M)
    return [root / f"{n}.ipynb" for n in names if (root / f"{n}.ipynb").exists()]


def visible_text(output: dict) -> str:
    """What a notebook front end shows for one output (text and Markdown)."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(data.get(k, "")) for k in ("text/markdown", "text/plain", "text/html") if k in data)


def run(path: Path, out: Path, profile: str, seed: int, timeout: int) -> list[str]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    where = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(where) != 1:
        return [f"{path.name}: needs exactly one 'parameters' cell"]
    injected = nbformat.v4.new_code_cell(f'profile = "{profile}"\nseed = {seed}')
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(where[0] + 1, injected)
    client = NotebookClient(nb, kernel_name="python3", timeout=timeout,
                            resources={"metadata": {"path": str(path.parent)}})
    problems = []
    try:
        client.execute()
    except CellExecutionError as error:
        problems.append(f"{path.name}: a cell failed:\n{str(error)[-3000:]}")
    target = out / path.name
    nbformat.write(nb, target)
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"{path.name}, cell {index}: {output.get('ename')}: {output.get('evalue')}")
            if output.get("output_type") == "execute_result" and "say(" in "".join(cell.get("source", "")):
                problems.append(f"{path.name}, cell {index}: the findings are shown twice (say() as a result)")
            found = RAW_MYST.search(visible_text(output))
            if found:
                problems.append(f"{path.name}, cell {index}: the reader sees raw MyST {found.group(0)!r}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    os.environ.pop("NTK_BOOK_SITE", None)
    os.environ.pop("TQDM_DISABLE", None)
    args.out.mkdir(parents=True, exist_ok=True)
    notebooks = [p.resolve() for p in args.notebooks] or toc_notebooks(REPO)
    problems = []
    for path in notebooks:
        start = time.perf_counter()
        print(f"[colab-run] {path.name} (profile={args.profile}) with {sys.executable}", flush=True)
        found = run(path, args.out, args.profile, args.seed, args.timeout)
        print(f"[colab-run] {path.name}: {'FAILED' if found else 'ok'} in {time.perf_counter() - start:.0f} s",
              flush=True)
        problems += found
    for problem in problems:
        print("[colab-run] " + problem, flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

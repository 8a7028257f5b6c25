"""Run one chapter's sweeps into the results cache — in this process, on a local Dask cluster, or on any cluster.

Usage (from the repository root):

    python tools/sweep.py 5 --profile book                          # in this process (the default)
    python tools/sweep.py 5 --profile book --scheduler local --workers 2      # local Dask cluster
    python tools/sweep.py 3 --profile paper --device cuda --scheduler tcp://login-node:8786   # a running scheduler
    python tools/sweep.py --list                                    # which chapters define their sweeps in lib
    python tools/sweep.py 5 --report [--used _build/book/results-used.txt]   # jobs and compute hours stored

The chapter's ``run_chapter`` (:mod:`lib.experiments.registry`) runs every stage in the notebook's order; each
stage's sweep sends only the configs missing from the cache (:mod:`lib.sweeps`), with a progress bar. Kill
it at any time: run it again and it resumes. Afterwards the notebook renders from the filled cache
(``python tools/book.py build --profile P`` or Jupyter), computing nothing. On a cluster, ``--results`` (or
``NTK_BOOK_RESULTS``) must be a folder every worker can write, and workers must run this checkout's code
(README, "Sweeps on a cluster").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapter", nargs="?", help="chapter number (1-5) or package name, e.g. 5 or scaling_laws")
    parser.add_argument("--profile", default="book", choices=["quick", "book", "paper"])
    parser.add_argument("--seed", type=int, default=0, help="the notebook's seed parameter (default 0)")
    parser.add_argument("--device", default=None,
                        help="device written into the configs: cpu, cuda, … (default: this machine's, see "
                             "NTK_BOOK_DEVICE)")
    parser.add_argument("--scheduler", default="in-process",
                        help="'in-process' (default), 'local' (a Dask cluster on this machine) or a scheduler "
                             "address such as tcp://host:8786")
    parser.add_argument("--workers", type=int, default=None, help="local cluster: number of worker processes")
    parser.add_argument("--results", default=None, help="results root (default: $NTK_BOOK_RESULTS or results/)")
    parser.add_argument("--list", action="store_true", help="list the chapters and whether they define sweeps")
    parser.add_argument("--report", action="store_true",
                        help="print the jobs and the compute time stored in the results root for this chapter")
    parser.add_argument("--used", default=None,
                        help="with --report: count only the entries listed in this file (a build's "
                             "results-used.txt, written by tools/book.py)")
    args = parser.parse_args(argv)

    import torch

    import lib
    from lib.cache import ResultsCache
    from lib.experiments.registry import CHAPTERS, chapter_runner
    from lib.sweeps import SweepError, executor_from

    if args.list or args.chapter is None:
        for number, name in CHAPTERS.items():
            try:
                chapter_runner(number)
                state = "sweeps in lib"
            except NotImplementedError as error:
                state = f"not yet: {error}"
            print(f"{number}  {name:<18} {state}")
        return 0
    if args.report:
        return report(args.chapter, ResultsCache(args.results).root, args.used)
    try:
        runner = chapter_runner(args.chapter)
    except (ValueError, NotImplementedError) as error:
        parser.error(str(error))
    device = torch.device(args.device) if args.device else lib.select_device()
    start = time.time()
    with executor_from(args.scheduler, workers=args.workers) as executor:
        cache = ResultsCache(args.results, executor=executor)
        print(f"chapter {args.chapter}, profile {args.profile}, device {device}, executor {executor!r}, "
              f"results {cache.root}", flush=True)
        try:
            runner(args.profile, device, cache, seed=args.seed)
        except SweepError as error:
            print(f"\n{error}", file=sys.stderr)
            return 1
    print(f"done in {time.time() - start:.0f} s; the notebook now renders from {cache.root}")
    return 0


def report(chapter: str, root: Path, used: str | None) -> int:
    """Print jobs, stored run time and hardware per experiment of ``chapter`` under ``root``."""
    from collections import defaultdict

    from lib.cache import read_run_record
    from lib.experiments.registry import CHAPTERS

    name = CHAPTERS.get(int(chapter), chapter) if str(chapter).isdigit() else chapter
    allowed = {str(Path(p).resolve()) for p in Path(used).read_text().split()} if used else None
    rows: dict[str, list] = defaultdict(lambda: [0, 0.0, set(), 0])
    for folder in sorted(root.glob(f"lib.experiments.{name}.*")):
        for entry in folder.glob("*.pt"):
            if allowed is not None and str(entry.resolve()) not in allowed:
                continue
            record = read_run_record(entry)
            row = rows[folder.name.removeprefix(f"lib.experiments.{name}.")]
            row[0] += 1
            if "seconds" in record:
                row[1] += record["seconds"]
                row[2].add(record["hardware"])
            else:
                row[3] += 1
    if not rows:
        print(f"no results of chapter {chapter} under {root}")
        return 1
    print(f"{'experiment':<40} {'jobs':>6} {'hours':>8}  hardware")
    for experiment, (jobs, seconds, hardware, unknown) in rows.items():
        note = f" ({unknown} without a stored time)" if unknown else ""
        print(f"{experiment:<40} {jobs:>6} {seconds / 3600:>8.2f}  {', '.join(sorted(hardware)) or '?'}{note}")
    total = sum(r[1] for r in rows.values()) / 3600
    print(f"{'total':<40} {sum(r[0] for r in rows.values()):>6} {total:>8.2f}")
    return 0


if __name__ == "__main__":  # a local Dask cluster spawns workers that import this file: guard the driver
    sys.exit(main())

"""Results cache: experiments as pure functions of a config, stored on disk.

An *experiment* is a function ``fn(config) -> result`` whose result depends only
on the JSON-serialisable ``config`` (seeds included) and on the code. Each
result is stored under ``<root>/<experiment name>/<key>.pt`` where ``key`` is
the SHA-256 of the canonical JSON of ``{"experiment", "config", "code"}``.

The *code version* hashes the experiment function's own source and the source of
every ``lib`` module it can reach through imports (its module's static import
closure, lazy imports inside functions included, plus the ``__init__`` of each
package on the way). Editing code the experiment uses recomputes it; editing code
it cannot reach (the figures, another chapter) keeps its results.

Safety:

* results are written atomically (temporary file in the same folder, then
  ``os.replace``), so a run killed mid-write leaves no half-written result, and a
  killed sweep resumes from the configs it had finished;
* the results folder is checked to be writable *before* an experiment runs, so a
  read-only root fails in a second, not after hours of work;
* results are read with ``torch.load(weights_only=True)`` (no arbitrary code from a
  shared or downloaded results folder); an entry that cannot be read, or whose stored
  config does not match its key, is reported, moved aside as ``*.corrupt-<time>``
  and recomputed;
* results may hold ``dict``/``list``/``tuple``/``str``/numbers/``bool``/``None``/tensors;
  NumPy arrays and scalars are converted to tensors and Python numbers. A result of
  another type is returned to the caller but not stored (with a warning).

The default root is ``$NTK_BOOK_RESULTS`` or ``results/`` in the checkout. With ``$NTK_BOOK_RESULTS_LOG``
set to a file, the path of every entry read or written is appended to it (``tools/book.py`` uses this to
publish exactly the results a build rendered, :mod:`lib.results_archive`).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import json
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lib.paths import default_results_root

if TYPE_CHECKING:
    from lib.sweeps import Executor

__all__ = ["ResultsCache", "code_version", "config_key", "lib_import_closure", "read_run_record", "run_record"]


def _canonical(obj: Any) -> Any:
    """Turn a config into plain JSON types (dataclasses, tuples, paths allowed)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return _canonical(asdict(obj))
    if isinstance(obj, Mapping):
        keys = list(obj)
        if not all(isinstance(k, str) for k in keys):
            raise TypeError(f"Config keys must be strings, got {keys!r}.")
        return {k: _canonical(obj[k]) for k in sorted(keys)}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:  # NaN is not valid JSON and never equal to itself
        raise ValueError("Configs may not contain NaN.")
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(
        f"Config values must be JSON-like (dict, list, str, number, bool, None, dataclass); "
        f"got {type(obj).__name__}: {obj!r}."
    )


_LIB_ROOT = Path(__file__).resolve().parent


def _module_file(module: str) -> Path | None:
    """The source file of ``lib`` module ``module`` (``lib.x.y``), or ``None`` if it is no lib module."""
    if module != "lib" and not module.startswith("lib."):
        return None
    parts = module.split(".")[1:]
    base = _LIB_ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    rel = path.relative_to(_LIB_ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["lib", *parts])


@functools.cache
def _direct_imports(path: Path, mtime_ns: int) -> frozenset[str]:
    """The ``lib`` modules that ``path`` imports anywhere in its body (``mtime_ns`` keys the memo)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            submodules = {f"{module}.{alias.name}" for alias in node.names} - {f"{module}.*"}
            submodules = {m for m in submodules if _module_file(m) is not None}
            found.update(submodules)  # `from lib.x import y` with y a module uses lib/x/y.py ...
            if len(submodules) < len(node.names):
                found.add(module)  # ... and lib/x/__init__.py only when some name comes from it
    return frozenset(m for m in found if _module_file(m) is not None)


def lib_import_closure(module: str) -> list[Path]:
    """Source files of the ``lib`` code that ``module`` uses, sorted.

    Follows the modules named in import statements (also those inside functions), recursively, and adds
    the ``__init__.py`` of each parent package (importing ``lib.a.b`` runs ``lib/a/__init__.py``) — hashed,
    but their own imports are followed only where a module names them. So a package ``__init__`` that
    re-exports a chapter's analysis or figures does not tie the chapter's experiments to them.
    """
    followed: set[Path] = set()
    parents: set[Path] = set()
    stack = [module]
    while stack:
        name = stack.pop()
        path = _module_file(name)
        if path is None or path in followed:
            continue
        followed.add(path)
        stack.extend(_direct_imports(path, path.stat().st_mtime_ns))
        parts = name.split(".")
        parents.update(p for p in (_module_file(".".join(parts[:i])) for i in range(1, len(parts))) if p)
    return sorted(followed | parents)


@functools.cache
def code_version(fn: Callable[..., Any] | None = None) -> str:
    """Hash of the code an experiment depends on (module docstring).

    Computed once per process and function: a process keeps keying results by the code it imported, even
    if the files are edited while it runs (results computed by old code are never stored under new code's
    key). ``code_version.cache_clear()`` forgets the memo.

    For a function defined in ``lib``: its source plus the sources of its module's ``lib`` import
    closure. For a function defined elsewhere (a test, a notebook): its source plus every ``lib``
    module (conservative: it may use any of them). ``None`` hashes all of ``lib``.
    """
    module = getattr(fn, "__module__", None) if fn is not None else None
    files = lib_import_closure(module) if module and _module_file(module) else sorted(_LIB_ROOT.rglob("*.py"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(_LIB_ROOT)).encode())
        digest.update(path.read_bytes())
    if fn is not None:
        try:
            digest.update(inspect.getsource(fn).encode())
        except (OSError, TypeError):  # defined interactively: fall back to its name
            digest.update(getattr(fn, "__qualname__", repr(fn)).encode())
    return digest.hexdigest()[:16]


def _storable(obj: Any) -> Any:
    """``obj`` with NumPy values converted; raises ``TypeError`` naming the first unsupported value."""
    if isinstance(obj, Mapping):
        return {k: _storable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        converted = [_storable(v) for v in obj]
        return converted if isinstance(obj, list) else tuple(converted)
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # before the Python types: numpy.float64 is a float subclass that pickles as NumPy
        if isinstance(obj, numpy.ndarray):
            return torch.from_numpy(obj.copy())
        if isinstance(obj, numpy.generic):
            return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in the results cache (allowed: dict, list, tuple, str, "
                    "numbers, bool, None, tensors, NumPy arrays)")


def run_record(seconds: float, config: Any = None) -> dict:
    """What is stored next to a result about its run: wall-clock seconds and the hardware it ran on (the GPU's
    name for a config whose ``"device"`` is CUDA); ``tools/sweep.py --report`` sums them per chapter."""
    hardware = f"{os.cpu_count()} CPU cores"
    device = config.get("device") if isinstance(config, Mapping) else None
    if isinstance(device, str) and device.startswith("cuda") and torch.cuda.is_available():
        hardware = torch.cuda.get_device_name(torch.device(device))
    return {"seconds": round(seconds, 3), "hardware": hardware}


def read_run_record(path: Path) -> dict:
    """``{"seconds", "hardware"}`` stored with an entry (``{}`` for entries written before they were recorded)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    return {k: payload[k] for k in ("seconds", "hardware") if k in payload}


def _note_used(path: Path) -> None:
    """Append ``path`` to ``$NTK_BOOK_RESULTS_LOG`` if it is set (the entries a build used)."""
    log = os.environ.get("NTK_BOOK_RESULTS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{path.resolve()}\n")


def _canonical_json(config: Any) -> str:
    return json.dumps(_canonical(config), sort_keys=True, separators=(",", ":"))


def config_key(experiment: str, config: Any, code: str) -> str:
    """The cache key: SHA-256 of the canonical JSON of experiment, config and code version."""
    payload = json.dumps({"experiment": experiment, "config": _canonical(config), "code": code},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class ResultsCache:
    """Store and recall experiment results keyed by config and code version.

    Example:
        >>> cache = ResultsCache()                      # doctest: +SKIP
        >>> result = cache.run(train_and_measure, {"width": 256, "seed": 0})  # doctest: +SKIP

    Args:
        root: folder for results; default ``$NTK_BOOK_RESULTS`` or ``<checkout>/results``. With a cluster
            executor, every worker must be able to write it (a shared filesystem).
        enabled: ``False`` recomputes everything and stores nothing (in this process).
        executor: where :meth:`sweep` computes missing configs: :class:`lib.sweeps.InProcess` (default) or
            :class:`lib.sweeps.DaskCluster`. :meth:`run` always computes in this process.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, enabled: bool = True,
                 executor: Executor | None = None) -> None:
        from lib.sweeps import Executor, InProcess

        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(f"executor must be a lib.sweeps.Executor (InProcess() or DaskCluster(...)), "
                            f"got {type(executor).__name__}.")
        if executor is not None and not enabled and not isinstance(executor, InProcess):
            raise ValueError("A cluster executor stores results in the cache; it cannot run with enabled=False.")
        self.root = Path(root) if root is not None else default_results_root()
        self.enabled = enabled
        self.executor = executor if executor is not None else InProcess()

    def path_for(self, fn: Callable[..., Any], config: Any, *, name: str | None = None) -> Path:
        """Where the result of ``fn(config)`` is (or would be) stored."""
        name = name or f"{fn.__module__}.{fn.__qualname__}".replace("<", "").replace(">", "")
        key = config_key(name, config, code_version(fn))
        return self.root / name / f"{key}.pt"

    def contains(self, fn: Callable[..., Any], config: Any, *, name: str | None = None) -> bool:
        """Whether a stored result of ``fn(config)`` exists (it is validated when it is read)."""
        return self.enabled and self.path_for(fn, config, name=name).exists()

    def run(self, fn: Callable[[Any], Any], config: Any, *, name: str | None = None) -> Any:
        """Return the cached result of ``fn(config)``, computing and storing it if needed."""
        path = self.path_for(fn, config, name=name)
        if self.enabled:
            if path.exists():
                found, result = self._load(path, config)
                if found:
                    return result
            self._check_writable(path.parent)
        start = time.perf_counter()
        result = fn(config)
        seconds = time.perf_counter() - start
        if self.enabled:
            try:
                stored = _storable(result)
            except TypeError as error:
                warnings.warn(f"The result of {path.parent.name} was computed but not cached: {error}.", stacklevel=2)
                return result
            self._atomic_save({"config": _canonical(config), "result": stored, **run_record(seconds, config)}, path)
            _note_used(path)
        return result

    def _load(self, path: Path, config: Any) -> tuple[bool, Any]:
        """``(True, result)`` for a sound entry; otherwise the entry is moved aside and ``(False, None)``."""
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(payload, dict) or "result" not in payload:
                raise ValueError("it holds no 'result'")
            if payload.get("config") != _canonical(config):
                raise ValueError("its stored config differs from the config of its key")
        except Exception as error:  # any unreadable entry is recomputed, never trusted
            aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(path, aside)
                where = f"moved to {aside}"
            except OSError:
                where = "left in place (the folder is not writable)"
            warnings.warn(f"Results cache entry {path} could not be read ({type(error).__name__}: {error}); "
                          f"it was {where} and the result is recomputed.", stacklevel=3)
            return False, None
        _note_used(path)
        return True, payload["result"]

    @staticmethod
    def _check_writable(folder: Path) -> None:
        """Raise ``PermissionError`` now, before an experiment runs, if its result could not be stored."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as error:
            raise PermissionError(
                f"The results folder {folder} is not writable ({error.strerror or error}); results would be "
                "lost after computing them. Point NTK_BOOK_RESULTS (or ResultsCache(root=...)) at a writable "
                "folder, or use ResultsCache(enabled=False) to compute without storing.") from error

    def sweep(
        self,
        fn: Callable[[Any], Any],
        configs: Iterable[Any],
        *,
        name: str | None = None,
        progress: bool = True,
        desc: str | None = None,
    ) -> list[Any]:
        """Run ``fn`` over ``configs`` through the cache; finished configs are never redone.

        This process (the *driver*) computes every key with its own code version, reads the finished results
        (a corrupt entry is moved aside and recomputed) and sends only the missing configs to
        :attr:`executor`, which stores each result under the driver's key (:mod:`lib.sweeps`). A sweep that is
        interrupted keeps every result it finished; calling it again computes only the rest. Results come back
        in the order of ``configs``.

        Raises:
            lib.sweeps.SweepError: some configs raised; it lists them with their configs, after every other
                config has finished and been stored.
        """
        from lib.sweeps import SweepError, Task

        configs = list(configs)
        if not self.enabled:
            return [fn(config) for config in configs]
        experiment = name or f"{fn.__module__}.{fn.__qualname__}".replace("<", "").replace(">", "")
        code = code_version(fn)
        results: list[Any] = [None] * len(configs)
        missing: dict[Path, list[int]] = {}  # path -> indices of configs (duplicates computed once)
        for index, config in enumerate(configs):
            path = self.path_for(fn, config, name=name)
            if path in missing:
                missing[path].append(index)
                continue
            if path.exists():
                found, result = self._load(path, config)
                if found:
                    results[index] = result
                    continue
            missing[path] = [index]
        if missing:
            self._check_writable(next(iter(missing)).parent)
        tasks = [Task(fn, configs[indices[0]], str(path), code, _canonical(configs[indices[0]]))
                 for path, indices in missing.items()]
        from tqdm.auto import tqdm

        with tqdm(total=len(configs), initial=len(configs) - sum(map(len, missing.values())),
                  desc=desc or getattr(fn, "__name__", "sweep"), disable=not progress) as bar:
            failures = self.executor.run(tasks, on_done=lambda i: bar.update(len(missing[Path(tasks[i].path)])))
        failed = {_canonical_json(f.config) for f in failures}
        for path, indices in missing.items():
            if _canonical_json(configs[indices[0]]) in failed:
                continue
            if not path.exists():
                raise FileNotFoundError(
                    f"A worker reported the result of {experiment} for {configs[indices[0]]!r} stored at {path}, but "
                    "this process cannot see it: the results root must be a folder shared by the driver and every "
                    "worker (set NTK_BOOK_RESULTS or ResultsCache(root=...) to a shared path).")
            found, result = self._load(path, configs[indices[0]])
            if not found:
                raise RuntimeError(f"The stored result {path} of {experiment} was unreadable right after it was "
                                   "written; run the sweep again.")
            for index in indices:
                results[index] = result
        if failures:
            raise SweepError(experiment, failures, len(configs))
        return results

    @staticmethod
    def _atomic_save(obj: Any, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(obj, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

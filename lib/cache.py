"""Results cache: experiments as pure functions of a config, stored on disk.

An *experiment* is a function ``fn(config) -> result`` whose result depends only
on the JSON-serialisable ``config`` (seeds included) and on the code. Each
result is stored under ``<root>/<experiment name>/<key>.pt`` where ``key`` is
the SHA-256 of the canonical JSON of ``{"experiment", "config", "code"}``; the
*code version* is a hash of the ``lib`` sources plus the experiment function's
own source, so editing the code never serves a stale result.

Writes are atomic (temporary file in the same folder, then ``os.replace``), so a
run killed mid-write never leaves a half-written result behind, and a sweep that
is killed resumes from the configs it had finished.

The default root is ``$NTK_BOOK_RESULTS`` or ``results/`` in the checkout.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import torch

from lib.paths import default_results_root

__all__ = ["ResultsCache", "code_version", "config_key"]


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


@functools.lru_cache(maxsize=1)
def _lib_source_hash() -> str:
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def code_version(fn: Callable[..., Any] | None = None) -> str:
    """Hash of the ``lib`` sources, plus ``fn``'s source when it can be read."""
    digest = hashlib.sha256(_lib_source_hash().encode())
    if fn is not None:
        try:
            digest.update(inspect.getsource(fn).encode())
        except (OSError, TypeError):  # defined interactively: fall back to its name
            digest.update(getattr(fn, "__qualname__", repr(fn)).encode())
    return digest.hexdigest()[:16]


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
        root: folder for results; default ``$NTK_BOOK_RESULTS`` or ``<checkout>/results``.
        enabled: ``False`` recomputes everything and stores nothing.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else default_results_root()
        self.enabled = enabled

    def path_for(self, fn: Callable[..., Any], config: Any, *, name: str | None = None) -> Path:
        """Where the result of ``fn(config)`` is (or would be) stored."""
        name = name or f"{fn.__module__}.{fn.__qualname__}".replace("<", "").replace(">", "")
        key = config_key(name, config, code_version(fn))
        return self.root / name / f"{key}.pt"

    def contains(self, fn: Callable[..., Any], config: Any, *, name: str | None = None) -> bool:
        return self.enabled and self.path_for(fn, config, name=name).exists()

    def run(self, fn: Callable[[Any], Any], config: Any, *, name: str | None = None) -> Any:
        """Return the cached result of ``fn(config)``, computing and storing it if needed."""
        path = self.path_for(fn, config, name=name)
        if self.enabled and path.exists():
            return torch.load(path, map_location="cpu", weights_only=False)["result"]
        result = fn(config)
        if self.enabled:
            self._atomic_save({"config": _canonical(config), "result": result}, path)
        return result

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

        A sweep that is interrupted keeps every result it finished; calling it again
        computes only the rest. Results come back in the order of ``configs``.
        """
        configs = list(configs)
        done = sum(self.contains(fn, c, name=name) for c in configs)
        from tqdm.auto import tqdm

        results = []
        with tqdm(total=len(configs), initial=done, desc=desc or getattr(fn, "__name__", "sweep"),
                  disable=not progress) as bar:
            for config in configs:
                cached = self.contains(fn, config, name=name)
                results.append(self.run(fn, config, name=name))
                if not cached:
                    bar.update(1)
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

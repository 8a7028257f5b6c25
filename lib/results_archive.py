"""Published results: a results cache packed as plain JSON in a zip, installable without unpickling anything.

The site publishes the results its chapters were rendered from (``tools/book.py build`` writes
``_static/results-<profile>.zip``). A reader on Colab installs them into the local results cache and
re-renders a chapter in seconds instead of recomputing it::

    python -m lib.results_archive install https://<site>/_static/results-book.zip
    # or in a notebook:  from lib.results_archive import install_archive; install_archive(url)

Format (version 1): ``manifest.json`` (``{"format": "ntk-book-results", "version": 1, "entries": n, …}``)
and one ``entries/<experiment>/<key>.json`` per cache entry holding ``{"config": …, "result": …}``. Values
are JSON; a tensor is ``{"__tensor__": {"dtype", "shape", "data"}}`` with its raw bytes in base64 (any
dtype, little-endian), a tuple ``{"__tuple__": [...]}``, a dict with non-string keys
``{"__dict__": [[key, value], ...]}``. Reading it parses JSON and copies bytes; nothing is unpickled, so
an archive from anywhere can at worst hold wrong numbers, never run code. Installed entries are written
as ordinary cache entries (``<root>/<experiment>/<key>.pt``) under the keys they were published with: they
are found only by the same code version of ``lib`` (the version the site was built from), otherwise the
chapter recomputes as usual.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["export_archive", "install_archive", "ArchiveError", "FORMAT", "VERSION"]

FORMAT = "ntk-book-results"
VERSION = 1
_RESERVED = {"__tensor__", "__tuple__", "__dict__"}
_ENTRY = re.compile(r"^entries/([A-Za-z0-9_][A-Za-z0-9_.\-]*)/([0-9a-f]{8,64})\.json$")
#: Largest archive member accepted (bytes): a guard against zip bombs.
MAX_MEMBER_BYTES = 512 * 2**20


class ArchiveError(ValueError):
    """The archive is not a valid results archive (the message names the member and the problem)."""


def _encode(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        tensor = obj.detach().to("cpu").contiguous().clone()
        data = bytes(tensor.untyped_storage()) if tensor.numel() else b""
        if sys.byteorder != "little" and tensor.element_size() > 1:  # pragma: no cover - big-endian hosts
            raise NotImplementedError("Exporting results archives on a big-endian machine is not supported.")
        return {"__tensor__": {"dtype": str(tensor.dtype).removeprefix("torch."), "shape": list(tensor.shape),
                               "data": base64.b64encode(data).decode("ascii")}}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v) for v in obj]}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj) and not (len(obj) == 1 and next(iter(obj)) in _RESERVED):
            return {k: _encode(v) for k, v in obj.items()}
        return {"__dict__": [[_encode(k), _encode(v)] for k, v in obj.items()]}
    if isinstance(obj, list):
        return [_encode(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot export a {type(obj).__name__} (results hold dict, list, tuple, str, numbers, bool, "
                    "None and tensors)")


def _decode(obj: Any, where: str) -> Any:
    if isinstance(obj, list):
        return [_decode(v, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1 and next(iter(obj)) in _RESERVED:
        (tag, value), = obj.items()
        if tag == "__tuple__" and isinstance(value, list):
            return tuple(_decode(v, where) for v in value)
        if tag == "__dict__" and isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
            return {_hashable(_decode(k, where), where): _decode(v, where) for k, v in value}
        if tag == "__tensor__" and isinstance(value, dict):
            return _tensor(value, where)
        raise ArchiveError(f"{where}: malformed {tag} value.")
    return {k: _decode(v, where) for k, v in obj.items()}


def _hashable(key: Any, where: str) -> Any:
    if isinstance(key, (str, int, float, bool, tuple)) or key is None:
        return key
    raise ArchiveError(f"{where}: a dict key of type {type(key).__name__} is not allowed.")


def _tensor(spec: dict, where: str) -> torch.Tensor:
    dtype = getattr(torch, str(spec.get("dtype")), None)
    shape = spec.get("shape")
    if not isinstance(dtype, torch.dtype):
        raise ArchiveError(f"{where}: unknown tensor dtype {spec.get('dtype')!r}.")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise ArchiveError(f"{where}: tensor shape must be a list of non-negative integers, got {shape!r}.")
    try:
        data = base64.b64decode(spec.get("data", ""), validate=True)
    except (ValueError, TypeError) as error:
        raise ArchiveError(f"{where}: tensor data is not valid base64.") from error
    numel = 1
    for size in shape:
        numel *= size
    itemsize = torch.empty((), dtype=dtype).element_size()
    if len(data) != numel * itemsize:
        raise ArchiveError(f"{where}: tensor of shape {shape} and dtype {dtype} needs {numel * itemsize} bytes, "
                           f"the archive has {len(data)}.")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape).clone()


def export_archive(entries: Iterable[str | os.PathLike[str]], root: str | os.PathLike[str],
                   out: str | os.PathLike[str], *, note: str = "") -> int:
    """Pack results-cache entries (``.pt`` files under ``root``) into a JSON zip at ``out``; return the count.

    Entries are read with ``torch.load(weights_only=True)``. ``note`` goes into the manifest (e.g. profile
    and date). Unreadable or foreign files are skipped with a message on stderr.
    """
    root = Path(root).resolve()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp", delete=False) as handle:
        tmp = Path(handle.name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for entry in sorted({Path(e).resolve() for e in entries}):
                try:
                    rel = entry.relative_to(root)
                except ValueError:
                    print(f"[results_archive] skipped {entry}: not under {root}", file=sys.stderr)
                    continue
                member = f"entries/{rel.parent.as_posix()}/{entry.stem}.json"
                if entry.suffix != ".pt" or not _ENTRY.match(member):
                    print(f"[results_archive] skipped {entry}: not a results-cache entry", file=sys.stderr)
                    continue
                try:
                    payload = torch.load(entry, map_location="cpu", weights_only=True)
                    text = json.dumps({"config": payload["config"], "result": _encode(payload["result"])})
                except Exception as error:  # a broken entry is not published
                    print(f"[results_archive] skipped {entry}: {type(error).__name__}: {error}", file=sys.stderr)
                    continue
                archive.writestr(member, text)
                count += 1
            archive.writestr("manifest.json", json.dumps({"format": FORMAT, "version": VERSION, "entries": count,
                                                          "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                                                          "note": note}, indent=1))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _open(source: str | os.PathLike[str]) -> zipfile.ZipFile:
    text = str(source)
    if re.match(r"^https?://", text):
        with urllib.request.urlopen(text, timeout=120) as response:  # noqa: S310 - http(s) only, checked above
            return zipfile.ZipFile(io.BytesIO(response.read()))
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"No results archive at {path}; pass a path or an http(s) URL of a results zip.")
    return zipfile.ZipFile(path)


def install_archive(source: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, *,
                    overwrite: bool = False) -> int:
    """Install a results archive (a path or an http(s) URL) into the results cache; return how many entries.

    Existing entries are kept unless ``overwrite``. Every member is validated first (names, manifest, JSON,
    tensor sizes); an invalid archive raises :class:`ArchiveError` and installs nothing.
    """
    from lib.cache import ResultsCache
    from lib.paths import default_results_root

    root = Path(root) if root is not None else default_results_root()
    decoded = []
    with _open(source) as archive:
        names = archive.namelist()
        if "manifest.json" not in names:
            raise ArchiveError(f"{source} has no manifest.json: it is not a results archive.")
        manifest = json.loads(archive.read("manifest.json"))
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise ArchiveError(f"{source}: format {manifest.get('format')!r} version {manifest.get('version')!r}; "
                               f"this lib reads {FORMAT!r} version {VERSION}. Update the book's code.")
        for info in archive.infolist():
            if info.filename == "manifest.json" or info.is_dir():
                continue
            match = _ENTRY.match(info.filename)
            if not match:
                raise ArchiveError(f"{source}: unexpected member {info.filename!r} (entries/<experiment>/<key>.json).")
            if info.file_size > MAX_MEMBER_BYTES:
                raise ArchiveError(f"{source}: member {info.filename} is {info.file_size} bytes, over the limit.")
            try:
                payload = json.loads(archive.read(info))
            except json.JSONDecodeError as error:
                raise ArchiveError(f"{info.filename}: not valid JSON ({error}).") from error
            if not isinstance(payload, dict) or set(payload) != {"config", "result"}:
                raise ArchiveError(f"{info.filename}: must hold exactly 'config' and 'result'.")
            decoded.append((match.group(1), match.group(2),
                            {"config": payload["config"], "result": _decode(payload["result"], info.filename)}))
    installed = 0
    for experiment, key, payload in decoded:
        path = root / experiment / f"{key}.pt"
        if path.exists() and not overwrite:
            continue
        ResultsCache._check_writable(path.parent)
        ResultsCache._atomic_save(payload, path)
        installed += 1
    return installed


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lib.results_archive", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    install = sub.add_parser("install", help="install an archive (path or URL) into the results cache")
    install.add_argument("source")
    install.add_argument("--results", default=None, help="results root (default: $NTK_BOOK_RESULTS or results/)")
    install.add_argument("--overwrite", action="store_true")
    export = sub.add_parser("export", help="pack every entry of a results root into an archive")
    export.add_argument("out")
    export.add_argument("--results", default=None)
    args = parser.parse_args(argv)
    if args.command == "install":
        count = install_archive(args.source, args.results, overwrite=args.overwrite)
        print(f"installed {count} results")
    else:
        from lib.paths import default_results_root

        root = Path(args.results) if args.results else default_results_root()
        count = export_archive(root.rglob("*.pt"), root, args.out)
        print(f"exported {count} results to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(_main())

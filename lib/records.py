"""Sweep records to arrays: the one helper every chapter uses to turn a list of result dicts into arrays.

A *record* is what an experiment returns (a dict of lists and numbers); a sweep returns one record per
config, in the order of the configs. :func:`stack` takes one field from every record; :func:`grid` lays
the records out along named config axes, so ``grid(records, configs, ("width", "seed"), "loss")`` is a
``[widths, seeds, …]`` array whatever order the sweep ran in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["field", "stack", "grid", "axis_values"]


def field(record: Mapping[str, Any], key: str) -> Any:
    """``record[key]``, where ``key`` may be dotted (``"picks.lr"`` is ``record["picks"]["lr"]``)."""
    value: Any = record
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            available = ", ".join(sorted(value)) if isinstance(value, Mapping) else type(value).__name__
            raise KeyError(f"Record has no field {key!r} (at {part!r}; available: {available}).")
        value = value[part]
    return value


def stack(records: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """``[len(records), …]`` float array of field ``key`` of each record; all must have the same shape."""
    if len(records) == 0:
        raise ValueError(f"No records to stack for {key!r}.")
    arrays = [np.asarray(field(r, key), dtype=float) for r in records]
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise ValueError(f"Field {key!r} has shape {a.shape} in record {i} but {shape} in record 0.")
    return np.stack(arrays)


def axis_values(configs: Sequence[Mapping[str, Any]], name: str) -> list:
    """The distinct values of config key ``name``, in order of first appearance."""
    seen: list = []
    for c in configs:
        value = field(c, name)
        if value not in seen:
            seen.append(value)
    return seen


def grid(records: Sequence[Mapping[str, Any]], configs: Sequence[Mapping[str, Any]], axes: Sequence[str],
         key: str) -> np.ndarray:
    """Field ``key`` laid out as ``[len(values of axes[0]), …, *field shape]``.

    Every combination of axis values must occur exactly once among ``configs``; the message names a missing
    or repeated combination.
    """
    if len(records) != len(configs):
        raise ValueError(f"{len(records)} records for {len(configs)} configs; pass the sweep's own configs.")
    values = [axis_values(configs, a) for a in axes]
    cells: dict[tuple, np.ndarray] = {}
    for record, config in zip(records, configs):
        index = tuple(values[i].index(field(config, a)) for i, a in enumerate(axes))
        if index in cells:
            raise ValueError(f"Two configs share {dict(zip(axes, (v[i] for v, i in zip(values, index))))}; "
                             "add the axis that tells them apart.")
        cells[index] = np.asarray(field(record, key), dtype=float)
    shape = tuple(len(v) for v in values)
    missing = [i for i in np.ndindex(*shape) if i not in cells]
    if missing:
        example = {a: values[j][missing[0][j]] for j, a in enumerate(axes)}
        raise ValueError(f"No record for {example} ({len(missing)} combinations missing).")
    inner = next(iter(cells.values())).shape
    out = np.empty(shape + inner)
    for index, value in cells.items():
        if value.shape != inner:
            raise ValueError(f"Field {key!r} has shape {value.shape} at {index} but {inner} elsewhere.")
        out[index] = value
    return out

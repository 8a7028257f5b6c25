"""lib.records: sweep records to arrays."""

from __future__ import annotations

import numpy as np
import pytest

from lib.records import axis_values, field, grid, stack


def test_stack_and_dotted_fields():
    records = [{"a": [1, 2], "b": {"c": 3}}, {"a": [4, 5], "b": {"c": 6}}]
    np.testing.assert_array_equal(stack(records, "a"), [[1, 2], [4, 5]])
    np.testing.assert_array_equal(stack(records, "b.c"), [3, 6])
    assert field(records[0], "b.c") == 3
    with pytest.raises(KeyError, match="available: a, b"):
        stack(records, "z")
    with pytest.raises(ValueError, match="shape"):
        stack([{"a": [1]}, {"a": [1, 2]}], "a")


def test_grid_is_independent_of_sweep_order():
    configs = [{"w": w, "s": s} for s in (0, 1) for w in (8, 16, 32)]
    records = [{"loss": 10 * c["w"] + c["s"]} for c in configs]
    out = grid(records, configs, ("w", "s"), "loss")
    assert out.shape == (3, 2) and out[2, 1] == 321 and axis_values(configs, "w") == [8, 16, 32]
    with pytest.raises(ValueError, match="No record"):
        grid(records[:-1], configs[:-1], ("w", "s"), "loss")
    with pytest.raises(ValueError, match="share"):
        grid(records, configs, ("w",), "loss")
    with pytest.raises(ValueError, match="records for"):
        grid(records[:2], configs, ("w", "s"), "loss")

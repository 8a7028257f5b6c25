"""Shared helpers of lib: option enums, parameter counting, symmetric kernel tiling."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from lib.bandits import AgentSpec, Exploration
from lib.continual import Setting
from lib.experiments.forgetting import BUDGETS, TaskBudget, budget_for
from lib.models import MLP, Parametrization, count_parameters
from lib.ntk import METHODS, MODES, Method, Mode, empirical_ntk
from lib.ntk.tiling import fill_kernel_tiles
from lib.options import Loss, Option
from lib.training import Optimizer
from tests.tolerances import TOL, assert_close, tolerance

ENUMS = [Mode, Method, Loss, Optimizer, Parametrization, Exploration, Setting, TaskBudget]


@pytest.mark.parametrize("enum", ENUMS)
def test_options_are_documented_strings(enum):
    assert issubclass(enum, Option) and issubclass(enum, str)
    for member in enum:
        assert member == member.value and f"{member}" == member.value and str(member) == member.value
        assert enum(member.value) is member and enum.parse(member.value) is member
        assert member.__doc__ and member.__doc__ != enum.__doc__, f"{enum.__name__}.{member.name} needs a meaning"
        assert json.loads(json.dumps({"x": member})) == {"x": member.value}
    with pytest.raises(ValueError, match=f"valid: {', '.join(enum.values())}"):
        enum("no-such-option")
    with pytest.raises(ValueError, match="use one of"):
        enum.parse(None)


def test_old_tuple_names_are_aliases_and_functions_take_both_forms(generator):
    assert MODES == ("full", "trace", "diagonal") and METHODS == Method.values()
    assert list(BUDGETS) == ["one-epoch", "converged"] and budget_for(TaskBudget.ONE_EPOCH, 5).epochs == 1
    with pytest.raises(ValueError, match="Unknown budget"):
        budget_for("forever", 5)
    model = MLP(3, 8, 1, 2, generator=generator).double()
    x = torch.randn(4, 3, dtype=torch.float64, generator=generator)
    assert torch.equal(empirical_ntk(model, x, mode=Mode.TRACE, method=Method.JACOBIAN),
                       empirical_ntk(model, x, mode="trace", method="jacobian"))
    spec = AgentSpec(Exploration.UCB, parametrization=Parametrization.NTK)
    assert type(spec.exploration) is str and spec.as_dict() == AgentSpec("ucb", parametrization="ntk").as_dict()


def test_count_parameters_counts_trainable_scalars_only():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    assert count_parameters(model) == (3 * 4 + 4) + (4 + 4) + (4 * 2 + 2)  # buffers never count
    model[0].weight.requires_grad_(False)
    assert count_parameters(model) == 4 + 8 + 10
    assert count_parameters(model, trainable_only=False) == 12 + 4 + 8 + 10
    assert count_parameters([torch.zeros(2, 3), torch.zeros(5)]) == 11


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("tile", [1, 3, 7, 100])
def test_fill_kernel_tiles_matches_one_block_and_is_exactly_symmetric(symmetric, tile, generator):
    x1 = torch.randn(7, 3, dtype=torch.float64, generator=generator)
    x2 = x1 if symmetric else torch.randn(5, 3, dtype=torch.float64, generator=generator)
    calls = []

    def block(rows: slice, cols: slice) -> torch.Tensor:
        calls.append((rows.start, cols.start))
        tile_ = torch.tanh(x1[rows] @ x2[cols].T)
        return 0.5 * (tile_ + tile_.T) if symmetric and rows == cols else tile_

    out = fill_kernel_tiles(torch.empty(7, x2.shape[0], dtype=torch.float64), block, tile=tile, symmetric=symmetric)
    assert_close(out, torch.tanh(x1 @ x2.T), kind="roundoff")
    if symmetric:
        assert torch.equal(out, out.T)
        assert all(j >= i for i, j in calls), "only tiles on and above the diagonal are computed"
    with pytest.raises(ValueError, match="tile"):
        fill_kernel_tiles(out, block, tile=0, symmetric=symmetric)


def test_tolerance_table():
    assert set(TOL) == {torch.float64, torch.float32} and all(set(t) == set(TOL[torch.float64]) for t in TOL.values())
    for kind in TOL[torch.float64]:  # single precision is never stricter than double
        assert tolerance(kind, torch.float32)["rtol"] >= tolerance(kind)["rtol"]
    with pytest.raises(KeyError, match="valid: exact, roundoff"):
        tolerance("loose")
    with pytest.raises(AssertionError):
        assert_close(torch.tensor([1.0], dtype=torch.float64), torch.tensor([1.0 + 1e-9], dtype=torch.float64),
                     kind="roundoff")


def test_single_threaded_runs_cpu_experiments_on_one_thread_and_restores_the_setting():
    from lib.experiments import single_threaded

    seen = []
    experiment = single_threaded(lambda config: seen.append(torch.get_num_threads()) or {"ok": True})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert experiment({"device": "cpu"}) == {"ok": True} and seen[-1] == 1
        assert torch.get_num_threads() == 2                      # the caller's setting is back
        experiment({"device": "meta"})                             # another device: threads untouched
        assert seen[-1] == 2
        failing = single_threaded(lambda config: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            failing({})
        assert torch.get_num_threads() == 2                      # restored after an exception too
    finally:
        torch.set_num_threads(before)

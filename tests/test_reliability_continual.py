"""Bad inputs and faults against lib.continual: clear errors, divergence raised like lib.training flags it."""

from __future__ import annotations

import pytest
import torch

from lib.continual import Budget, ContinualTask, TaskSequence, run_sequence, split_dataset, train_on_task
from lib.continual.benchmarks import rotated_mnist
from lib.models import MLP


def _task(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 2, 2, generator=g)
    y = (x.flatten(1).sum(1) > 0).long()
    return ContinualTask(f"toy {seed}", x, y, x.clone(), y.clone(), (0, 1))


def _model():
    return MLP(4, 16, 1, 2, generator=torch.Generator().manual_seed(0))


def _train(**kwargs):
    args = dict(learning_rate=0.1, batch_size=8, generator=torch.Generator().manual_seed(0))
    args.update(kwargs)
    return train_on_task(args.pop("model", _model()), args.pop("task", _task()), "class",
                         args.pop("budget", Budget(epochs=1)), **args)


def test_huge_learning_rate_raises_divergence_naming_the_task():
    with pytest.raises(FloatingPointError, match=r"toy 0 diverged at step \d+.*lower the learning rate"):
        _train(learning_rate=1e6, budget=Budget(epochs=3))


def test_normal_training_is_not_flagged_and_keeps_task_and_frozen_layer():
    model, task = _model(), _task()
    model[0].bias.requires_grad_(False)
    bias, x0 = model[0].bias.detach().clone(), task.x_train.clone()
    log = _train(model=model, task=task, budget=Budget(epochs=5))
    assert log.train_accuracy > 0.8
    assert torch.equal(task.x_train, x0) and torch.equal(model[0].bias, bias) and not model[0].bias.requires_grad


BAD = [
    ("float batch", dict(batch_size=8.0), TypeError, "batch_size.*config"),
    ("nan lr", dict(learning_rate=float("nan")), ValueError, "learning_rate"),
    ("no generator", dict(generator=None), TypeError, "generator"),
    ("budget dict", dict(budget={"epochs": 1}), TypeError, "Budget"),
    ("negative weight decay", dict(weight_decay=-1e-4), ValueError, "weight_decay"),
    ("augment not callable", dict(augment="flip"), TypeError, "augment"),
    ("nan inputs", dict(task=ContinualTask("t", torch.full((4, 1, 2, 2), float("nan")), torch.zeros(4).long(),
                                           torch.zeros(2, 1, 2, 2), torch.zeros(2).long(), (0, 1))), ValueError,
     "NaN"),
    ("empty test", dict(task=ContinualTask("t", torch.zeros(4, 1, 2, 2), torch.zeros(4).long(),
                                           torch.zeros(0, 1, 2, 2), torch.zeros(0).long(), (0, 1))), ValueError,
     "at least one sample"),
    ("uint8 inputs", dict(task=ContinualTask("t", torch.zeros(4, 1, 2, 2, dtype=torch.uint8), torch.zeros(4).long(),
                                             torch.zeros(2, 1, 2, 2), torch.zeros(2).long(), (0, 1))), TypeError,
     "floating"),
]


@pytest.mark.parametrize("probe", BAD, ids=[b[0] for b in BAD])
def test_train_on_task_rejects_bad_arguments(probe):
    _, kwargs, error, match = probe
    with pytest.raises(error, match=match):
        _train(**kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(epochs=1.0), TypeError, "epochs"), (dict(epochs=0), ValueError, "epochs"),
    (dict(target_accuracy=float("nan")), ValueError, "target_accuracy"),
    (dict(target_accuracy=95), ValueError, "target_accuracy"), (dict(), ValueError, "exactly one"),
])
def test_budget_rejects_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        Budget(**kwargs)


def test_empty_sequence_and_bad_probe_are_clear_errors():
    args = dict(learning_rate=0.1, batch_size=8, generator=torch.Generator())
    with pytest.raises(ValueError, match="no tasks"):
        run_sequence(_model(), TaskSequence("empty", (), 2, False), "class", Budget(epochs=1), **args)
    with pytest.raises(ValueError, match="probe contains"):
        run_sequence(_model(), TaskSequence("one", (_task(),), 2, False), "class", Budget(epochs=1),
                     probe=torch.full((2, 1, 2, 2), float("nan")), **args)


@pytest.mark.parametrize("call, error, match", [
    (lambda: split_dataset("split_mnist", 5, 0, seed=0), ValueError, "n_test_per_class"),
    (lambda: split_dataset("split_mnist", 5.0, 5, seed=0), TypeError, "n_train_per_class"),
    (lambda: split_dataset("split_mnist", 5, 5, seed=0, task_classes=[]), ValueError, "non-empty"),
    (lambda: split_dataset("split_mnist", 5, 5, seed=0, task_classes=[[0, 1], []]), ValueError, r"task_classes\[1\]"),
    (lambda: rotated_mnist([], 5, 5, seed=0), ValueError, "non-empty list of angles"),
    (lambda: rotated_mnist([0.0], 5, 0, seed=0), ValueError, "n_test"),
    (lambda: rotated_mnist([float("nan")], 5, 5, seed=0), ValueError, "angles"),
])
def test_benchmarks_reject_bad_arguments_before_loading(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_run_sequence_rejects_an_unknown_batchnorm_use():
    args = dict(learning_rate=0.1, batch_size=8, generator=torch.Generator())
    with pytest.raises(ValueError, match="batchnorm"):
        run_sequence(_model(), TaskSequence("one", (_task(),), 2, False), "task", Budget(epochs=1),
                     batchnorm="frozen", **args)


def test_kernel_baseline_rejects_bad_times_and_settings():
    from lib.continual import sequential_kernel_regression

    def kernel(a, b):
        return a.flatten(1).double() @ b.flatten(1).double().T

    seq = TaskSequence("one", (_task(),), 2, False)
    for times in ([], [float("nan")], [-1.0]):
        with pytest.raises(ValueError, match="times"):
            sequential_kernel_regression(kernel, seq, "class", times)
    with pytest.raises(ValueError, match="setting='task' or 'class'"):
        sequential_kernel_regression(kernel, seq, "domain", [1.0])

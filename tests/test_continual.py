"""Continual learning: metrics against hand-computed values, task sequences against the raw data,
and sequential training against cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.continual import (
    Budget,
    ContinualMetrics,
    average_accuracy,
    average_forgetting,
    evaluate,
    forgetting_per_task,
    learning_accuracy,
    make_sequence,
    rotated_mnist,
    run_sequence,
    split_dataset,
    train_on_task,
)
from lib.continual.benchmarks import BENCHMARKS, available
from lib.continual.sequential import task_logits
from lib.data import load_dataset
from lib.models import MLP

# rows: after training task t; columns: task i
MATRIX = [[0.9, 0.1, 0.2],
          [0.6, 0.8, 0.3],
          [0.5, 0.4, 0.7]]


def test_metrics_by_hand():
    assert average_accuracy(MATRIX) == pytest.approx((0.5 + 0.4 + 0.7) / 3)
    # f_0 = max(0.9, 0.6) - 0.5 = 0.4 ; f_1 = max(0.1, 0.8) - 0.4 = 0.4
    np.testing.assert_allclose(forgetting_per_task(MATRIX), [0.4, 0.4])
    assert average_forgetting(MATRIX) == pytest.approx(0.4)
    assert learning_accuracy(MATRIX) == pytest.approx((0.9 + 0.8 + 0.7) / 3)
    m = ContinualMetrics.from_matrix(MATRIX)
    assert (m.average_accuracy, m.average_forgetting) == (average_accuracy(MATRIX), average_forgetting(MATRIX))


def test_forgetting_uses_every_earlier_row_and_can_be_negative():
    # backward transfer: a task improves later -> negative forgetting
    assert average_forgetting([[0.5, 0.0], [0.7, 0.9]]) == pytest.approx(-0.2)
    # the maximum runs over all earlier rows (Chaudhry et al.), also rows before the task was trained
    assert forgetting_per_task([[0.2, 0.9, 0.0], [0.6, 0.5, 0.0], [0.6, 0.5, 1.0]])[1] == pytest.approx(0.4)


def test_metrics_reject_bad_matrices():
    with pytest.raises(ValueError, match="square"):
        average_accuracy([[0.1, 0.2]])
    with pytest.raises(ValueError, match="percentages"):
        average_accuracy([[90.0]])
    with pytest.raises(ValueError, match="two tasks"):
        average_forgetting([[0.5]])


def test_rotated_mnist_rotates_counter_clockwise():
    seq = rotated_mnist([0, 90], 20, 10, seed=0)
    assert seq.shared_head and seq.num_tasks == 2 and seq.num_classes == 10
    # same seed -> the 90° task's images are the rot90 of the MNIST images it drew
    train = load_dataset("mnist", "train")
    generator = torch.Generator().manual_seed(0)
    torch.randperm(len(train), generator=generator)            # task 0's training draw
    torch.randperm(10000, generator=generator)                 # task 0's test draw
    i = torch.randperm(len(train), generator=generator)[:20]
    expected = torch.rot90(train.subset(i).features(), 1, dims=(-2, -1))
    # Specific tolerance (tests/tolerances.py): float32 images, interpolation.
    torch.testing.assert_close(seq.tasks[1].x_train, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(seq.tasks[1].labels_train, train.y[i].long())


def test_split_mnist_partitions_classes():
    seq = split_dataset("split_mnist", 30, 10, seed=1)
    assert seq.num_tasks == 5 and seq.num_classes == 10 and not seq.shared_head
    seen = set()
    for t, task in enumerate(seq.tasks):
        assert task.classes == (2 * t, 2 * t + 1)
        assert set(task.labels_train.tolist()) == set(task.classes) and task.x_train.shape == (60, 1, 28, 28)
        assert torch.bincount(task.labels_test, minlength=10)[list(task.classes)].tolist() == [10, 10]
        assert not seen & set(task.classes)
        seen |= set(task.classes)
    custom = split_dataset("split_mnist", 5, 5, seed=0, task_classes=[[7, 3], [1, 0]])
    assert custom.tasks[0].classes == (0, 1) and custom.num_classes == 4   # global labels in the given order
    mnist = load_dataset("mnist", "test")
    assert "7" in custom.tasks[0].name and "3" in custom.tasks[0].name and mnist.classes[7] in custom.tasks[0].name
    with pytest.raises(ValueError, match="disjoint"):
        split_dataset("split_mnist", 5, 5, seed=0, task_classes=[[1, 2], [2, 3]])


def test_missing_benchmark_data_is_reported():
    assert available("split_mnist")
    if not available("split_cifar10"):
        from lib.data import DatasetNotFoundError
        with pytest.raises(DatasetNotFoundError):
            make_sequence("split_cifar10", seed=0, n_train=5, n_test=5)
    with pytest.raises(ValueError, match="angles"):
        make_sequence("rotated_mnist", seed=0, n_train=5, n_test=5)
    assert set(BENCHMARKS) >= {"rotated_mnist", "split_mnist", "split_cifar100", "split_tiny_imagenet"}


def test_task_setting_masks_other_tasks_logits():
    seq = split_dataset("split_mnist", 5, 5, seed=0)
    task = seq.tasks[1]
    outputs = torch.zeros(3, 10)
    outputs[:, 0] = 100.0        # a class of task 0 dominates...
    outputs[:, 3] = 1.0          # ...but within task 1 (classes 2, 3) class 3 wins
    assert task_logits(outputs, task, "task").argmax(dim=1).tolist() == [3, 3, 3]
    assert task_logits(outputs, task, "class").argmax(dim=1).tolist() == [0, 0, 0]


def test_zero_learning_rate_forgets_nothing_and_budgets_are_checked():
    seq = split_dataset("split_mnist", 10, 10, seed=0, task_classes=[[0, 1], [2, 3], [4, 5]])
    model = MLP(784, 32, 1, seq.num_classes, generator=torch.Generator().manual_seed(0))
    result = run_sequence(model, seq, "task", Budget(epochs=1), learning_rate=0.0, batch_size=8,
                          generator=torch.Generator().manual_seed(0))
    a = np.array(result.accuracy)
    np.testing.assert_allclose(a, np.broadcast_to(a[0], a.shape))   # nothing changes between rows
    assert result.metrics.average_forgetting == 0.0 and result.parameter_change == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="exactly one"):
        Budget()
    with pytest.raises(ValueError, match="setting='task' or 'class'"):
        run_sequence(model, seq, "domain", Budget(epochs=1), learning_rate=0.1, batch_size=8,
                     generator=torch.Generator())


def test_training_to_a_target_and_class_incremental_forgetting():
    seq = split_dataset("split_mnist", 40, 50, seed=0, task_classes=[[0, 1], [2, 3]])
    model = MLP(784, 128, 1, seq.num_classes, generator=torch.Generator().manual_seed(0))
    probe = torch.cat([t.x_test[:4] for t in seq.tasks])
    result = run_sequence(model, seq, "class", Budget(target_accuracy=0.99, max_epochs=50), learning_rate=0.1,
                          batch_size=16, generator=torch.Generator().manual_seed(0), probe=probe)
    assert all(result.reached_target) and min(result.train_accuracy) >= 0.99
    a = np.array(result.accuracy)
    assert a[0, 0] > 0.9 and a[1, 1] > 0.9
    # naive class-incremental fine-tuning overwrites the first task (the textbook failure)
    assert a[1, 0] < 0.5 and result.metrics.average_forgetting > 0.4
    assert len(result.kernel_distance) == 2 and all(0 < d < 2 for d in result.kernel_distance)
    assert result.kernel_distance_from_init[0] == pytest.approx(result.kernel_distance[0])
    # evaluation agrees with a direct computation
    with torch.no_grad():
        direct = (model(seq.tasks[1].x_test).argmax(1) == seq.tasks[1].labels_test).double().mean().item()
    assert evaluate(model, seq.tasks[1], "class") == pytest.approx(direct) == pytest.approx(a[1, 1])


def test_one_task_training_log():
    seq = rotated_mnist([45], 64, 16, seed=0)
    model = MLP(784, 16, 1, 10, generator=torch.Generator().manual_seed(0))
    log = train_on_task(model, seq.tasks[0], "domain", Budget(epochs=2), learning_rate=0.05, batch_size=16,
                        generator=torch.Generator().manual_seed(0))
    assert log.epochs == 2 and log.steps == 8 and 0 <= log.train_accuracy <= 1


# ------------------------------------------------------------------ Chapter 4 experiments

def test_forgetting_run_is_consistent_with_its_accuracy_matrix():
    from lib.experiments import forgetting as ch4

    config = dict(run="split_mnist_task", width=32, depth=1, budget="one-epoch", max_epochs=5, seed=0, data_seed=0,
                  n_train=10, n_test=10, probe_per_task=2)
    r = ch4.forgetting_run(config)
    a = np.array(r["accuracy"])
    assert a.shape == (5, 5) and r["epochs"] == [1] * 5
    assert r["average_accuracy"] == pytest.approx(a[-1].mean())
    assert r["average_forgetting"] == pytest.approx(average_forgetting(a))
    assert len(r["kernel_distance"]) == 5 and len(r["task_names"]) == 5
    assert r == ch4.forgetting_run(config)   # seeds make it reproducible
    with pytest.raises(ValueError, match="Unknown run"):
        ch4.forgetting_run({**config, "run": "split_svhn"})
    with pytest.raises(ValueError, match="Unknown budget"):
        ch4.budget_for("forever", 3)


def test_forgetting_sizes_and_optional_runs():
    from lib.experiments import forgetting as ch4

    book = ch4.sizes_for("book")
    assert book.widths[0] == 32 and book.widths[-1] == 4096          # 2^5 ... 2^12
    runs, messages = ch4.runs_to_do(book, profile="book", device=torch.device("cpu"))
    assert runs == list(book.runs) and len(messages) == len(ch4.OPTIONAL_RUNS)
    assert all("skipped" in m for m in messages)


def test_image_benchmarks_use_a_wide_resnet():
    from lib.experiments import forgetting as ch4
    from lib.models import WideResNet

    assert ch4.architecture_of("split_cifar10_task") == "wrn" and ch4.architecture_of("rotated") == "mlp"
    a = ch4.build_model("wrn", 2, 0, 10, (3, 32, 32), seed=0)
    b = ch4.build_model("wrn", 2, 0, 10, (3, 32, 32), seed=0)
    assert isinstance(a, WideResNet) and a.widen_factor == 2
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))   # seeded
    assert a(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # one task of Split MNIST with a WRN: trains and evaluates in the task-incremental setting
    seq = split_dataset("split_mnist", 8, 4, seed=0, task_classes=[[0, 1]])
    model = ch4.build_model("wrn", 1, 0, seq.num_classes, tuple(seq.tasks[0].x_train.shape[1:]), seed=0)
    log = train_on_task(model, seq.tasks[0], "task", Budget(epochs=1), learning_rate=0.01, batch_size=8,
                        generator=torch.Generator().manual_seed(0))
    assert log.steps == 2 and 0 <= evaluate(model, seq.tasks[0], "task") <= 1
    with pytest.raises(ValueError, match="architecture"):
        ch4.build_model("vit", 1, 0, 10, (3, 32, 32), seed=0)

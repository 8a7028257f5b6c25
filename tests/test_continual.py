"""Continual learning: metrics against hand-computed values, task sequences against the raw data,
and sequential training against cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lib.continual import (
    Budget,
    ContinualMetrics,
    ContinualTask,
    TaskSequence,
    average_accuracy,
    average_forgetting,
    average_learned_minus_final,
    backward_transfer,
    cross_task_overlap,
    evaluate,
    forgetting_per_task,
    learned_minus_final,
    learning_accuracy,
    make_sequence,
    pair_forgetting,
    rotated_mnist,
    run_sequence,
    sequential_kernel_regression,
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


def test_learned_minus_final_backward_transfer_and_pairs_by_hand():
    # g_0 = 0.9 - 0.5 = 0.4 ; g_1 = 0.8 - 0.4 = 0.4 ; BWT = -G
    np.testing.assert_allclose(learned_minus_final(MATRIX), [0.4, 0.4])
    assert average_learned_minus_final(MATRIX) == pytest.approx(0.4) == -backward_transfer(MATRIX)
    p = pair_forgetting(MATRIX)   # p[i, j] = a[j-1, i] - a[j, i], i < j
    assert p[0, 1] == pytest.approx(0.3) and p[0, 2] == pytest.approx(0.1) and p[1, 2] == pytest.approx(0.4)
    assert np.isnan(p[1, 0]) and np.isnan(p[2, 2])
    # forward and backward transfer make the two definitions disagree in sign
    m = [[0.5, 0.6, 0.3], [0.9, 0.9, 0.6], [0.8, 0.95, 0.9]]
    assert average_forgetting(m) == pytest.approx(0.025) and average_learned_minus_final(m) == pytest.approx(-0.175)
    metrics = ContinualMetrics.from_matrix(m)
    assert metrics.backward_transfer == pytest.approx(0.175) and set(metrics.as_dict()) >= {"learned_minus_final"}


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
    # task 1 is compared with the initial kernel, so its change "from init" is its own change
    assert result.kernel_shape_from_init[0] == pytest.approx(result.kernel_shape_change[0])
    assert all(s > 0 for s in result.kernel_shape_change) and len(result.kernel_log_scale) == 2
    assert all(0 <= d <= 2 for d in result.kernel_cka_distance)
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




# ------------------------------------------------------------------ the kernel baseline

def _toy_sequence(tasks=2, n=6, d=8, c=3, test=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in range(tasks):
        x, xt = torch.randn(n, 1, 2, d // 2, generator=g), torch.randn(test, 1, 2, d // 2, generator=g)
        out.append(ContinualTask(f"toy {t}", x, torch.randint(0, c, (n,), generator=g), xt,
                                 torch.randint(0, c, (test,), generator=g), tuple(range(c))))
    return TaskSequence("toy", tuple(out), c, shared_head=True)


def _linear_kernel(a, b):
    return a.reshape(a.shape[0], -1).double() @ b.reshape(b.shape[0], -1).double().T


def test_sequential_kernel_regression_matches_gradient_descent_on_a_linear_model():
    """With the linear kernel the model is f(x) = x W; small-step gradient descent on each task's mean squared loss
    for τ/η steps, started from the previous task's W, is an independent reference for the closed form."""
    seq = _toy_sequence()
    tau, eta = 2.0, 1e-3
    result = sequential_kernel_regression(_linear_kernel, seq, "domain", [tau, math.inf])
    w = torch.zeros(8, 3, dtype=torch.float64)
    for task in seq.tasks:
        x = task.x_train.reshape(6, -1).double()
        y = torch.nn.functional.one_hot(task.labels_train, 3).double() - 1 / 3
        for _ in range(int(tau / eta)):
            w -= eta * x.T @ (x @ w - y) / x.shape[0]
    z = torch.cat([t.x_train.reshape(6, -1) for t in seq.tasks] + [t.x_test.reshape(4, -1) for t in seq.tasks])
    # Specific tolerance: gradient descent with step η differs from gradient flow by O(η λ_max τ).
    torch.testing.assert_close(result.outputs[0], z.double() @ w, rtol=0, atol=2e-2)
    # τ = ∞ interpolates each task when it is trained (n < d: the kernel matrix is invertible)
    assert result.train_accuracy[1].tolist() == [1.0, 1.0] and result.train_loss[1].max() < 1e-10
    assert result.accuracy.shape == (2, 2, 2) and np.all((result.accuracy >= 0) & (result.accuracy <= 1))


def test_task_setting_kernel_regression_trains_only_the_tasks_outputs():
    seq = split_dataset("split_mnist", 10, 5, seed=0, task_classes=[[0, 1], [2, 3]])
    result = sequential_kernel_regression(_linear_kernel, seq, "task", [math.inf])
    # outputs of task 2's classes never move on task 1's inputs before task 2, and task 1's outputs stay put
    # on every input while task 2 trains: masked residuals
    assert result.train_accuracy[0].tolist() == [1.0, 1.0]
    assert result.accuracy[0, 1, 0] == result.accuracy[0, 0, 0]    # no forgetting across disjoint heads
    with pytest.raises(ValueError, match="times"):
        sequential_kernel_regression(_linear_kernel, seq, "task", [-1.0])


def test_cross_task_overlap_is_one_on_the_diagonal_and_zero_for_orthogonal_inputs():
    a = torch.zeros(5, 4)
    a[:, :2] = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    b = torch.zeros(5, 4)
    b[:, 2:] = torch.randn(5, 2, generator=torch.Generator().manual_seed(1))
    rho = cross_task_overlap(_linear_kernel, [a, b, a.clone()], centred=False)
    np.testing.assert_allclose(np.diag(rho), 1.0)
    assert rho[0, 1] == pytest.approx(0.0, abs=1e-12) and rho[0, 2] == pytest.approx(1.0)
    assert np.allclose(rho, rho.T)
    with pytest.raises(ValueError, match="at least two"):
        cross_task_overlap(_linear_kernel, [a])


# ------------------------------------------------------------------ recipe options

def _bn_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 16), torch.nn.BatchNorm1d(16),
                               torch.nn.ReLU(), torch.nn.Linear(16, 4))


def test_per_task_batchnorm_statistics_are_restored_for_each_task():
    seq = split_dataset("split_mnist", 12, 6, seed=0, task_classes=[[0, 1], [2, 3]])
    args = dict(learning_rate=0.05, batch_size=8, track_accuracy=True)
    shared = run_sequence(_bn_model(), seq, "task", Budget(epochs=2), generator=torch.Generator().manual_seed(0),
                          **args)
    model = _bn_model()
    per_task = run_sequence(model, seq, "task", Budget(epochs=2), generator=torch.Generator().manual_seed(0),
                            batchnorm="per-task", **args)
    # same training (statistics do not change gradients in train mode); the last row's task 2 entry agrees
    assert per_task.accuracy[1][1] == shared.accuracy[1][1] and per_task.accuracy[0] == shared.accuracy[0]
    assert len(per_task.train_curve[0]) == 2 and per_task.steps[0] == 6      # 24 images, batch 8, 2 epochs
    with pytest.raises(ValueError, match="per-task"):
        run_sequence(_bn_model(), rotated_mnist([0, 90], 8, 4, seed=0), "domain", Budget(epochs=1),
                     generator=torch.Generator(), batchnorm="per-task", **args)


def test_per_task_statistics_equal_a_manual_restore():
    from lib.continual.sequential import batchnorm_state, load_batchnorm_state

    seq = split_dataset("split_mnist", 12, 6, seed=0, task_classes=[[0, 1], [2, 3]])
    model = _bn_model()
    g = torch.Generator().manual_seed(0)
    train_on_task(model, seq.tasks[0], "task", Budget(epochs=1), learning_rate=0.05, batch_size=8, generator=g)
    saved = batchnorm_state(model)
    train_on_task(model, seq.tasks[1], "task", Budget(epochs=1), learning_rate=0.05, batch_size=8, generator=g)
    load_batchnorm_state(model, saved)
    expected = evaluate(model, seq.tasks[0], "task")
    model2 = _bn_model()
    g = torch.Generator().manual_seed(0)
    result = run_sequence(model2, seq, "task", Budget(epochs=1), learning_rate=0.05, batch_size=8, generator=g,
                          batchnorm="per-task")
    assert result.accuracy[1][0] == expected
    assert set(saved) == {"2.running_mean", "2.running_var", "2.num_batches_tracked"}


def test_random_crop_flip_is_a_shift_and_flip_of_each_image():
    from lib.models.cnn import WRN_RECIPE, random_crop_flip

    x = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    x0 = x.clone()
    assert torch.equal(random_crop_flip(x, torch.Generator(), padding=0, flip=False), x)
    out = random_crop_flip(x, torch.Generator().manual_seed(1), padding=2)
    assert torch.equal(x, x0) and out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(6):   # every output image is some crop of the padded image, possibly mirrored
        crops = [padded[b, :, i:i + 8, j:j + 8] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[b], c) or torch.equal(out[b], c.flip(-1)) for c in crops)
    assert WRN_RECIPE.momentum == 0.9 and WRN_RECIPE.batchnorm == "per-task"


def test_kernel_output_drift_matches_the_gradient_descent_reference():
    """Per-pair output drift of the kernel model against the weights of small-step gradient descent on the linear
    model, task by task (an independent reference for ``output_drift``)."""
    seq = _toy_sequence(tasks=3)
    tau, eta = 1.0, 1e-3
    result = sequential_kernel_regression(_linear_kernel, seq, "domain", [tau])
    w = torch.zeros(8, 3, dtype=torch.float64)
    tests = [t.x_test.reshape(4, -1).double() for t in seq.tasks]
    expected = np.zeros((3, 3))
    for j, task in enumerate(seq.tasks):
        before = w.clone()
        x = task.x_train.reshape(6, -1).double()
        y = torch.nn.functional.one_hot(task.labels_train, 3).double() - 1 / 3
        for _ in range(int(tau / eta)):
            w -= eta * x.T @ (x @ w - y) / x.shape[0]
        for i, xt in enumerate(tests):
            expected[j, i] = float((xt @ (w - before)).pow(2).sum(1).mean())
    assert result.output_drift.shape == (1, 3, 3)
    # Specific tolerance: gradient descent with step η against gradient flow, O(η λ_max τ) relative.
    np.testing.assert_allclose(result.output_drift[0], expected, rtol=2e-2, atol=1e-6)


def test_run_sequence_records_probe_kernels_and_output_drift():
    """One task: the drift is the mean squared output change between a copy of the initial model and the trained
    one; the probe kernels are the empirical NTKs (by an explicit Jacobian) before and after."""
    import copy

    seq = _toy_sequence(tasks=1)
    model = MLP(8, 16, 1, 3, generator=torch.Generator().manual_seed(0))
    start = copy.deepcopy(model)
    probe = seq.tasks[0].x_test
    result = run_sequence(model, seq, "domain", Budget(epochs=3), learning_rate=0.1, batch_size=2,
                          generator=torch.Generator().manual_seed(1), probe=probe, track_drift=True)
    with torch.no_grad():
        drift = (model(probe) - start(probe)).double().pow(2).sum(1).mean()
    assert drift > 0
    torch.testing.assert_close(torch.tensor(result.output_drift[0][0], dtype=torch.float64), drift,
                               rtol=1e-5, atol=0)

    def ntk(net):
        params = dict(net.named_parameters())
        jac = torch.func.jacrev(lambda p: torch.func.functional_call(net, p, (probe.reshape(4, -1),)))(params)
        flat = torch.cat([j.reshape(4, 3, -1) for j in jac.values()], dim=-1).double()
        return torch.einsum("ack,bck->ab", flat, flat)

    kernels = torch.tensor(result.probe_kernels, dtype=torch.float64)
    assert kernels.shape == (2, 4, 4)
    # Specific tolerance: float32 Jacobians.
    torch.testing.assert_close(kernels[0], ntk(start), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(kernels[1], ntk(model), rtol=1e-4, atol=1e-6)
    plain = run_sequence(copy.deepcopy(start), seq, "domain", Budget(epochs=1), learning_rate=0.1, batch_size=2,
                         generator=torch.Generator().manual_seed(1))
    assert plain.output_drift == [] and plain.probe_kernels == []


def test_rotated_mnist_validation_pool_never_touches_the_test_split():
    """held_out="validation": held-out images come from the last MNIST_VALIDATION training images, training images
    from the rest; held_out="test" draws exactly what it drew before the option existed."""
    from lib.continual.benchmarks import MNIST_VALIDATION

    train = load_dataset("mnist", "train")
    pool = train.features()[len(train) - MNIST_VALIDATION:].reshape(MNIST_VALIDATION, -1)
    seq = rotated_mnist([0], 30, 20, seed=3, held_out="validation")
    held = seq.tasks[0].x_test.reshape(20, -1)
    distances = torch.cdist(held, pool, compute_mode="donot_use_mm_for_euclid_dist")
    assert (distances.min(dim=1).values == 0).all()               # every held-out image is in the pool
    rest = train.features()[:len(train) - MNIST_VALIDATION].reshape(-1, 784)
    train_images = seq.tasks[0].x_train.reshape(30, -1)
    assert (torch.cdist(train_images, rest, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values == 0).all()
    assert (torch.cdist(train_images, pool, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values > 0).all()
    # the evaluation draw is unchanged by the option: the same permutations as the original sampler
    generator = torch.Generator().manual_seed(3)
    i = torch.randperm(len(train), generator=generator)[:30]
    torch.testing.assert_close(rotated_mnist([0], 30, 20, seed=3).tasks[0].x_train, train.subset(i).features())
    with pytest.raises(ValueError, match="held_out"):
        rotated_mnist([0], 30, 20, seed=3, held_out="val")
    with pytest.raises(ValueError, match="held_out"):
        make_sequence("split_mnist", seed=0, n_train=5, n_test=5, held_out="validation")

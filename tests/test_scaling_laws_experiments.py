"""Chapter 5's experiments at toy sizes: consistent records and the invariants they must satisfy."""

from __future__ import annotations

import pytest
import torch

from lib.experiments import scaling_laws as ch5
from lib.models import MLP
from lib.training import train

BASE = dict(task="mnist10", test=40, width=32, depth=1, epochs=2, min_steps=20, ridge=1e-4, seed=0, data_seed=0)


def test_data_scaling_and_after_kernel_records():
    r = ch5.data_scaling(dict(BASE, sizes=[64, 32], kernels=True))
    assert r["sizes"] == [32, 64] and len(r["steps"]) == 2
    for key in ("network", "empirical_ntk", "infinite_ntk"):
        assert len(r[key]) == 2 and all(len(row) == 40 and set(row) <= {0, 1} for row in r[key])
    # 64 MNIST samples are enough for the infinite-width NTK to beat chance (90 % error) clearly
    assert sum(r["infinite_ntk"][1]) < 40 * 0.9                     # better than chance on 10 classes
    a = ch5.after_kernel(dict(BASE, sizes=[32, 64, 16], kernels=True, n0=32))
    assert a["n0"] == 32 and a["sizes"] == [32, 64] and len(a["errors"]) == 2   # only n >= n0
    with pytest.raises(ValueError, match="n0"):
        ch5.after_kernel(dict(BASE, sizes=[16], kernels=True, n0=32))


def test_kernel_evolution_invariants():
    r = ch5.kernel_evolution(dict(BASE, train=48, checkpoints=4))
    steps = r["steps"]
    assert steps[0] == 0 and steps == sorted(set(steps)) and steps[-1] == 20
    assert r["distance_to_final"][-1] == pytest.approx(0.0, abs=1e-12)
    assert r["distance_from_init"][0] == pytest.approx(0.0, abs=1e-12)
    assert r["distance_from_init"][-1] > 0 and len(r["velocity"]) == len(steps) - 1
    assert all(v >= 0 for v in r["velocity"]) and len(r["kernel_test_error"]) == len(steps)


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match="valid: mnist10, fashion_shirts"):
        ch5.load_task("cifar5m", 10, 10, 0, torch.device("cpu"))


def test_training_callback_sees_every_step(generator):
    seen = []
    x, y = torch.randn(16, 3, generator=generator), torch.randn(16, 1, generator=generator)
    train(MLP(3, 8, 1, 1, generator=generator), x, y, learning_rate=0.01, max_steps=5, callback=seen.append)
    assert seen == [0, 1, 2, 3, 4, 5]


def test_optional_cifar_task_is_skipped_with_a_reason_when_absent_or_unaffordable():
    sizes = ch5.sizes_for("book")
    tasks, messages = ch5.tasks_to_run(sizes, profile="book", device=torch.device("cpu"))
    assert tasks == list(sizes.tasks) and len(messages) == 1 and "CIFAR-10, cat vs dog: skipped" in messages[0]
    from lib.data import is_available

    if not is_available("cifar10"):
        assert "not under the data root" in messages[0]


def test_optional_variants_run_only_with_data_and_compute():
    from lib.experiments import optional_skip_reason

    cpu = torch.device("cpu")
    assert "data is present" in optional_skip_reason("mnist", "MNIST variant", profile="book", device=cpu)
    assert optional_skip_reason("mnist", "MNIST variant", profile="paper", device=cpu) is None
    assert optional_skip_reason("mnist", "MNIST variant", profile="quick", device=torch.device("cuda")) is None

"""Chapter 4 — catastrophic forgetting: do wider networks forget less? (Mirzadeh et al. 2022;
Wenger, Dangel & Kristiadi 2023, Sec. 5.)

Every experiment is a function of a JSON-like config returning plain lists and numbers, so
:class:`lib.cache.ResultsCache` can store it. Conventions:

* a *benchmark* is a task sequence of :mod:`lib.continual.benchmarks` plus a *setting*
  (``"domain"`` for RotatedMNIST, ``"task"`` or ``"class"`` for the Split benchmarks);
* the network is a standard-parametrized ReLU MLP (:class:`lib.models.MLP`, He initialisation)
  with ``depth`` hidden layers of ``width`` units and one output per class of the sequence — or,
  for the image benchmarks of :data:`WRN_RUNS`, a WRN-16-k (:class:`lib.models.WideResNet`, width =
  widen factor ``k``) — trained task after task with plain mini-batch SGD (:data:`LEARNING_RATE`, batch :data:`BATCH`,
  no momentum, no replay, no regularizer) on the cross-entropy;
* the *budget* per task is :data:`BUDGETS`: one epoch ("under-trained") or until the training
  accuracy on the task reaches 99 % (checked after every epoch, at most ``max_epochs``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from lib.continual import Budget, make_sequence, run_sequence
from lib.continual.benchmarks import BENCHMARKS
from lib.experiments import config_device, optional_runs
from lib.models import MLP, WideResNet
from lib.options import Option
from lib.profiles import pick_profile

LEARNING_RATE = 0.05
BATCH = 32



class TaskBudget(Option):
    """The per-task training budgets of the chapter (the :class:`lib.continual.Budget` is :func:`budget_for`)."""

    ONE_EPOCH = "one-epoch", "one epoch per task (under-trained)"
    CONVERGED = "converged", "until 99 % training accuracy on the task (at most max_epochs epochs)"


#: Per-task training budgets: name -> description (alias of :class:`TaskBudget`; iterating gives the names).
BUDGETS: dict[str, str] = {budget.value: str(budget.__doc__) for budget in TaskBudget}

#: The RotatedMNIST angles (degrees, counter-clockwise), one task each, in training order.
ANGLES = (0.0, 22.5, 45.0, 67.5, 90.0)

#: The runs of the chapter: name -> (benchmark, setting, description).
RUNS = {
    "rotated": ("rotated_mnist", "domain", "RotatedMNIST, domain-incremental"),
    "split_mnist_task": ("split_mnist", "task", "Split MNIST, task-incremental"),
    "split_fashion_task": ("split_fashion_mnist", "task", "Split Fashion-MNIST, task-incremental"),
    "split_mnist_class": ("split_mnist", "class", "Split MNIST, class-incremental"),
    "split_cifar10_task": ("split_cifar10", "task", "Split CIFAR-10, task-incremental"),
    "split_cifar100_task": ("split_cifar100", "task", "Split CIFAR-100, task-incremental"),
    "split_tiny_imagenet_task": ("split_tiny_imagenet", "task", "Split Tiny ImageNet, task-incremental"),
}

#: Runs that need data this machine may not have, and more compute (paper profile or a GPU).
OPTIONAL_RUNS = ("split_cifar10_task", "split_cifar100_task", "split_tiny_imagenet_task")

#: Runs that train a WRN-16-k instead of an MLP; their widths are widen factors ``k``.
WRN_RUNS = OPTIONAL_RUNS
WRN_DEPTH = 16


@dataclass(frozen=True)
class ForgettingSizes:
    """Sizes of Chapter 4's experiments for one profile."""

    runs: tuple[str, ...]           # the always-run entries of RUNS
    widths: tuple[int, ...]
    class_widths: tuple[int, ...]   # widths for the class-incremental run
    depth: int
    seeds: int
    rotated_train: int              # RotatedMNIST: training images per task
    rotated_test: int
    split_train_per_class: int | None   # None: every image of the class
    split_test_per_class: int | None
    max_epochs: int
    probe_per_task: int             # test inputs per task in the kernel probe
    wrn_widen_factors: tuple[int, ...] = (1, 2, 4, 8)

    def as_dict(self) -> dict:
        return asdict(self)


SIZES = {
    "quick": ForgettingSizes(runs=("rotated", "split_mnist_task", "split_mnist_class"), widths=(32, 256, 1024),
                             class_widths=(32, 1024), depth=2, seeds=2, rotated_train=200, rotated_test=200,
                             split_train_per_class=50, split_test_per_class=100, max_epochs=20, probe_per_task=4),
    "book": ForgettingSizes(runs=("rotated", "split_mnist_task", "split_fashion_task", "split_mnist_class"),
                            widths=(32, 64, 128, 256, 512, 1024, 2048, 4096), class_widths=(32, 256, 2048),
                            depth=2, seeds=3, rotated_train=500, rotated_test=1000, split_train_per_class=100,
                            split_test_per_class=500, max_epochs=30, probe_per_task=8),
    "paper": ForgettingSizes(runs=("rotated", "split_mnist_task", "split_fashion_task", "split_mnist_class"),
                             widths=tuple(2**k for k in range(5, 13)), class_widths=(32, 256, 2048, 4096), depth=2,
                             seeds=5, rotated_train=10000, rotated_test=10000, split_train_per_class=None,
                             split_test_per_class=None, max_epochs=50, probe_per_task=16),
}


def sizes_for(profile: str) -> ForgettingSizes:
    """The size table of ``profile``."""
    return pick_profile(SIZES, profile)


def runs_to_do(sizes: ForgettingSizes, *, profile: str, device: torch.device) -> tuple[list[str], list[str]]:
    """``(runs, messages)``: the profile's runs plus each optional run whose data is present and that is
    affordable (paper profile or CUDA); a message says why an optional run is skipped."""
    optional, messages = optional_runs({name: (BENCHMARKS[RUNS[name][0]][0], RUNS[name][2]) for name in OPTIONAL_RUNS},
                                       profile=profile, device=device)
    return list(sizes.runs) + optional, messages


def budget_for(name: str | TaskBudget, max_epochs: int) -> Budget:
    """The :class:`lib.continual.Budget` of a :class:`TaskBudget` (or its name); ``ValueError`` listing them else."""
    budget = TaskBudget.parse(name, name="budget")
    if budget is TaskBudget.ONE_EPOCH:
        return Budget(epochs=1)
    return Budget(target_accuracy=0.99, max_epochs=max_epochs)


def architecture_of(run: str) -> str:
    """``"wrn"`` for the runs of :data:`WRN_RUNS`, else ``"mlp"``."""
    return "wrn" if run in WRN_RUNS else "mlp"


def build_model(architecture: str, width: int, depth: int, num_classes: int, input_shape: tuple[int, ...],
                seed: int) -> torch.nn.Module:
    """An MLP (``depth`` hidden layers of ``width``) or a WRN-16-``width``, initialised from ``seed``.
    ``input_shape`` is one image's ``(C, H, W)``."""
    if architecture == "mlp":
        return MLP(math.prod(input_shape), width, depth, num_classes, generator=torch.Generator().manual_seed(seed))
    if architecture == "wrn":
        torch.manual_seed(seed)   # nn.Conv2d / nn.Linear draw from the global generator
        return WideResNet(WRN_DEPTH, width, num_classes, in_channels=input_shape[0])
    raise ValueError(f"Unknown architecture {architecture!r}; use 'mlp' or 'wrn'.")


def forgetting_run(config: dict) -> dict:
    """Train one MLP on one task sequence and return its accuracy matrix and NTK-view diagnostics.

    Config: ``run`` (a key of :data:`RUNS`), ``width``, ``depth``, ``budget`` (a key of :data:`BUDGETS`),
    ``max_epochs``, ``seed`` (network and batch order), ``data_seed``, ``n_train``/``n_test`` (per task
    for RotatedMNIST, per class for Split; ``None`` = all), ``probe_per_task``, optional ``device``.

    Returns the :class:`lib.continual.SequenceResult` fields (``accuracy`` ``[T][T]``, per-task
    ``epochs``, ``train_accuracy``, ``reached_target``, ``parameter_change``, ``kernel_distance``,
    ``kernel_distance_from_init``) plus ``average_accuracy``, ``average_forgetting``, ``learning_accuracy``.
    """
    if config["run"] not in RUNS:
        raise ValueError(f"Unknown run {config['run']!r}; valid: {', '.join(RUNS)}.")
    benchmark, setting, _ = RUNS[config["run"]]
    device = config_device(config)
    sequence = make_sequence(benchmark, seed=config["data_seed"], n_train=config["n_train"], n_test=config["n_test"],
                             angles=list(ANGLES) if benchmark == "rotated_mnist" else None)
    architecture = architecture_of(config["run"])
    model = build_model(architecture, config["width"], config["depth"], sequence.num_classes,
                        tuple(sequence.tasks[0].x_train.shape[1:]), config["seed"]).to(device)
    # the kernel probe needs a BatchNorm-free network (a WRN's kernel depends on the batch in training mode)
    use_probe = config["probe_per_task"] and architecture == "mlp"
    probe = torch.cat([t.x_test[:config["probe_per_task"]] for t in sequence.tasks]) if use_probe else None
    result = run_sequence(model, sequence, setting, budget_for(config["budget"], config["max_epochs"]),
                          learning_rate=LEARNING_RATE, batch_size=BATCH,
                          generator=torch.Generator().manual_seed(config["seed"] + 1), probe=probe)
    metrics = result.metrics
    return {**{k: v for k, v in vars(result).items()}, "average_accuracy": metrics.average_accuracy,
            "average_forgetting": metrics.average_forgetting, "learning_accuracy": metrics.learning_accuracy,
            "task_names": [t.name for t in sequence.tasks]}

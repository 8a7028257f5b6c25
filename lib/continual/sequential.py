"""Train one network on a task sequence, in order, with plain SGD: no replay, no regularizer.

Settings (how the output layer is used):

* ``"task"`` — task-incremental: the task id is known at training and test time, so logits are
  restricted to the current task's classes (a multi-head output implemented by masking one
  shared output layer; the cross-entropy is over the task's classes only);
* ``"class"`` — class-incremental: one head over all classes, no task id;
* ``"domain"`` — domain-incremental (RotatedMNIST): every task uses the same classes and head.

Per-task **budget** (:class:`Budget`): a fixed number of epochs, or "train until the training
accuracy on the task reaches a target" (checked after every epoch, at most ``max_epochs``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from lib.continual.benchmarks import ContinualTask, TaskSequence
from lib.continual.metrics import ContinualMetrics
from lib.kernel_regime import parameter_change
from lib.ntk import empirical_ntk
from lib.ntk.compare import kernel_distance

SETTINGS = ("task", "class", "domain")


@dataclass(frozen=True)
class Budget:
    """How long each task is trained: ``epochs`` exactly, or until the training accuracy reaches
    ``target_accuracy`` (checked after each epoch; at most ``max_epochs``)."""

    epochs: int | None = None
    target_accuracy: float | None = None
    max_epochs: int = 100

    def __post_init__(self) -> None:
        if (self.epochs is None) == (self.target_accuracy is None):
            raise ValueError("A Budget needs exactly one of epochs=... or target_accuracy=....")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}.")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy is a fraction in (0, 1], got {self.target_accuracy}.")
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}.")


def _check_setting(setting: str, sequence_shared_head: bool) -> None:
    if setting not in SETTINGS:
        raise ValueError(f"Unknown setting {setting!r}; valid: {', '.join(SETTINGS)}.")
    if sequence_shared_head and setting != "domain":
        raise ValueError("This sequence shares one head across tasks (domain-incremental); use setting='domain'.")
    if not sequence_shared_head and setting == "domain":
        raise ValueError("Split sequences are task- or class-incremental; use setting='task' or 'class'.")


def task_logits(outputs: torch.Tensor, task: ContinualTask, setting: str) -> torch.Tensor:
    """``outputs [N, C]`` with the logits of other tasks' classes set to ``−inf`` in the ``"task"`` setting."""
    if setting != "task":
        return outputs
    mask = torch.full((outputs.shape[1],), -math.inf, dtype=outputs.dtype, device=outputs.device)
    mask[list(task.classes)] = 0.0
    return outputs + mask


@torch.no_grad()
def evaluate(model: nn.Module, task: ContinualTask, setting: str, *, split: str = "test",
             batch_size: int = 1024) -> float:
    """Accuracy (fraction) of ``model`` on the task's ``"test"`` or ``"train"`` split."""
    x, y = (task.x_test, task.labels_test) if split == "test" else (task.x_train, task.labels_train)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    try:
        for start in range(0, x.shape[0], batch_size):
            out = task_logits(model(x[start:start + batch_size].to(device)), task, setting)
            correct += (out.argmax(dim=1).cpu() == y[start:start + batch_size]).sum().item()
    finally:
        model.train(was_training)
    return correct / x.shape[0]


@dataclass
class TaskLog:
    """``epochs`` trained and the training accuracy after them (``reached_target`` for target budgets)."""

    epochs: int = 0
    steps: int = 0
    train_accuracy: float = 0.0
    reached_target: bool = False


def train_on_task(model: nn.Module, task: ContinualTask, setting: str, budget: Budget, *, learning_rate: float,
                  batch_size: int, generator: torch.Generator, momentum: float = 0.0,
                  progress: bool = False) -> TaskLog:
    """Plain mini-batch SGD on one task's cross-entropy (masked in the ``"task"`` setting), in place."""
    if learning_rate < 0 or batch_size < 1:
        raise ValueError(f"Need learning_rate >= 0 and batch_size >= 1, got {learning_rate}, {batch_size}.")
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=learning_rate, momentum=momentum) if learning_rate > 0 else None
    epochs = budget.epochs if budget.epochs is not None else budget.max_epochs
    n = task.x_train.shape[0]
    log = TaskLog()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs, desc=task.name, leave=False)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            logits = task_logits(model(task.x_train[idx].to(device)), task, setting)
            loss = F.cross_entropy(logits, task.labels_train[idx].to(device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"Training on {task.name} diverged (loss {loss.item()}); "
                                         "lower the learning rate.")
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            log.steps += 1
        log.epochs += 1
        if bar is not None:
            bar.update(1)
        if budget.target_accuracy is not None:
            log.train_accuracy = evaluate(model, task, setting, split="train")
            if log.train_accuracy >= budget.target_accuracy:
                log.reached_target = True
                break
    if bar is not None:
        bar.close()
    if budget.target_accuracy is None:
        log.train_accuracy = evaluate(model, task, setting, split="train")
    return log


@dataclass
class SequenceResult:
    """What :func:`run_sequence` measured.

    Attributes:
        accuracy: ``[T][T]`` test accuracies, ``accuracy[t][i]`` on task ``i`` after training task ``t``.
        epochs, train_accuracy, reached_target: per task, from :class:`TaskLog`.
        parameter_change: per task, ``‖θ_after − θ_before‖ / ‖θ_before‖`` over that task's training.
        kernel_distance: per task, the kernel distance (Fort et al. 2020) between the empirical NTK on the
            probe inputs before and after that task (empty if no probe was given).
        kernel_distance_from_init: the same between the initial network's kernel and the kernel after each task.
    """

    accuracy: list[list[float]] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    reached_target: list[bool] = field(default_factory=list)
    parameter_change: list[float] = field(default_factory=list)
    kernel_distance: list[float] = field(default_factory=list)
    kernel_distance_from_init: list[float] = field(default_factory=list)

    @property
    def metrics(self) -> ContinualMetrics:
        return ContinualMetrics.from_matrix(self.accuracy)


def run_sequence(model: nn.Module, sequence: TaskSequence, setting: str, budget: Budget, *, learning_rate: float,
                 batch_size: int, generator: torch.Generator, momentum: float = 0.0,
                 probe: torch.Tensor | None = None, progress: bool = False) -> SequenceResult:
    """Train ``model`` on the tasks in order and evaluate on every task after each one (in place).

    Args:
        probe: optional inputs ``[M, ...]`` on which the empirical NTK (trace over outputs, ``[M, M]``) is
            compared before and after every task — the "how far did the kernel move" diagnostic.
    """
    _check_setting(setting, sequence.shared_head)
    device = next(model.parameters()).device
    result = SequenceResult()

    def kernel() -> torch.Tensor:
        return empirical_ntk(model, probe.to(device), mode="trace").double()

    k_init = kernel() if probe is not None else None
    k_before = k_init
    tasks = sequence.tasks
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(tasks), desc=f"{sequence.name} ({setting})", leave=False)
    for task in tasks:
        before = copy.deepcopy(model)
        log = train_on_task(model, task, setting, budget, learning_rate=learning_rate, batch_size=batch_size,
                            generator=generator, momentum=momentum)
        result.epochs.append(log.epochs)
        result.train_accuracy.append(log.train_accuracy)
        result.reached_target.append(log.reached_target)
        result.parameter_change.append(parameter_change(model, before))
        if probe is not None:
            k_after = kernel()
            result.kernel_distance.append(kernel_distance(k_after, k_before))
            result.kernel_distance_from_init.append(kernel_distance(k_after, k_init))
            k_before = k_after
        result.accuracy.append([evaluate(model, other, setting) for other in tasks])
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return result

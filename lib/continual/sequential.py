"""Train one network on a task sequence, in order, with plain SGD: no replay, no regularizer.

Settings (how the output layer is used):

* ``"task"`` — task-incremental: the task id is known at training and test time, so logits are
  restricted to the current task's classes (a multi-head output implemented by masking one
  shared output layer; the cross-entropy is over the task's classes only);
* ``"class"`` — class-incremental: one head over all classes, no task id;
* ``"domain"`` — domain-incremental (RotatedMNIST): every task uses the same classes and head.

Per-task **budget** (:class:`Budget`): a fixed number of epochs, or "train until the training
accuracy on the task reaches a target" (checked after every epoch, at most ``max_epochs``).

**Recipe options** (all off by default: plain SGD): momentum and weight decay of ``torch.optim.SGD``, a
data-augmentation function applied to every training mini-batch, and how **BatchNorm** statistics are used
across tasks (:class:`BatchNormUse`): ``"shared"`` — one set of running statistics, updated by every task and used
for every task at test time (what plain fine-tuning does; old tasks are evaluated with the last task's
statistics), or ``"per-task"`` — the running statistics are stored when a task ends and restored when that task is
evaluated (needs the task id: the task-incremental setting; the affine BatchNorm parameters stay shared).

**Divergence** is detected as in :func:`lib.training.train`: a non-finite mini-batch loss, or one above
:data:`lib.training.DIVERGENCE_FACTOR` (10⁴) times the task's reference loss — the larger of its first
mini-batch loss and the chance-level loss ``log C`` (``C`` classes in the logits) — raises
:class:`FloatingPointError` naming the task, the step and the fix; so do non-finite parameters after training.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from lib.continual.benchmarks import ContinualTask, TaskSequence
from lib.continual.metrics import ContinualMetrics
from lib.kernel_alignment import centered_alignment, scale_and_shape
from lib.kernel_change import parameter_change
from lib.ntk import empirical_ntk
from lib.ntk.compare import kernel_distance
from lib.options import Option
from lib.training import DIVERGENCE_FACTOR
from lib.validation import check_choice, check_finite, check_nonnegative, check_positive_int, check_tensor


class Setting(Option):
    """What the network is told about the task at test time (:mod:`lib.continual.benchmarks`)."""

    TASK = "task", "task-incremental: the task id is known, logits of other tasks' classes are masked"
    CLASS = "class", "class-incremental: one head over all classes seen so far, no task id"
    DOMAIN = "domain", "domain-incremental: the same classes in every task, one shared head (RotatedMNIST)"


#: The valid setting strings (alias of :meth:`Setting.values`).
SETTINGS: tuple[str, ...] = Setting.values()


class BatchNormUse(Option):
    """How BatchNorm running statistics are used across tasks (module docstring)."""

    SHARED = "shared", "one set of running statistics, updated by every task; old tasks see the last task's"
    PER_TASK = "per-task", "statistics stored at the end of each task and restored to evaluate it (task id known)"


#: A mini-batch augmentation: ``(x [B, C, H, W], generator) -> x'`` of the same shape (never in place).
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def batchnorm_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the running statistics of every BatchNorm layer of ``model`` (``{}`` when it has none)."""
    return {name: buffer.detach().clone() for name, buffer in model.named_buffers()
            if name.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")}


def load_batchnorm_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Write statistics saved by :func:`batchnorm_state` back into ``model`` (in place)."""
    buffers = dict(model.named_buffers())
    for name, value in state.items():
        buffers[name].copy_(value)


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
        if self.epochs is not None:
            check_positive_int("epochs", self.epochs, example=1)
        if self.target_accuracy is not None:
            check_finite("target_accuracy", self.target_accuracy, minimum=0.0, strict=True, maximum=1.0,
                         fix="pass a fraction in (0, 1] such as 0.99")
        check_positive_int("max_epochs", self.max_epochs, example=100)
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}.")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy is a fraction in (0, 1], got {self.target_accuracy}.")
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs}.")


def _check_setting(setting: str | Setting | Setting, sequence_shared_head: bool) -> None:
    setting = Setting.parse(setting)
    if sequence_shared_head and setting != "domain":
        raise ValueError("This sequence shares one head across tasks (domain-incremental); use setting='domain'.")
    if not sequence_shared_head and setting == "domain":
        raise ValueError("Split sequences are task- or class-incremental; use setting='task' or 'class'.")


def task_logits(outputs: torch.Tensor, task: ContinualTask, setting: str | Setting) -> torch.Tensor:
    """``outputs [N, C]`` with the logits of other tasks' classes set to ``−inf`` in the ``"task"`` setting."""
    if setting != "task":
        return outputs
    mask = torch.full((outputs.shape[1],), -math.inf, dtype=outputs.dtype, device=outputs.device)
    mask[list(task.classes)] = 0.0
    return outputs + mask


@torch.no_grad()
def evaluate(model: nn.Module, task: ContinualTask, setting: str | Setting, *, split: str = "test",
             batch_size: int = 1024) -> float:
    """Accuracy (fraction) of ``model`` on the task's ``"test"`` or ``"train"`` split."""
    check_choice("split", split, ("test", "train"))
    batch_size = check_positive_int("batch_size", batch_size, example=1024)
    x, y = (task.x_test, task.labels_test) if split == "test" else (task.x_train, task.labels_train)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    try:
        for start in range(0, x.shape[0], batch_size):
            out = task_logits(model(x[start:start + batch_size].to(device)), task, setting)
            correct += (out.argmax(dim=1).cpu() == y[start:start + batch_size].cpu()).sum().item()
    finally:
        model.train(was_training)
    if x.shape[0] == 0:
        raise ValueError(f"{task.name} has no {split} samples, so its accuracy is undefined; draw n_{split} >= 1.")
    return correct / x.shape[0]


@dataclass
class TaskLog:
    """``epochs`` trained and the training accuracy after them (``reached_target`` for target budgets)."""

    epochs: int = 0
    steps: int = 0
    train_accuracy: float = 0.0
    reached_target: bool = False
    train_curve: list[float] = field(default_factory=list)   # training accuracy after every epoch (if tracked)
    steps_per_epoch: int = 0


def train_on_task(model: nn.Module, task: ContinualTask, setting: str | Setting, budget: Budget, *,
                  learning_rate: float, batch_size: int, generator: torch.Generator, momentum: float = 0.0,
                  weight_decay: float = 0.0, augment: Augment | None = None, track_accuracy: bool = False,
                  progress: bool = False) -> TaskLog:
    """Mini-batch SGD on one task's cross-entropy (masked in the ``"task"`` setting), in place.

    Only parameters with ``requires_grad`` change; the task's tensors are never modified. ``augment`` is applied
    to every training mini-batch (with ``generator``); ``track_accuracy`` records the training accuracy (without
    augmentation, in eval mode) after every epoch in ``TaskLog.train_curve``.

    Raises:
        FloatingPointError: the loss became non-finite or grew above :data:`lib.training.DIVERGENCE_FACTOR`
            times its reference (module docstring), or the parameters became non-finite.
    """
    learning_rate = check_nonnegative("learning_rate", learning_rate, fix="pass a step size such as 0.01")
    batch_size = check_positive_int("batch_size", batch_size, example=64)
    momentum = check_nonnegative("momentum", momentum, fix="pass momentum >= 0 such as 0.9")
    weight_decay = check_nonnegative("weight_decay", weight_decay, fix="pass weight_decay >= 0 such as 5e-4")
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a function (x, generator) -> x, got {type(augment).__name__}.")
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a Budget(epochs=...) or Budget(target_accuracy=...), got "
                        f"{type(budget).__name__}.")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}; pass "
                        "torch.Generator().manual_seed(0).")
    _check_task(model, task)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = (torch.optim.SGD(params, lr=learning_rate, momentum=momentum, weight_decay=weight_decay)
                 if learning_rate > 0 else None)
    epochs = budget.epochs if budget.epochs is not None else budget.max_epochs
    n = task.x_train.shape[0]
    log = TaskLog(steps_per_epoch=math.ceil(n / batch_size))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs, desc=task.name, leave=False)
    model.train()
    reference = None
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            inputs = task.x_train[idx]
            if augment is not None:
                inputs = augment(inputs, generator)
            logits = task_logits(model(inputs.to(device)), task, setting)
            loss = F.cross_entropy(logits, task.labels_train[idx].to(device))
            value = loss.item()
            if reference is None and math.isfinite(value):
                chance = math.log(len(task.classes) if setting == "task" else logits.shape[1])
                reference = max(value, chance, 1e-12)
            if not math.isfinite(value) or value > DIVERGENCE_FACTOR * reference:
                growth = "" if not math.isfinite(value) else \
                    f", more than {DIVERGENCE_FACTOR:g} × the initial {reference:.4g}"
                raise FloatingPointError(
                    f"Training on {task.name} diverged at step {log.steps} (mini-batch loss {value:.4g}{growth}); "
                    f"lower the learning rate (got {learning_rate:g}).")
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            log.steps += 1
        log.epochs += 1
        if bar is not None:
            bar.update(1)
        if budget.target_accuracy is not None or track_accuracy:
            log.train_accuracy = evaluate(model, task, setting, split="train")
            model.train()
            log.train_curve.append(log.train_accuracy)
            if budget.target_accuracy is not None and log.train_accuracy >= budget.target_accuracy:
                log.reached_target = True
                break
    if bar is not None:
        bar.close()
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise FloatingPointError(f"Training on {task.name} diverged: parameters {bad[:3]} became NaN or infinite; "
                                 f"lower the learning rate (got {learning_rate:g}).")
    if budget.target_accuracy is None and not track_accuracy:
        log.train_accuracy = evaluate(model, task, setting, split="train")
    return log


def _check_task(model: nn.Module, task: ContinualTask) -> None:
    """A task must have float finite inputs and int64 labels within the model's outputs, and ≥ 1 sample per split."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("The model has no parameters with requires_grad=True, so there is nothing to train; "
                         "unfreeze some with p.requires_grad_(True).")
    if not isinstance(task, ContinualTask):
        raise TypeError(f"task must be a ContinualTask, got {type(task).__name__}.")
    for split in ("train", "test"):
        x, y = getattr(task, f"x_{split}"), getattr(task, f"labels_{split}")
        check_tensor(f"{task.name}: x_{split}", x, floating=True, nonempty=True, finite=True)
        check_tensor(f"{task.name}: labels_{split}", y, ndim=1, floating=False)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"{task.name}: {x.shape[0]} {split} inputs but {y.shape[0]} labels.")


@dataclass
class SequenceResult:
    """What :func:`run_sequence` measured (every per-task list has one entry per task, task 1 included).

    Attributes:
        accuracy: ``[T][T]`` test accuracies, ``accuracy[t][i]`` on task ``i`` after training task ``t``.
        epochs, steps, train_accuracy, reached_target, train_curve: per task, from :class:`TaskLog`.
        parameter_change: per task, ``‖θ_after − θ_before‖ / ‖θ_before‖`` over that task's training.
        kernel_shape_change, kernel_log_scale: per task, the centred comparison of the empirical NTK on the probe
            before and after that task (:func:`lib.kernel_alignment.scale_and_shape`: ``HK_after H = s·HK_before H
            + R``; shape change ``‖R‖/‖s·HK_before H‖``, and ``log s``); task 1 compares with the initial kernel.
        kernel_cka_distance: per task, ``1 − CKA(K_before, K_after)`` (second order in a small change).
        kernel_distance: per task, Fort et al.'s uncentred distance (reported for comparison: on non-negative
            pixels the constant component dominates it and it understates changes of shape).
        kernel_shape_from_init, kernel_log_scale_from_init: the centred comparison of the initial kernel with the
            kernel after each task.
        probe_kernels: ``[T + 1][M][M]`` the empirical NTK on the probe at initialization and after every task
            (empty without a probe), so cross-task blocks can be analysed later.
        output_drift: ``[T][T]`` (with ``track_drift``): ``output_drift[t][i]`` is the mean over task ``i``'s test
            inputs of ``‖f_after(x) − f_before(x)‖²`` (all outputs, eval mode) over the training of task ``t``.
    """

    accuracy: list[list[float]] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    reached_target: list[bool] = field(default_factory=list)
    train_curve: list[list[float]] = field(default_factory=list)
    parameter_change: list[float] = field(default_factory=list)
    kernel_shape_change: list[float] = field(default_factory=list)
    kernel_log_scale: list[float] = field(default_factory=list)
    kernel_cka_distance: list[float] = field(default_factory=list)
    kernel_distance: list[float] = field(default_factory=list)
    kernel_shape_from_init: list[float] = field(default_factory=list)
    kernel_log_scale_from_init: list[float] = field(default_factory=list)
    probe_kernels: list[list[list[float]]] = field(default_factory=list)
    output_drift: list[list[float]] = field(default_factory=list)

    @property
    def metrics(self) -> ContinualMetrics:
        return ContinualMetrics.from_matrix(self.accuracy)


def run_sequence(model: nn.Module, sequence: TaskSequence, setting: str | Setting, budget: Budget, *,
                 learning_rate: float, batch_size: int, generator: torch.Generator, momentum: float = 0.0,
                 weight_decay: float = 0.0, augment: Augment | None = None, track_accuracy: bool = False,
                 batchnorm: str | BatchNormUse = BatchNormUse.SHARED, probe: torch.Tensor | None = None,
                 track_drift: bool = False, progress: bool = False) -> SequenceResult:
    """Train ``model`` on the tasks in order and evaluate on every task after each one (in place).

    Args:
        momentum, weight_decay, augment, track_accuracy: passed to :func:`train_on_task` for every task.
        batchnorm: :class:`BatchNormUse` — ``"per-task"`` stores each task's BatchNorm statistics when it ends and
            evaluates every trained task with its own (the task-incremental setting only; tasks not yet trained
            are evaluated with the current statistics).
        probe: optional inputs ``[M, ...]`` on which the empirical NTK (trace over outputs, ``[M, M]``, in eval
            mode) is compared before and after every task — the "how far did the kernel move" diagnostic.
        track_drift: record :attr:`SequenceResult.output_drift` (one extra forward pass over every test set per
            task).
    """
    if not isinstance(sequence, TaskSequence):
        raise TypeError(f"sequence must be a TaskSequence, got {type(sequence).__name__}.")
    if not sequence.tasks:
        raise ValueError(f"The sequence {sequence.name!r} has no tasks; build it with at least one task.")
    _check_setting(setting, sequence.shared_head)
    batchnorm = BatchNormUse.parse(batchnorm, name="batchnorm")
    if batchnorm is BatchNormUse.PER_TASK and Setting.parse(setting) is not Setting.TASK:
        raise ValueError("batchnorm='per-task' needs the task id at test time: use it with setting='task', or "
                         "batchnorm='shared'.")
    for task in sequence.tasks:
        _check_task(model, task)
    if probe is not None:
        check_tensor("probe", probe, floating=True, nonempty=True, finite=True)
    device = next(model.parameters()).device
    result = SequenceResult()

    def kernel() -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            return empirical_ntk(model, probe.to(device), mode="trace").double()
        finally:
            model.train(was_training)

    k_init = kernel() if probe is not None else None
    k_before = k_init
    if k_init is not None:
        result.probe_kernels.append(k_init.tolist())
    tasks = sequence.tasks
    outputs_before = _test_outputs(model, tasks) if track_drift else None
    statistics: dict[int, dict[str, torch.Tensor]] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(tasks), desc=f"{sequence.name} ({setting})", leave=False)
    for t, task in enumerate(tasks):
        before = copy.deepcopy(model)
        log = train_on_task(model, task, setting, budget, learning_rate=learning_rate, batch_size=batch_size,
                            generator=generator, momentum=momentum, weight_decay=weight_decay, augment=augment,
                            track_accuracy=track_accuracy)
        for key in ("epochs", "steps", "train_accuracy", "reached_target", "train_curve"):
            getattr(result, key).append(getattr(log, key))
        result.parameter_change.append(parameter_change(model, before))
        if probe is not None:
            k_after = kernel()
            scale, shape = scale_and_shape(k_before, k_after)
            result.kernel_shape_change.append(shape)
            result.kernel_log_scale.append(math.log(abs(scale)))
            result.kernel_cka_distance.append(1.0 - centered_alignment(k_before, k_after))
            result.kernel_distance.append(kernel_distance(k_after, k_before))
            scale, shape = scale_and_shape(k_init, k_after)
            result.kernel_shape_from_init.append(shape)
            result.kernel_log_scale_from_init.append(math.log(abs(scale)))
            result.probe_kernels.append(k_after.tolist())
            k_before = k_after
        if outputs_before is not None:
            outputs_after = _test_outputs(model, tasks)
            result.output_drift.append([float((a - b).pow(2).sum(dim=1).mean())
                                        for a, b in zip(outputs_after, outputs_before, strict=True)])
            outputs_before = outputs_after
        if batchnorm is BatchNormUse.PER_TASK:
            statistics[t] = batchnorm_state(model)
        result.accuracy.append(_evaluate_all(model, tasks, setting, statistics))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return result


def _test_outputs(model: nn.Module, tasks, batch_size: int = 1024) -> list[torch.Tensor]:
    """The model's raw outputs ``[n_test, K]`` (eval mode, float64, on the CPU) on every task's test inputs."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            return [torch.cat([model(task.x_test[s:s + batch_size].to(device)).double().cpu()
                               for s in range(0, task.x_test.shape[0], batch_size)]) for task in tasks]
    finally:
        model.train(was_training)


def _evaluate_all(model: nn.Module, tasks, setting, statistics: dict[int, dict[str, torch.Tensor]]) -> list[float]:
    """Test accuracy on every task; a task with stored BatchNorm statistics is evaluated with them."""
    if not statistics:
        return [evaluate(model, other, setting) for other in tasks]
    current = batchnorm_state(model)
    out = []
    try:
        for i, other in enumerate(tasks):
            load_batchnorm_state(model, statistics.get(i, current))
            out.append(evaluate(model, other, setting))
    finally:
        load_batchnorm_state(model, current)
    return out

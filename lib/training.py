"""Training loops: full-batch or mini-batch SGD / Adam (:func:`train`) and natural gradient
descent in its function-space form (:func:`train_natural_gradient`); both stop at a target loss.

Loss convention for *training* (what practitioners minimise): the **mean** over samples,

    mse:            L(θ) = (1 / 2N) Σ_n ‖f(x_n; θ) − y_n‖²     (targets ``y [N, K]``)
    cross_entropy:  L(θ) = (1 / N) Σ_n −log softmax(f(x_n; θ))_{c_n}   (labels ``c [N]``)

The closed forms in :mod:`lib.ntk.predict` use the **sum** ``½ Σ_n ‖f − y‖²``; a gradient-descent
step ``η`` on the mean loss equals a step ``η / N`` on the sum. Gradient descent on the mean
MSE is stable iff ``η < 2N / λ_max(Θ)`` with ``Θ`` the ``[NK, NK]`` kernel matrix.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from lib.ntk.checks import check_inputs
from lib.options import Loss, Option
from lib.validation import (
    check_finite,
    check_nonnegative,
    check_nonnegative_int,
    check_optional_positive_int,
    check_positive,
    check_positive_int,
    check_tensor,
)


class Optimizer(Option):
    """First-order optimizers of :func:`make_optimizer`."""

    SGD = "sgd", "stochastic gradient descent, optionally with heavy-ball momentum"
    ADAM = "adam", "Adam with PyTorch's defaults β = (0.9, 0.999), ε = 1e-8"


#: The valid loss and optimizer strings (aliases of :meth:`lib.options.Loss.values`, :meth:`Optimizer.values`).
LOSSES: tuple[str, ...] = Loss.values()
OPTIMIZERS: tuple[str, ...] = Optimizer.values()
#: A loss above this multiple of the initial loss counts as divergence (default of :func:`train`).
DIVERGENCE_FACTOR = 1e4


def check_training_data(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, loss: str | Loss) -> None:
    """Validate a training set for ``model``: tensors of matching length on the model's device, float finite
    inputs of the model's dtype, targets ``[N, K]`` (mse, finite floats) or labels ``[N]`` (cross_entropy, int64).

    Also requires at least one trainable parameter. Raises ``TypeError``/``ValueError`` naming the fix."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The model has no parameters with requires_grad=True, so there is nothing to train; "
                         "unfreeze some with p.requires_grad_(True).")
    loss = Loss.parse(loss)
    check_tensor("x", x, nonempty=True)
    check_tensor("targets", targets, nonempty=True)
    check_inputs(model, x)  # float inputs of the model's dtype and device, finite
    if targets.device != x.device:
        raise ValueError(f"targets are on {targets.device} but x and the model are on {x.device}; use "
                         "targets.to(device).")
    if targets.shape[0] != x.shape[0]:
        raise ValueError(f"{x.shape[0]} inputs but {targets.shape[0]} targets; x and targets must have the same "
                         "first dimension N.")
    if loss == "mse":
        check_tensor("targets", targets, floating=True, finite=True)
    else:
        check_tensor("targets", targets, ndim=1, dtype=torch.long)
        if int(targets.min()) < 0:
            raise ValueError(f"cross_entropy labels must be class indices >= 0, got min {int(targets.min())}.")


def training_loss(outputs: torch.Tensor, targets: torch.Tensor, loss: str | Loss) -> torch.Tensor:
    """Mean-over-samples loss (module docstring). ``outputs [N, K]``; ``targets [N, K]`` or labels ``[N]``."""
    if loss == "mse":
        if targets.shape != outputs.shape:
            raise ValueError(f"mse needs targets of the outputs' shape {tuple(outputs.shape)}, got "
                             f"{tuple(targets.shape)}; one-hot encode labels first.")
        return 0.5 * (outputs - targets).pow(2).sum(dim=1).mean()
    if loss == "cross_entropy":
        if targets.dim() != 1 or targets.dtype != torch.long:
            raise ValueError(f"cross_entropy needs integer labels [N], got {targets.dtype} {tuple(targets.shape)}.")
        return F.cross_entropy(outputs, targets)
    raise ValueError(f"Unknown loss {loss!r}; valid: {', '.join(LOSSES)}.")


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows of ``outputs [N, K]`` whose arg-max equals ``labels [N]`` (K = 1: sign vs label ∈ {0, 1})."""
    if outputs.shape[1] == 1:
        predicted = (outputs[:, 0] > 0).long()
    else:
        predicted = outputs.argmax(dim=1)
    return (predicted == labels).double().mean().item()


def make_optimizer(name: str | Optimizer, parameters, learning_rate: float, *,
                   momentum: float = 0.0) -> torch.optim.Optimizer:
    """``"sgd"`` (optionally with momentum) or ``"adam"`` (PyTorch defaults β = (0.9, 0.999), ε = 1e-8)."""
    name = Optimizer.parse(name, name="optimizer")
    learning_rate = check_positive("learning_rate", learning_rate, fix="pass a step size such as 0.1")
    momentum = check_nonnegative("momentum", momentum, fix="pass momentum >= 0 such as 0.9")
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum)
    if name == "adam":
        if momentum:
            raise ValueError("momentum is an SGD option; Adam has its own betas.")
        return torch.optim.Adam(parameters, lr=learning_rate)
    raise ValueError(f"Unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}.")


@dataclass
class TrainingLog:
    """What :func:`train` did.

    Attributes:
        losses: full-training-set loss before step 0 and after every ``log_every`` steps.
        logged_steps: the step index of each entry of ``losses``.
        steps: optimizer steps taken.
        reached_target: whether the loss fell to ``target_loss`` (``False`` if none was set).
        diverged: whether the loss became non-finite or exceeded ``divergence_factor`` times its
            initial value (training stops there).
        seconds: wall-clock time of the loop.
        times: for each entry of ``losses``, the optimizer's wall-clock seconds up to that step
            (loss evaluations for the log and callbacks excluded, so curves vs time show the
            method's own cost).
        step_sizes: the step size used at every step (natural gradient with backtracking only).
    """

    losses: list[float] = field(default_factory=list)
    logged_steps: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    step_sizes: list[float] = field(default_factory=list)
    steps: int = 0
    reached_target: bool = False
    diverged: bool = False
    seconds: float = 0.0

    @property
    def final_loss(self) -> float:
        return self.losses[-1]


class _OptimizerClock:
    """Wall-clock seconds of an optimizer alone: time spent inside :meth:`paused` (loss evaluations
    for the log, callbacks) is not counted."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.excluded = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    @contextmanager
    def paused(self) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - t0

    def call(self, callback: Callable[[int], None] | None, step: int) -> None:
        """Run ``callback(step)`` (if any) without counting its time."""
        if callback is not None:
            with self.paused():
                callback(step)


@torch.no_grad()
def full_loss(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, loss: str | Loss,
              batch_size: int = 4096) -> float:
    """The training loss on all of ``(x, targets)``, in eval mode (BatchNorm uses running statistics),
    in batches without gradients; the model's train/eval mode is restored afterwards."""
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for start in range(0, x.shape[0], batch_size):
            out = model(x[start:start + batch_size])
            total += training_loss(out, targets[start:start + batch_size], loss).item() * out.shape[0]
    finally:
        model.train(was_training)
    return total / x.shape[0]


def train(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, loss: str | Loss = "mse",
          optimizer: str | Optimizer = "sgd", learning_rate: float, max_steps: int,
          target_loss: float | None = None, batch_size: int | None = None,
          momentum: float = 0.0, generator: torch.Generator | None = None, log_every: int = 1,
          progress: bool = False, description: str = "training", divergence_factor: float = 1e4,
          callback: Callable[[int], None] | None = None) -> TrainingLog:
    """Train ``model`` in place on ``(x, targets)``.

    Args:
        x: inputs ``[N, ...]``; targets: ``[N, K]`` (mse) or labels ``[N]`` (cross_entropy).
        loss, optimizer: see :data:`LOSSES`, :data:`OPTIMIZERS`.
        max_steps: at most this many optimizer steps.
        target_loss: stop as soon as the full training loss is ``<= target_loss`` (checked at
            every logged step).
        batch_size: ``None`` = full batch (gradient descent); otherwise mini-batches drawn by
            reshuffling every epoch with ``generator`` (required then, for reproducibility).
        log_every: evaluate and record the full training loss every this many steps.
        progress: show a tqdm progress bar.
        divergence_factor: a loss above this multiple of the initial loss counts as divergence.
        callback: called as ``callback(step)`` before the first step (``step = 0``) and after every
            optimizer step (e.g. to take checkpoints).

    Returns:
        A :class:`TrainingLog`. A non-finite loss stops training with ``diverged=True``.
    """
    max_steps = check_nonnegative_int("max_steps", max_steps, example=1000)
    log_every = check_positive_int("log_every", log_every, example=10)
    batch_size = check_optional_positive_int("batch_size", batch_size, example=128)
    check_training_data(model, x, targets, loss)
    if target_loss is not None:
        target_loss = check_finite("target_loss", target_loss, fix="pass a finite target such as 1e-3, or None")
    divergence_factor = check_finite("divergence_factor", divergence_factor, minimum=1.0, strict=True,
                                     fix="pass a factor > 1 such as 1e4")
    n = x.shape[0]
    if batch_size is not None and generator is None:
        raise ValueError("Mini-batch training needs an explicit generator= for the shuffling.")

    opt = make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad], learning_rate,
                         momentum=momentum)
    log = TrainingLog()
    clock = _OptimizerClock()

    def record(step: int) -> bool:
        log.times.append(clock.elapsed())
        with clock.paused():
            value = full_loss(model, x, targets, loss)
        log.losses.append(value)
        log.logged_steps.append(step)
        if not math.isfinite(value) or value > divergence_factor * max(log.losses[0], 1e-12):
            log.diverged = True
            return True
        if target_loss is not None and value <= target_loss:
            log.reached_target = True
            return True
        return False

    order = None
    cursor = n
    stop = record(0)
    bar = None
    if progress and not stop:
        from tqdm.auto import tqdm
        bar = tqdm(total=max_steps, desc=description, leave=False)
    step = 0
    clock.call(callback, 0)
    while not stop and step < max_steps:
        if batch_size is None:
            xb, tb = x, targets
        else:
            if cursor + batch_size > n:
                order = torch.randperm(n, generator=generator).to(x.device)
                cursor = 0
            idx = order[cursor:cursor + batch_size]
            cursor += batch_size
            xb, tb = x[idx], targets[idx]
        opt.zero_grad(set_to_none=True)
        training_loss(model(xb), tb, loss).backward()
        opt.step()
        step += 1
        clock.call(callback, step)
        if bar is not None:
            bar.update(1)
        if step % log_every == 0 or step == max_steps:
            stop = record(step)
    if bar is not None:
        bar.close()
    log.steps = step
    log.seconds = time.perf_counter() - clock.start
    return log


def natural_gradient_step(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, learning_rate: float = 1.0,
                          damping: float = 1e-6, max_halvings: int = 10, loss_before: float | None = None,
                          kernel_method: str = "auto", fixed_kernel: torch.Tensor | None = None,
                          kernel_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
                          ) -> tuple[float, float]:
    """One natural-gradient step on the mean squared error, in place (see :func:`train_natural_gradient`).

    Args:
        x: ``[N, ...]``; targets: ``[N, K]``.
        loss_before: the current mean loss, if known (saves a forward pass).
        kernel_fn: computes the ``[N, N, K, K]`` kernel at the current parameters instead of
            :func:`lib.ntk.empirical_ntk` (e.g. :func:`kernel_from_signals`, exact and cheap for wide MLPs).

    Returns:
        ``(η used, mean loss after the step)``.
    """
    from lib.ntk import apply_step, empirical_ntk, gauss_newton_step, kernel_matrix

    learning_rate = check_positive("learning_rate", learning_rate, fix="pass a step size such as 1.0")
    damping = check_nonnegative("damping", damping, fix="pass a relative damping such as 1e-6")
    max_halvings = check_nonnegative_int("max_halvings", max_halvings, example=10)
    check_training_data(model, x, targets, "mse")
    if targets.dim() != 2 or targets.shape[0] != x.shape[0]:
        raise ValueError(f"Natural gradient here is for squared loss: targets must be [N, K] with N = {x.shape[0]}, "
                         f"got {tuple(targets.shape)}.")

    def current_loss() -> float:
        with torch.no_grad():
            return training_loss(model(x), targets, "mse").item()

    if loss_before is None and max_halvings > 0:
        loss_before = current_loss()
    if fixed_kernel is not None:
        kernel = fixed_kernel
    elif kernel_fn is not None:
        kernel = kernel_fn(model, x)
    else:
        kernel = empirical_ntk(model, x, method=kernel_method)
    absolute = damping * kernel_matrix(kernel).diagonal().mean().item()
    unit = gauss_newton_step(model, x, targets, loss="mse", learning_rate=1.0, damping=absolute,
                             kernel=kernel).direction
    eta = learning_rate
    apply_step(model, eta * unit)
    new_loss = current_loss()
    for _ in range(max_halvings):
        if new_loss <= loss_before or not math.isfinite(loss_before):
            break
        apply_step(model, -0.5 * eta * unit)
        eta *= 0.5
        new_loss = current_loss()
    return eta, new_loss


def train_natural_gradient(model: nn.Module, x: torch.Tensor, targets: torch.Tensor, *, max_steps: int,
                           learning_rate: float = 1.0, damping: float = 1e-6, max_halvings: int = 10,
                           target_loss: float | None = None, progress: bool = False,
                           description: str = "natural gradient", kernel_method: str = "auto",
                           fixed_kernel: torch.Tensor | None = None,
                           kernel_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
                           callback: Callable[[int], None] | None = None) -> TrainingLog:
    """Natural gradient descent on the mean squared error, in place, full batch.

    Each step is the damped Gauss-Newton (= Fisher, for squared loss) step in function space
    (:func:`lib.ntk.gauss_newton_step`)

        Δθ = −η Jᵀ (Θ + λ I)⁻¹ (u − y),   Θ = J Jᵀ  ``[NK, NK]``,   u = f(X; θ) flattened,

    with the **relative** damping ``λ = damping · tr Θ / (NK)`` recomputed at every step. Step-size
    rule: try ``η = learning_rate``; while the training loss would increase, halve ``η`` (at most
    ``max_halvings`` times; if it still increases the step is taken anyway and training continues).
    The loss logged is the mean loss of :func:`train` (``½ Σ‖f − y‖² / N``), so curves compare.

    Args:
        x: ``[N, ...]``; targets: ``[N, K]``.
        fixed_kernel: an ``[N, N, K, K]`` kernel to use at every step instead of recomputing Θ —
            exact for a :class:`lib.ntk.LinearizedModel`, whose Jacobian never changes.
        kernel_method: the :func:`lib.ntk.empirical_ntk` method used for Θ.
        kernel_fn: computes Θ ``[N, N, K, K]`` instead (see :func:`natural_gradient_step`).
        callback: called as ``callback(step)`` before the first step and after every step (its
            time is excluded from ``TrainingLog.times``).

    Returns:
        A :class:`TrainingLog` with a loss after every step and the step sizes used; like :func:`train` it stops
        with ``diverged=True`` when the loss is non-finite or above :data:`DIVERGENCE_FACTOR` times its initial value.
    """
    max_steps = check_nonnegative_int("max_steps", max_steps, example=100)
    learning_rate = check_positive("learning_rate", learning_rate, fix="pass a step size such as 1.0")
    damping = check_nonnegative("damping", damping, fix="pass a relative damping such as 1e-6")
    max_halvings = check_nonnegative_int("max_halvings", max_halvings, example=10)
    if target_loss is not None:
        target_loss = check_finite("target_loss", target_loss, fix="pass a finite target such as 1e-3, or None")
    check_training_data(model, x, targets, "mse")
    if targets.dim() != 2 or targets.shape[0] != x.shape[0]:
        raise ValueError(f"Natural gradient here is for squared loss: targets must be [N, K] with N = {x.shape[0]}, "
                         f"got {tuple(targets.shape)}.")
    log = TrainingLog()
    clock = _OptimizerClock()

    def record(step: int, value: float) -> bool:
        log.losses.append(value)
        log.logged_steps.append(step)
        log.times.append(clock.elapsed())
        if not math.isfinite(value) or value > DIVERGENCE_FACTOR * max(log.losses[0], 1e-12):
            log.diverged = True
            return True
        if target_loss is not None and value <= target_loss:
            log.reached_target = True
            return True
        return False

    with clock.paused(), torch.no_grad():   # the initial evaluation is logging, not optimization
        loss_now = training_loss(model(x), targets, "mse").item()
    stop = record(0, loss_now)
    clock.call(callback, 0)
    bar = None
    if progress and not stop:
        from tqdm.auto import tqdm
        bar = tqdm(total=max_steps, desc=description, leave=False)
    step = 0
    while not stop and step < max_steps:
        eta, loss_now = natural_gradient_step(model, x, targets, learning_rate=learning_rate, damping=damping,
                                              max_halvings=max_halvings, loss_before=loss_now,
                                              kernel_method=kernel_method, fixed_kernel=fixed_kernel,
                                              kernel_fn=kernel_fn)
        step += 1
        log.step_sizes.append(eta)
        stop = record(step, loss_now)
        clock.call(callback, step)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    log.steps = step
    log.seconds = time.perf_counter() - clock.start
    return log


def kernel_from_signals(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The empirical NTK ``[N, N, K, K]`` of a feed-forward ``nn.Sequential`` (:mod:`lib.jacobian_change`) from its
    layer signals, without forming the ``[NK, P]`` Jacobian."""
    from lib.jacobian_change import jacobian_gram, layer_signals

    signals = layer_signals(model, x)
    n, k = signals.outputs.shape
    return jacobian_gram(signals).reshape(n, k, n, k).permute(0, 2, 1, 3)


def minibatch_natural_gradient_step(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *,
                                    learning_rate: float, damping: float,
                                    kernel_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
                                    ) -> float:
    """One damped natural-gradient step on the **mean** cross-entropy of the batch ``(x [B, d], labels [B])``, in place.

    With the batch's Jacobian ``J [BK, P]``, output Hessian ``H`` (softmax blocks) and sum-loss gradient ``g = ∂/∂f``,
    the Fisher (= GGN for softmax cross-entropy) of the mean loss is ``F = JᵀHJ / B`` and its gradient ``Jᵀg / B``, so

        Δθ = −η (F + λI)⁻¹ Jᵀg / B = −η Jᵀ (HΘ + BλI)⁻¹ g,   Θ = JJᵀ  [BK, BK]

    (push-through identity; :func:`lib.ntk.gauss_newton_step` solves it). ``damping`` is ``λ`` on the scale of the
    mean loss's curvature, as for :func:`lib.kfac.kfac_step`. ``kernel_fn`` computes Θ ``[B, B, K, K]``
    (default :func:`lib.ntk.empirical_ntk`). Returns the batch's mean loss before the step.
    """
    from lib.ntk import apply_step, empirical_ntk, gauss_newton_step

    learning_rate = check_positive("learning_rate", learning_rate, fix="pass a step size such as 1.0")
    damping = check_positive("damping", damping, fix="pass a damping λ > 0 such as 1e-3")
    check_training_data(model, x, labels, "cross_entropy")
    kernel = kernel_fn(model, x) if kernel_fn is not None else empirical_ntk(model, x)
    with torch.no_grad():
        before = training_loss(model(x), labels, "cross_entropy").item()
    if not math.isfinite(before):
        raise ValueError(f"The batch loss is {before}; the network has diverged (lower the learning rate or raise "
                         "the damping).")
    step = gauss_newton_step(model, x, labels, loss="cross_entropy", learning_rate=learning_rate,
                             damping=x.shape[0] * damping, kernel=kernel)
    apply_step(model, step.direction)
    return before

"""Chapter 1 — the kernel regime: the experiments, each a pure function ``config -> result``.

Every function takes a JSON-like config (seeds included) and returns plain numbers and lists, so
:class:`lib.cache.ResultsCache` can store it and a distributed runner can call it by reference.

Conventions shared by the MNIST experiments:

* **Task**: ``train`` training and ``test`` test images of a data draw (:func:`load_task`), average-pooled by
  ``pool`` (2: 14×14 = 196 inputs), centred and scaled to norm ``√d``, on centred one-hot targets
  ``e_c − 1/10``; mean squared loss ``(1/2N) Σ_n ‖f(x_n) − y_n‖²`` (:mod:`lib.training`).
* **Networks**: one hidden ReLU layer of ``width`` units, no biases, in the standard, NTK or μP
  parametrization (:func:`make_network`), **centred**: the trained function is ``f − f₀``, zero at
  initialization (trained as ``f`` on targets ``y + f₀(x)``, which has the same gradients), so no network
  carries a random initial function and the parametrizations are compared on the same footing.
* **Learning rates** of GD and SGD are given in units of the stability limit of gradient descent with the
  initial kernel, ``η = c · 2N / λ_max(Θ̂₀)`` (``Θ̂₀`` the ``[NK, NK]`` empirical NTK on the training set,
  :func:`lib.catapult.top_eigenvalue`); Adam's are absolute.
* **Kernel change** on the first ``probe`` training inputs, with the output-summed kernel ``[M, M]``:
  scale ``log(‖Θ_T‖/‖Θ₀‖)`` and shape ``1 − CKA`` (:func:`lib.kernel_change.scale_and_shape_change`).
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from lib.catapult import top_eigenvalue
from lib.data import load_dataset
from lib.data.synthetic import regression_1d
from lib.data.tasks import RegressionTask, image_regression_task, sphere_normalize
from lib.experiments import config_device, single_threaded
from lib.experiments.kernel_regime.configs import (
    BATCH,
    TARGET_EVERY,
    TARGET_LOSS,
    Activation,
    Optimizer,
    Parametrization,
)
from lib.experiments.kernel_regime.kernels import kernel_regression_accuracy, one_hidden_layer_ntk
from lib.kernel_change import calibrate_batchnorm, parameter_change, scale_and_shape_change
from lib.models import MLP, WideResNet, count_parameters
from lib.models.centered import ScaledModel
from lib.models.layers import DenseLayer
from lib.models.mean_field import mean_field_mlp
from lib.ntk import empirical_ntk, ntk_gp_posterior, relative_frobenius_error, relu_ntk
from lib.training import accuracy, train, training_loss

#: A run that ends with a training loss above this fraction of its initial loss has not trained ("collapsed").
COLLAPSE = 0.5

__all__ = ["load_task", "make_network", "empirical_vs_infinite", "factorial_run", "catapult_run", "alpha_run",
           "gp_run", "wrn_run"]


# ------------------------------------------------------------------------------------------------ data & nets


def load_task(config: dict, device: torch.device) -> RegressionTask:
    """The MNIST-type task of ``config`` (``dataset``, ``train``, ``test``, ``pool``, ``data_seed``)."""
    task = image_regression_task(config["dataset"], config["train"], config["test"], seed=config["data_seed"])
    pool = int(config.get("pool", 1))
    if pool > 1:
        side = int(round(math.sqrt(task.x_train.shape[1])))

        def pooled(x: torch.Tensor) -> torch.Tensor:
            return sphere_normalize(F.avg_pool2d(x.reshape(-1, 1, side, side), pool).flatten(1))

        task = RegressionTask(task.name, pooled(task.x_train), task.y_train, task.labels_train, pooled(task.x_test),
                              task.y_test, task.labels_test, task.classes)
    return task.to(device)


def make_network(parametrization: str, in_features: int, width: int, out_features: int, seed: int,
                 activation: str = "relu") -> nn.Module:
    """A bias-free one-hidden-layer net (``σ_w² = 2``) in ``parametrization`` (:class:`Parametrization`) with the
    hidden nonlinearity ``activation`` (:class:`Activation`). Nets that differ only in the activation have the same
    initial weights (same seed, same draws in the same order), so runs pair across activations."""
    p = Parametrization.parse(parametrization, name="parametrization")
    act = Activation.parse(activation, name="activation")
    g = torch.Generator().manual_seed(seed)
    if act is Activation.RELU:
        if p is Parametrization.MUP:
            return mean_field_mlp(in_features, width, out_features, generator=g)
        return MLP(in_features, width, 1, out_features, parametrization=p.value, bias=False, generator=g)
    layer = "ntk" if p is Parametrization.MUP else p.value
    readout_sigma = math.sqrt(2.0 / width) if p is Parametrization.MUP else math.sqrt(2.0)
    hidden = DenseLayer(in_features, width, parametrization=layer, sigma_w=math.sqrt(2.0), bias=False, generator=g)
    readout = DenseLayer(width, out_features, parametrization=layer, sigma_w=readout_sigma, bias=False, generator=g)
    return nn.Sequential(hidden, nn.GELU(), readout)


def _probe_kernel(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return empirical_ntk(model, x, mode="trace").detach().to(torch.float64).cpu()


def _evaluate(model: nn.Module, initial: nn.Module | None, task: RegressionTask, scale: float = 1.0) -> dict:
    """Train and test loss and accuracy of the centred function ``scale · (f − f₀)`` (of ``scale · f`` when
    ``initial`` is ``None``: an uncentred network)."""
    with torch.no_grad():
        out = {}
        for split, x, y, labels in (("train", task.x_train, task.y_train, task.labels_train),
                                    ("test", task.x_test, task.y_test, task.labels_test)):
            f = scale * (model(x) - (initial(x) if initial is not None else 0.0))
            out[f"{split}_loss"] = training_loss(f, y, "mse").item()
            out[f"{split}_accuracy"] = accuracy(f, labels)
    return out


def _units(model: nn.Module, x: torch.Tensor) -> dict:
    """Hidden-unit activity of a one-hidden-layer net (``model[0]`` is the hidden layer) on ``x``: the fraction of
    (unit, input) pairs with a positive pre-activation, the fraction of units dead on every input, and the norms
    of the hidden and readout weights (as stored)."""
    with torch.no_grad():
        active = model[0](x) > 0                               # [N, n]
        return dict(active_fraction=active.double().mean().item(),
                    dead_fraction=(~active.any(dim=0)).double().mean().item(),
                    hidden_norm=float(model[0].weight.norm()), readout_norm=float(model[-1].weight.norm()))


def _finite(value: float) -> float:
    return value if math.isfinite(value) else float("nan")


def _kernel_regression(model: nn.Module, task: RegressionTask) -> float:
    """Test accuracy of kernel regression with the network's current output-summed NTK on the whole training set
    (:func:`~lib.experiments.kernel_regime.kernels.one_hidden_layer_ntk`): at initialization the lazy limit's
    prediction, after training the "after-kernel" (Fort et al. 2020; Atanasov et al. 2022)."""
    x = task.x_train
    return kernel_regression_accuracy(one_hidden_layer_ntk(model, x, x), one_hidden_layer_ntk(model, task.x_test, x),
                                      task.y_train, task.labels_test)


def _training_targets(model: nn.Module, x: torch.Tensor, y: torch.Tensor, centred: bool) -> torch.Tensor:
    """Train ``f`` on ``y + f₀(x)`` — the gradients of training the centred ``f − f₀`` on ``y`` — or on ``y``."""
    if not centred:
        return y
    with torch.no_grad():
        return y + model(x)


# ----------------------------------------------------------------------------------------------- experiments


@single_threaded
def empirical_vs_infinite(config: dict) -> dict:
    """Relative Frobenius distance ``‖Θ̂ − Θ∞‖_F / ‖Θ∞‖_F`` at initialization (float64).

    Config: ``dataset``, ``points`` (inputs from the training split, sphere-normalized), ``width``, ``depth``,
    ``seed`` (network), ``data_seed``; scalar output, NTK parametrization, ``σ_w² = 2, σ_b = 0`` — the setting of
    :func:`lib.ntk.relu_ntk`.
    """
    device = config_device(config)
    task = image_regression_task(config["dataset"], config["points"], 1, seed=config["data_seed"])
    x = task.x_train.to(device=device, dtype=torch.float64)
    model = MLP(x.shape[1], config["width"], config["depth"], 1, parametrization="ntk",
                generator=torch.Generator().manual_seed(config["seed"])).to(device=device, dtype=torch.float64)
    empirical = empirical_ntk(model, x, mode="trace")
    _, analytic = relu_ntk(x, depth=config["depth"])
    return {"relative_error": relative_frobenius_error(empirical, analytic)}


@single_threaded
def factorial_run(config: dict) -> dict:
    """Train one centred network of the factorial design and measure what moved.

    Config: task keys (``dataset``, ``pool``, ``train``, ``test``, ``probe``, ``data_seed``), ``parametrization``,
    ``optimizer`` (:class:`Optimizer`), ``width``, ``rate`` (``c`` for GD/SGD, the learning rate for Adam),
    ``steps``, ``seed`` (initialization and mini-batch order), optional ``device``.

    Optional keys: ``activation`` (:class:`Activation`, default ReLU), ``centred`` (default ``True``; ``False``
    trains and evaluates ``f`` itself, random initial function included), ``control`` (a label, unused).

    Returns final train/test loss and accuracy, whether training diverged (loss above 10⁴× its initial value),
    the learning rate, ``λ_max(Θ̂₀)`` and ``λ_max(Θ̂_T)``, ``η λ_max(Θ̂_T) / 2N`` (GD/SGD; below 1 means the final
    kernel is inside gradient descent's stability region), the kernel's ``scale`` and ``shape`` change and the
    mixed ``relative`` change on the probe inputs, the parameters' relative change, and the logged losses.
    **Equal-loss control**: the kernel change also at the first step (checked every :data:`TARGET_EVERY` steps)
    at which the full training loss is at most :data:`TARGET_LOSS` (``target_step``, ``scale_at_target``,
    ``shape_at_target``, …; NaN if never reached). **After-kernel test**: test accuracy of kernel regression on the
    training set with the initial and the final kernel (``kernel_accuracy_initial``, ``kernel_accuracy_final``).
    """
    device = config_device(config)
    optimizer = Optimizer.parse(config["optimizer"], name="optimizer")
    centred = bool(config.get("centred", True))
    task = load_task(config, device)
    x, y = task.x_train, task.y_train
    n, k = y.shape
    model = make_network(config["parametrization"], x.shape[1], config["width"], k, config["seed"],
                         config.get("activation", "relu")).to(device)
    initial = copy.deepcopy(model)
    probe = x[:config["probe"]]
    g = torch.Generator().manual_seed(config["seed"])
    lam0 = top_eigenvalue(model, x, tolerance=1e-5, generator=g).value
    lr = config["rate"] * 2 * n / lam0 if optimizer is not Optimizer.ADAM else config["rate"]
    k0 = _probe_kernel(model, probe)
    units0 = {f"{k}_initial": v for k, v in _units(model, x).items()}
    targets = _training_targets(model, x, y, centred)
    at_target: dict = {}

    def equal_loss(step: int) -> None:
        if at_target or step % TARGET_EVERY:
            return
        with torch.no_grad():
            value = training_loss(model(x), targets, "mse").item()
        if value <= TARGET_LOSS:
            at_target.update(target_step=step, target_loss=value,
                             **{f"{key}_at_target": v
                                for key, v in scale_and_shape_change(k0, _probe_kernel(model, probe)).items()})

    log = train(model, x, targets, loss="mse", optimizer="adam" if optimizer is Optimizer.ADAM else "sgd",
                learning_rate=lr, max_steps=config["steps"],
                batch_size=None if optimizer is Optimizer.GD else min(BATCH, n),
                generator=torch.Generator().manual_seed(config["seed"] + 1), log_every=max(1, config["steps"] // 20),
                callback=equal_loss)
    nan = float("nan")
    result = dict(learning_rate=lr, lambda0=lam0, diverged=bool(log.diverged), steps=log.steps,
                  losses=[_finite(v) for v in log.losses], logged_steps=log.logged_steps, **units0,
                  target_step=nan, target_loss=nan, scale_at_target=nan, shape_at_target=nan,
                  relative_at_target=nan, fort_at_target=nan, kernel_accuracy_initial=_kernel_regression(initial, task))
    result.update(at_target)
    finite = all(torch.isfinite(p).all() for p in model.parameters())
    if log.diverged or not finite:
        result.update(train_loss=nan, train_accuracy=nan, test_loss=nan, test_accuracy=nan, lambda_final=nan,
                      lambda_ratio=nan, edge=nan, scale=nan, shape=nan, relative=nan, fort=nan, parameters=nan,
                      active_fraction=nan, dead_fraction=nan, hidden_norm=nan, readout_norm=nan,
                      kernel_accuracy_final=nan)
        return result
    lam_t = top_eigenvalue(model, x, tolerance=1e-5, generator=g).value
    result.update(_evaluate(model, initial if centred else None, task), lambda_final=lam_t,
                  lambda_ratio=lam_t / lam0, **_units(model, x),
                  edge=lr * lam_t / (2 * n) if optimizer is not Optimizer.ADAM else float("nan"),
                  parameters=parameter_change(model, initial), kernel_accuracy_final=_kernel_regression(model, task),
                  **scale_and_shape_change(k0, _probe_kernel(model, probe)))
    return result


@single_threaded
def catapult_run(config: dict) -> dict:
    """Full-batch GD at ``η = c · 2N/λ_max(Θ̂₀)`` with ``λ_max(Θ̂_t)`` tracked along training.

    Config: task keys, ``parametrization``, ``width``, ``rate`` (``c``), ``steps``, ``every`` (steps between
    eigenvalue estimates; warm-started power iteration), ``seed``; optional ``activation`` (default ReLU) and
    ``centred`` (default ``True``). Returns the training loss at every step,
    ``λ_max`` at the tracked steps (``lambda_steps``, ``lambdas``), whether training diverged, whether it
    *collapsed* (did not diverge but ended with a training loss above :data:`COLLAPSE` times its initial value —
    a dead network, e.g. all ReLUs off), the final ``λ_T/λ₀`` and ``η λ_T / 2N``, train/test accuracy and the
    kernel's scale and shape change, and the after-kernel test (``kernel_accuracy_initial``/``_final``, as in
    :func:`factorial_run`).
    """
    device = config_device(config)
    centred = bool(config.get("centred", True))
    task = load_task(config, device)
    x, y = task.x_train, task.y_train
    n, k = y.shape
    model = make_network(config["parametrization"], x.shape[1], config["width"], k, config["seed"],
                         config.get("activation", "relu")).to(device)
    initial = copy.deepcopy(model)
    g = torch.Generator().manual_seed(config["seed"])
    top = top_eigenvalue(model, x, tolerance=1e-6, generator=g)
    lam0 = top.value
    lr = config["rate"] * 2 * n / lam0
    k0 = _probe_kernel(model, x[:config["probe"]])
    steps_seen: list[int] = []
    lambdas: list[float] = []
    state = {"vector": top.vector}

    def track(step: int) -> None:
        if step % config["every"] or not all(torch.isfinite(p).all() for p in model.parameters()):
            return
        estimate = top_eigenvalue(model, x, iterations=30, tolerance=1e-4, start=state["vector"], generator=g)
        state["vector"] = estimate.vector
        steps_seen.append(step)
        lambdas.append(estimate.value)

    targets = _training_targets(model, x, y, centred)
    log = train(model, x, targets, loss="mse", optimizer="sgd", learning_rate=lr, max_steps=config["steps"],
                log_every=1, callback=track)
    result = dict(rate=config["rate"], learning_rate=lr, lambda0=lam0, diverged=bool(log.diverged), collapsed=False,
                  kernel_accuracy_initial=_kernel_regression(initial, task),
                  **{f"{k}_initial": v for k, v in _units(initial, x).items()},
                  losses=[_finite(v) for v in log.losses], lambda_steps=steps_seen, lambdas=lambdas,
                  peak_loss_ratio=_finite(max(log.losses) / log.losses[0]))
    if log.diverged:
        nan = float("nan")
        result.update(train_loss=nan, train_accuracy=nan, test_loss=nan, test_accuracy=nan, lambda_ratio=nan,
                      edge=nan, scale=nan, shape=nan, relative=nan, fort=nan, active_fraction=nan, dead_fraction=nan,
                      hidden_norm=nan, readout_norm=nan, kernel_accuracy_final=nan)
        return result
    lam_t = top_eigenvalue(model, x, tolerance=1e-6, start=state["vector"], generator=g).value
    result.update(_evaluate(model, initial if centred else None, task), lambda_ratio=lam_t / lam0,
                  edge=lr * lam_t / (2 * n), **_units(model, x), kernel_accuracy_final=_kernel_regression(model, task),
                  **scale_and_shape_change(k0, _probe_kernel(model, x[:config["probe"]])))
    result["collapsed"] = bool(result["train_loss"] > COLLAPSE * log.losses[0])
    return result


@single_threaded
def alpha_run(config: dict) -> dict:
    """The output-scale sweep: train ``α (f − f₀)`` by full-batch GD at ``η = c · 2N/λ_max(α² Θ̂₀)``.

    Config: task keys, ``width`` (NTK parametrization), ``alpha``, ``rate`` (``c``), ``steps``, ``seed``; optional
    ``activation`` (default ReLU).
    ``α → ∞`` is the lazy limit of Chizat, Oyallon & Bach (2019): the function moves by ``O(1)`` while the
    parameters move by ``O(1/α)``. Returns train/test loss and accuracy, the kernel's scale and shape change,
    the parameters' relative change, whether training diverged, and the after-kernel test
    (``kernel_accuracy_initial``/``_final``, as in :func:`factorial_run`).
    """
    device = config_device(config)
    task = load_task(config, device)
    x, y = task.x_train, task.y_train
    n, k = y.shape
    alpha = float(config["alpha"])
    net = make_network(Parametrization.NTK.value, x.shape[1], config["width"], k, config["seed"],
                       config.get("activation", "relu")).to(device)
    initial = copy.deepcopy(net)
    model = ScaledModel(net, alpha)
    lam0 = top_eigenvalue(model, x, tolerance=1e-5, generator=torch.Generator().manual_seed(config["seed"])).value
    lr = config["rate"] * 2 * n / lam0
    k0 = _probe_kernel(net, x[:config["probe"]])
    with torch.no_grad():
        targets = y + model(x)
    log = train(model, x, targets, loss="mse", optimizer="sgd", learning_rate=lr, max_steps=config["steps"],
                log_every=max(1, config["steps"] // 20))
    result = dict(alpha=alpha, learning_rate=lr, lambda0=lam0, diverged=bool(log.diverged),
                  losses=[_finite(v) for v in log.losses], logged_steps=log.logged_steps,
                  kernel_accuracy_initial=_kernel_regression(initial, task),
                  **{f"{k}_initial": v for k, v in _units(initial, x).items()})
    if log.diverged:
        nan = float("nan")
        result.update(train_loss=nan, train_accuracy=nan, test_loss=nan, test_accuracy=nan, scale=nan, shape=nan,
                      relative=nan, fort=nan, parameters=nan, active_fraction=nan, dead_fraction=nan, hidden_norm=nan,
                      readout_norm=nan, kernel_accuracy_final=nan)
        return result
    result.update(_evaluate(net, initial, task, scale=alpha), parameters=parameter_change(net, initial),
                  kernel_accuracy_final=_kernel_regression(net, task),
                  **_units(net, x),
                  **scale_and_shape_change(k0, _probe_kernel(net, x[:config["probe"]])))
    return result


@single_threaded
def gp_run(config: dict) -> dict:
    """Finite NTK-parametrized nets on the 1-D problem against the infinite-width NTK-GP (mean and variance).

    Config: ``train`` (points), ``width``, ``nets`` (independent initializations), ``steps`` (full-batch GD on
    the mean loss at ``η = N/λ_max(Θ∞(X, X))``, half the infinite-width stability limit), ``depth``,
    ``sigma_b``, ``seed`` (the data). For every initialization two nets are trained from the same ``θ₀``: the
    plain net ``f`` (in the limit a sample of the NTK-GP) and the centred net ``f − f₀`` (in the limit its mean).
    The NTK-GP (:func:`lib.ntk.ntk_gp_posterior`) is taken after the same number of GD steps. A third arm is each
    net's own **linearization** around ``θ₀`` trained (centred) by the same GD: in closed form, the NTK-GP mean
    formula with the net's *empirical* kernel ``Θ̂₀`` in place of ``Θ∞``. It splits a centred net's distance from the
    NTK-GP mean into nonlinearity (net vs its linearization) and kernel fluctuation (linearization vs NTK-GP).

    Returns the data, the grid, the NTK-GP mean and standard deviation on it, every net's predictions on it
    (``plain``, ``centred``, ``linear``: ``[nets][grid]``) and the final training losses.
    """
    depth, sigma_b, width = config["depth"], config["sigma_b"], config["width"]
    data = regression_1d(config["train"], generator=torch.Generator().manual_seed(config["seed"]))
    x, y, grid = data.x_train, data.y_train, data.x_grid
    kernels = [relu_ntk(a, b, depth=depth, sigma_b=sigma_b) for a, b in ((x, None), (grid, x), (grid, None))]
    n = x.shape[0]
    lr = n / torch.linalg.eigvalsh(kernels[0][1]).max().item()
    gp = ntk_gp_posterior(tuple(kk[1] for kk in kernels), tuple(kk[0] for kk in kernels), y, t=config["steps"],
                          learning_rate=lr / n, steps=True)   # mean loss with η = sum loss with η / N
    plain, centred, linear, losses = [], [], [], []
    for i in range(config["nets"]):
        g = torch.Generator().manual_seed(config["seed"] * 100_003 + 1000 * i + width)
        net = MLP(1, width, depth, 1, parametrization="ntk", sigma_b=sigma_b, generator=g).double()
        initial = copy.deepcopy(net)
        with torch.no_grad():
            f0_train = net(x)
        empirical = (empirical_ntk(net, x, mode="trace").detach(), empirical_ntk(net, grid, x, mode="trace").detach(),
                     kernels[2][1])
        lin = ntk_gp_posterior(empirical, tuple(kk[0] for kk in kernels), y, t=config["steps"], learning_rate=lr / n,
                               steps=True)
        linear.append(lin.mean[:, 0].tolist())
        for store, targets in ((plain, y), (centred, y + f0_train)):
            model = copy.deepcopy(initial)
            log = train(model, x, targets, loss="mse", optimizer="sgd", learning_rate=lr, max_steps=config["steps"],
                        log_every=config["steps"])
            with torch.no_grad():
                f = model(grid) - (initial(grid) if store is centred else 0.0)
            store.append(f[:, 0].tolist())
            losses.append(log.final_loss)
    return dict(width=width, x_train=x[:, 0].tolist(), y_train=y[:, 0].tolist(), grid=grid[:, 0].tolist(),
                target=data.f_grid[:, 0].tolist(), gp_mean=gp.mean[:, 0].tolist(), gp_std=gp.std.tolist(),
                plain=plain, centred=centred, linear=linear, train_loss=losses, learning_rate=lr)


def _schedule(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up from ``peak/10`` over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return peak * (0.1 + 0.9 * step / warmup)
    return 0.5 * peak * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


@single_threaded
def wrn_run(config: dict) -> dict:
    """A Wide ResNet trained on a real schedule, with its kernel measured at checkpoints.

    Config: ``dataset``, ``widen_factor`` (WRN-16-k), ``train``, ``test``, ``epochs``, ``batch``,
    ``learning_rate`` (peak), ``momentum``, ``weight_decay``, ``warmup_epochs`` (linear warm-up from a tenth of
    the peak, then cosine decay to 0), ``probe`` (training images the kernel is measured on), ``checkpoints``
    (evenly spaced in steps, the first at step 0), ``baseline_inits`` (optional: this many further, independent
    initializations, seeds ``seed + 1, …``, whose kernels against step 0's give the scale and shape "change" between
    two random networks, the noise floor of the measure), ``seed``, ``data_seed``. Cross-entropy, inputs
    standardized with the training subset's pixel mean and std, random horizontal flips off (Fashion-MNIST subset, no
    augmentation).
    Kernels: BatchNorm statistics recomputed on the training subset, eval mode, output-summed NTK ``[M, M]``.

    Returns the parameter count, steps, per checkpoint the step, train accuracy and loss (eval mode), the
    kernel's scale and shape change and the mixed relative change against step 0, and the final test accuracy.
    """
    device = config_device(config)
    train_set, test_set = load_dataset(config["dataset"], "train"), load_dataset(config["dataset"], "test")
    g = torch.Generator().manual_seed(config["data_seed"])
    tr = train_set.subset(torch.randperm(len(train_set), generator=g)[:config["train"]])
    te = test_set.subset(torch.randperm(len(test_set), generator=g)[:config["test"]])
    x, x_test = tr.features(), te.features()
    mu, sd = x.mean(), x.std()
    x, x_test = ((x - mu) / sd).to(device), ((x_test - mu) / sd).to(device)
    labels, labels_test = tr.y.to(device), te.y.to(device)
    torch.manual_seed(config["seed"])  # nn.Conv2d / nn.Linear initialise from the global RNG
    model = WideResNet(16, config["widen_factor"], train_set.num_classes, in_channels=x.shape[1]).to(device)
    n, batch = x.shape[0], config["batch"]
    per_epoch = math.ceil(n / batch)
    total = config["epochs"] * per_epoch
    warmup = config["warmup_epochs"] * per_epoch
    marks = sorted({round(i * total / (config["checkpoints"] - 1)) for i in range(config["checkpoints"])})
    opt = torch.optim.SGD(model.parameters(), lr=config["learning_rate"], momentum=config["momentum"],
                          weight_decay=config["weight_decay"])
    probe = x[:config["probe"]]
    order_gen = torch.Generator().manual_seed(config["seed"])
    rows: list[dict] = []
    k0 = None
    step = 0
    order = torch.randperm(n, generator=order_gen)
    cursor = 0
    while True:
        if step in marks:
            snapshot = copy.deepcopy(model)
            calibrate_batchnorm(snapshot, x)
            with torch.no_grad():
                out = snapshot(x)
            kernel = empirical_ntk(snapshot, probe, mode="trace", batch_size=4).detach().double().cpu()
            k0 = kernel if k0 is None else k0
            rows.append(dict(step=step, train_accuracy=accuracy(out, labels),
                             train_loss=F.cross_entropy(out, labels).item(), **scale_and_shape_change(k0, kernel)))
            if step == marks[-1]:
                with torch.no_grad():
                    test_accuracy = accuracy(snapshot(x_test), labels_test)
                break
        if cursor + batch > n:
            order, cursor = torch.randperm(n, generator=order_gen), 0
        idx = order[cursor:cursor + batch].to(device)
        cursor += batch
        for group in opt.param_groups:
            group["lr"] = _schedule(step, total, warmup, config["learning_rate"])
        model.train()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[idx]), labels[idx]).backward()
        opt.step()
        step += 1
    baseline = []
    for i in range(1, int(config.get("baseline_inits", 0)) + 1):
        torch.manual_seed(config["seed"] + i)
        other = WideResNet(16, config["widen_factor"], train_set.num_classes, in_channels=x.shape[1]).to(device)
        calibrate_batchnorm(other, x)
        kernel = empirical_ntk(other, probe, mode="trace", batch_size=4).detach().double().cpu()
        baseline.append(scale_and_shape_change(k0, kernel))
    return dict(parameters_count=count_parameters(model, trainable_only=False), steps=total, epochs=config["epochs"],
                checkpoints=rows, test_accuracy=test_accuracy, baseline=baseline)

"""Chapter 5 — NTK and generalization: data-scaling laws and an evolving kernel (Vyas et al. 2022).

Every experiment is a function of a JSON-like config returning plain lists and numbers, so
:class:`lib.cache.ResultsCache` can store it. Shared conventions:

* a *task* (see :data:`TASKS`) is a real-image classification problem posed as regression on
  centred one-hot targets (:func:`lib.data.tasks.image_regression_task`); training sets of
  the different sizes ``n`` are **nested** prefixes of one random permutation, and one fixed
  test set is used for every ``n`` (so errors are paired across sizes for the bootstrap);
* the *network* is a standard-parametrized ReLU MLP trained with mean squared loss, Adam
  (PyTorch defaults), batch 128, for ``max(epochs · n / 128, min_steps)`` steps, with the
  largest learning rate of :data:`LEARNING_RATES` at which training does not diverge. (Plain
  SGD with one learning rate for all widths is a poor recipe here: the NTK of the standard
  parametrization grows with width, and at width 1024 SGD with momentum at lr 0.01 stalled
  near the loss of the zero predictor without diverging.)
* the *kernels* are used in kernel ridge regression (:func:`lib.kernel_regression.kernel_regression`,
  float64, ridge relative to the mean diagonal), with one scalar kernel for all outputs: for
  the empirical NTK that is the output-averaged kernel ``tr Θ̂ / K``, for the infinite-width
  kernel the analytic ReLU NTK of the same depth;
* test errors are stored per test example (0/1), ``[len(sizes), n_test]``.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch

from lib.data.tasks import RegressionTask, image_regression_task
from lib.experiments import config_device, optional_runs
from lib.kernel_regression import kernel_regression, relu_ntk_matrix
from lib.models import MLP
from lib.ntk import empirical_ntk
from lib.ntk.compare import kernel_distance
from lib.profiles import pick_profile
from lib.training import train

#: Tasks: name -> (dataset, classes or None for all, description).
TASKS = {
    "mnist10": ("mnist", None, "MNIST, 10 classes"),
    "fashion_shirts": ("fashion_mnist", [0, 6], "Fashion-MNIST, T-shirt/top vs shirt"),
    "cifar10_binary": ("cifar10", [3, 5], "CIFAR-10, cat vs dog"),
}

#: Tasks that run only when their data is on disk and there is time for them (paper profile or a GPU).
OPTIONAL_TASKS = ("cifar10_binary",)


def tasks_to_run(sizes: ScalingSizes, *, profile: str, device: torch.device) -> tuple[list[str], list[str]]:
    """``(tasks, messages)``: the profile's tasks plus each optional task whose dataset is present and
    for which the run is affordable (paper profile or CUDA); a message says why one is skipped."""
    optional, messages = optional_runs({name: (TASKS[name][0], TASKS[name][2]) for name in OPTIONAL_TASKS},
                                       profile=profile, device=device)
    return list(sizes.tasks) + optional, messages


@dataclass(frozen=True)
class ScalingSizes:
    """Sizes of Chapter 5's experiments for one profile."""

    tasks: tuple[str, ...]
    sizes: tuple[int, ...]           # training-set sizes n (nested)
    test: int
    depth: int
    width: int                       # the network of the data-scaling experiment
    widths: tuple[int, ...]          # width scaling (first task only)
    seeds: int
    epochs: int
    min_steps: int
    after_kernel_n0: tuple[int, ...]
    evolution_train: int
    evolution_test: int
    evolution_checkpoints: int

    def as_dict(self) -> dict:
        return asdict(self)


SIZES = {
    "quick": ScalingSizes(tasks=("mnist10",), sizes=(64, 128, 256, 512), test=500, depth=2, width=256,
                          widths=(64, 256), seeds=1, epochs=20, min_steps=200, after_kernel_n0=(64, 256),
                          evolution_train=256, evolution_test=300, evolution_checkpoints=6),
    "book": ScalingSizes(tasks=("mnist10", "fashion_shirts"), sizes=(128, 256, 512, 1024, 2048, 4096, 8192),
                         test=2000, depth=2, width=256, widths=(64, 256, 1024), seeds=2, epochs=30, min_steps=500,
                         after_kernel_n0=(128, 512, 2048), evolution_train=1024, evolution_test=1000,
                         evolution_checkpoints=10),
    "paper": ScalingSizes(tasks=("mnist10", "fashion_shirts"), sizes=tuple(2**k for k in range(7, 16)), test=10000,
                          depth=3, width=1024, widths=(128, 512, 2048, 8192), seeds=5, epochs=100, min_steps=2000,
                          after_kernel_n0=(128, 512, 2048, 8192), evolution_train=8192, evolution_test=5000,
                          evolution_checkpoints=16),
}

LEARNING_RATES = (1e-3, 3e-4, 1e-4)
BATCH = 128


def sizes_for(profile: str) -> ScalingSizes:
    """The size table of ``profile``."""
    return pick_profile(SIZES, profile)


def load_task(name: str, n_train: int, n_test: int, data_seed: int, device: torch.device) -> RegressionTask:
    """Task ``name`` of :data:`TASKS` with ``n_train`` training (nested prefixes) and ``n_test`` test samples."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; valid: {', '.join(TASKS)}.")
    dataset, classes, _ = TASKS[name]
    return image_regression_task(dataset, n_train, n_test, seed=data_seed, classes=classes).to(device)


def _errors(predictions: torch.Tensor, labels: torch.Tensor) -> list[int]:
    return (predictions.argmax(dim=1) != labels).long().tolist()


def _network(task: RegressionTask, config: dict) -> MLP:
    g = torch.Generator().manual_seed(config["seed"])
    return MLP(task.x_train.shape[1], config["width"], config["depth"], task.num_classes, generator=g).to(
        task.x_train.device)


def train_network(model: MLP, task: RegressionTask, n: int, config: dict, callback=None) -> tuple[int, float]:
    """Train ``model`` in place on the first ``n`` training samples (module docstring).

    Returns ``(steps, learning rate used)``. A diverged attempt restarts from the same initial
    parameters with the next smaller learning rate (``callback`` sees only the kept attempt's steps
    after a restart, from step 0 again).
    """
    steps = max(math.ceil(config["epochs"] * n / BATCH), config["min_steps"])
    initial = copy.deepcopy(model.state_dict())
    for lr in LEARNING_RATES:
        model.load_state_dict(initial)
        log = train(model, task.x_train[:n], task.y_train[:n], loss="mse", optimizer="adam", learning_rate=lr,
                    max_steps=steps, batch_size=min(BATCH, n),
                    generator=torch.Generator().manual_seed(config["seed"] + n), log_every=max(1, steps // 20),
                    callback=callback)
        if not log.diverged:
            return log.steps, lr
    raise RuntimeError(f"Training diverged at n = {n} for every learning rate in {LEARNING_RATES}.")


def output_averaged_ntk(model: MLP, x: torch.Tensor) -> torch.Tensor:
    """``tr Θ̂(x, x) / K`` as ``[N, N]`` float64 (the scalar kernel used for all outputs)."""
    return empirical_ntk(model, x, mode="trace", batch_size=2048).to(torch.float64) / model.out_features


def _kernel_errors(kernel: torch.Tensor, task: RegressionTask, sizes: list[int], n_max: int, ridge: float) -> list:
    """Kernel regression errors for each nested size; ``kernel`` is over ``[train[:n_max]; test]``."""
    test = slice(n_max, kernel.shape[0])
    out = []
    for n in sizes:
        pred = kernel_regression(kernel[:n, :n], task.y_train[:n], kernel[test, :n], ridge=ridge)
        out.append(_errors(pred, task.labels_test.to(pred.device)))
    return out


def data_scaling(config: dict) -> dict:
    """Test errors vs training-set size for the network, its empirical NTK at initialization and
    the infinite-width NTK.

    Config: ``task``, ``sizes`` (nested training-set sizes), ``test``, ``width``, ``depth``,
    ``epochs``, ``min_steps``, ``ridge``, ``seed`` (network), ``data_seed``, ``kernels`` (bool:
    also run the two kernels), optional ``device``.

    Returns ``{"network": [S][T], "empirical_ntk": ..., "infinite_ntk": ...}`` of 0/1 test
    errors (kernels only if requested), and the training steps per size.
    """
    device = config_device(config)
    sizes = sorted(config["sizes"])
    n_max = sizes[-1]
    task = load_task(config["task"], n_max, config["test"], config["data_seed"], device)
    initial = _network(task, config)
    result: dict = {"sizes": sizes, "network": [], "steps": []}
    for n in sizes:
        model = copy.deepcopy(initial)
        steps, lr = train_network(model, task, n, config)
        result["steps"].append(steps)
        result.setdefault("learning_rates", []).append(lr)
        with torch.no_grad():
            result["network"].append(_errors(model(task.x_test), task.labels_test))
    if config["kernels"]:
        x_all = torch.cat([task.x_train, task.x_test])
        empirical = output_averaged_ntk(initial, x_all)
        result["empirical_ntk"] = _kernel_errors(empirical, task, sizes, n_max, config["ridge"])
        del empirical
        infinite = relu_ntk_matrix(x_all.cpu(), depth=config["depth"]).to(device)
        result["infinite_ntk"] = _kernel_errors(infinite, task, sizes, n_max, config["ridge"])
    return result


def after_kernel(config: dict) -> dict:
    """The "after kernel": the empirical NTK of the network trained on the first ``n0`` samples,
    used for kernel regression on the nested sets of every size ``n >= n0`` (Vyas et al. 2022).
    Config as :func:`data_scaling` plus ``n0``."""
    device = config_device(config)
    sizes = sorted(n for n in config["sizes"] if n >= config["n0"])
    if not sizes:
        raise ValueError(f"No training-set size is >= n0 = {config['n0']}; sizes were {config['sizes']}.")
    task = load_task(config["task"], sizes[-1], config["test"], config["data_seed"], device)
    model = _network(task, config)
    train_network(model, task, config["n0"], config)
    kernel = output_averaged_ntk(model, torch.cat([task.x_train, task.x_test]))
    return {"sizes": sizes, "n0": config["n0"], "errors": _kernel_errors(kernel, task, sizes, sizes[-1],
                                                                        config["ridge"])}


def kernel_evolution(config: dict) -> dict:
    """How the empirical NTK moves during training, at log-spaced checkpoints.

    Config: ``task``, ``train`` (n), ``test``, ``width``, ``depth``, ``epochs``, ``min_steps``,
    ``checkpoints`` (number, log-spaced in steps incl. 0 and the last), ``ridge``, ``seed``,
    ``data_seed``, optional ``device``.

    Returns the checkpoint steps; per checkpoint the kernel distance (Fort et al. 2020) to the
    final kernel, the test error of the network and of kernel regression with ``Θ̂_t``; and the
    kernel velocity between consecutive checkpoints, ``d(Θ̂_{t_i}, Θ̂_{t_{i+1}}) / (t_{i+1} − t_i)``.
    Kernels are over the training and test inputs.
    """
    device = config_device(config)
    n = config["train"]
    task = load_task(config["task"], n, config["test"], config["data_seed"], device)
    model = _network(task, config)
    total = max(math.ceil(config["epochs"] * n / BATCH), config["min_steps"])
    marks = sorted({0, total} | {int(round(v)) for v in torch.logspace(0, math.log10(total),
                                                                         config["checkpoints"] - 1).tolist()})
    x_all = torch.cat([task.x_train, task.x_test])
    kernels: list[torch.Tensor] = []
    net_errors: list[float] = []

    def checkpoint(step: int) -> None:
        if step == 0:  # (re)start: a diverged attempt's checkpoints are discarded
            kernels.clear()
            net_errors.clear()
        if step in marks:
            kernels.append(output_averaged_ntk(model, x_all).cpu())
            with torch.no_grad():
                net_errors.append(float(torch.tensor(_errors(model(task.x_test), task.labels_test)).double().mean()))

    _, lr = train_network(model, task, n, config, callback=checkpoint)
    cpu_task = task.to("cpu")
    kernel_err = [float(torch.tensor(_kernel_errors(k, cpu_task, [n], n, config["ridge"])[0]).double().mean())
                  for k in kernels]
    final = kernels[-1]
    return dict(steps=marks, learning_rate=lr, distance_to_final=[kernel_distance(k, final) for k in kernels],
                velocity=[kernel_distance(a, b) / (t1 - t0) for a, b, t0, t1 in
                          zip(kernels[:-1], kernels[1:], marks[:-1], marks[1:])],
                distance_from_init=[kernel_distance(k, kernels[0]) for k in kernels],
                kernel_test_error=kernel_err, network_test_error=net_errors)

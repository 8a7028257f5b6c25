"""Chapter 2 — natural gradient vs gradient descent: the conditions for fast NGD (Zhang et al. 2019)
measured on nets of practical width, as in Wenger, Dangel & Kristiadi (2023, Sec. 3).

Every experiment is a function of a JSON-like config returning plain numbers and lists, so
:class:`lib.cache.ResultsCache` can store it. Shared conventions:

* the *task* is regression with squared loss on centred one-hot targets of ``N`` real images
  (:func:`lib.data.tasks.image_regression_task`, inputs scaled to ``‖x‖² = d``), so the
  Gram matrix ``G = J Jᵀ`` is ``[NK, NK]`` with ``NK`` in the thousands;
* networks are in the **NTK parametrization** (``σ_w² = 2``, no bias contribution,
  :mod:`lib.models.layers`), the setting of the theory: there the kernel has a finite limit, so
  ``λ₀`` is comparable across widths and the analytic ReLU NTK is the width → ∞ reference;
* everything runs in **float64** (eigenvalues near zero and differences of Jacobians);
* vectors ``u``, ``y`` are the ``[N, K]`` outputs and targets flattened to ``[NK]``; norms of
  ``J`` are spectral norms of the ``[NK, P]`` matrix;
* the training loss shown is the mean ``½ Σ_n ‖f(x_n) − y_n‖² / N`` (:mod:`lib.training`).

Experiments: :func:`gram_spectrum` / :func:`infinite_gram_spectrum` (condition 1),
:func:`ngd_stability` (condition 2 along an NGD trajectory), :func:`optimizer_run` (training
curves; :func:`pick_learning_rate` states the tuning rule) and :func:`step_cost` (time and memory
of one step).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from lib.data.tasks import RegressionTask, image_regression_task
from lib.experiments import config_device, optional_runs
from lib.kernel_change import flat_parameters
from lib.measure import measure, peak_memory
from lib.models import MLP, SmallCNN, count_parameters
from lib.ntk import empirical_ntk, gram_eigenvalues, jacobian_difference_norm, linearize, relu_ntk
from lib.profiles import pick_profile
from lib.training import make_optimizer, natural_gradient_step, train, train_natural_gradient, training_loss

#: Tasks: name -> (dataset, classes or None for all, description).
TASKS = {
    "mnist10": ("mnist", None, "MNIST, 10 classes"),
    "fashion10": ("fashion_mnist", None, "Fashion-MNIST, 10 classes"),
    "cifar10": ("cifar10", None, "CIFAR-10, 10 classes"),
}

#: Tasks that run only when their data is on disk and there is time (paper profile or a GPU).
OPTIONAL_TASKS = ("cifar10",)

#: Relative damping of every NGD step: ``λ = DAMPING · tr Θ / (NK)`` (:func:`lib.training.train_natural_gradient`).
DAMPING = 1e-6

#: Optimizers compared in :func:`optimizer_run`.
OPTIMIZERS = {
    "ngd": "natural gradient (function-space step, η = 1 halved while the loss would rise)",
    "gd": "gradient descent (full batch, tuned learning rate)",
    "adam": "Adam (full batch, tuned learning rate, PyTorch's β and ε)",
    "linearized-ngd": "the linearized network trained with natural gradient (kernel-regime reference)",
}

#: Learning-rate grids searched for the first-order methods (see :func:`pick_learning_rate`).
LEARNING_RATE_GRIDS = {
    "gd": (0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
    "adam": (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
}

#: Offset added to a seed for the learning-rate tuning runs, so tuning never sees a reported seed.
TUNING_SEED_OFFSET = 1000


@dataclass(frozen=True)
class NaturalGradientSizes:
    """Sizes of Chapter 2's experiments for one profile."""

    task: str
    n_train: int
    # 1. condition 1: Gram spectrum vs width
    gram_depths: tuple[int, ...]
    gram_widths: tuple[int, ...]
    cnn_channels: tuple[int, ...]
    gram_seeds: int
    # 2. condition 2 along the NGD trajectory
    stability_depth: int
    stability_widths: tuple[int, ...]
    stability_seeds: int
    ngd_steps: int
    power_iterations: int
    power_tol: float
    # 3. training curves
    curve_depth: int
    curve_widths: tuple[int, ...]
    curve_seeds: int
    first_order_steps: int
    tuning_steps: int
    # 4. cost per step
    cost_widths: tuple[int, ...]
    cost_repeats: int

    def as_dict(self) -> dict:
        return asdict(self)


SIZES = {
    "quick": NaturalGradientSizes(
        task="mnist10", n_train=50,
        gram_depths=(1, 2), gram_widths=(16, 64, 256, 1024), cnn_channels=(8, 16), gram_seeds=2,
        stability_depth=1, stability_widths=(16, 64, 256, 1024), stability_seeds=2, ngd_steps=6,
        power_iterations=30, power_tol=1e-3,
        curve_depth=1, curve_widths=(64, 512), curve_seeds=2, first_order_steps=150, tuning_steps=50,
        cost_widths=(64, 256, 1024), cost_repeats=2),
    "book": NaturalGradientSizes(
        task="mnist10", n_train=200,
        gram_depths=(1, 2, 3), gram_widths=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
        cnn_channels=(8, 16, 32, 64), gram_seeds=2,
        stability_depth=1, stability_widths=(16, 32, 64, 128, 256, 512, 1024, 2048, 4096), stability_seeds=2,
        ngd_steps=8, power_iterations=50, power_tol=1e-3,
        curve_depth=1, curve_widths=(64, 1024), curve_seeds=3, first_order_steps=1000, tuning_steps=250,
        cost_widths=(64, 256, 1024, 4096), cost_repeats=3),
    "paper": NaturalGradientSizes(
        task="mnist10", n_train=400,
        gram_depths=(1, 2, 3), gram_widths=tuple(2**k for k in range(4, 15)),
        cnn_channels=(8, 16, 32, 64, 128, 256), gram_seeds=5,
        stability_depth=1, stability_widths=tuple(2**k for k in range(4, 15)), stability_seeds=5,
        ngd_steps=10, power_iterations=100, power_tol=1e-4,
        curve_depth=1, curve_widths=(64, 1024, 16384), curve_seeds=5, first_order_steps=5000, tuning_steps=1000,
        cost_widths=tuple(2**k for k in range(6, 15, 2)), cost_repeats=5),
}


def sizes_for(profile: str) -> NaturalGradientSizes:
    """The size table of ``profile``."""
    return pick_profile(SIZES, profile)


def tasks_to_run(sizes: NaturalGradientSizes, *, profile: str, device: torch.device) -> tuple[list[str], list[str]]:
    """``(tasks, messages)``: the profile's task plus each optional task whose dataset is present and
    that is affordable (paper profile or CUDA); a message says why an optional task is skipped."""
    optional, messages = optional_runs({name: (TASKS[name][0], TASKS[name][2]) for name in OPTIONAL_TASKS},
                                       profile=profile, device=device)
    return [sizes.task] + optional, messages


def load_task(config: dict) -> RegressionTask:
    """The ``n_train`` training images of ``config["task"]`` (float64, on the config's device)."""
    if config["task"] not in TASKS:
        raise ValueError(f"Unknown task {config['task']!r}; valid: {', '.join(TASKS)}.")
    dataset, classes, _ = TASKS[config["task"]]
    task = image_regression_task(dataset, config["n_train"], 1, seed=config.get("data_seed", 0), classes=classes)
    return task.to(config_device(config), torch.float64)


def build_model(config: dict, task: RegressionTask) -> nn.Module:
    """An NTK-parametrized ReLU ``"mlp"`` (``depth`` hidden layers of ``width``) or ``"cnn"``
    (:class:`lib.models.SmallCNN`: ``depth`` 3x3 conv layers of ``width`` channels, stride 2 after the
    first, global average pooling), float64, initialised from ``config["seed"]``."""
    generator = torch.Generator().manual_seed(config["seed"])
    architecture = config.get("architecture", "mlp")
    k = task.num_classes
    if architecture == "mlp":
        model = MLP(task.x_train.shape[1], config["width"], config["depth"], k, parametrization="ntk",
                    generator=generator)
    elif architecture == "cnn":
        model = SmallCNN(image_channels(config["task"]), config["width"], config["depth"], k, parametrization="ntk",
                         generator=generator)
    else:
        raise ValueError(f"Unknown architecture {architecture!r}; use 'mlp' or 'cnn'.")
    return model.to(device=task.x_train.device, dtype=torch.float64)


def image_channels(task: str) -> int:
    """Colour channels of the task's images (3 for CIFAR-10, else 1)."""
    return 3 if TASKS[task][0] == "cifar10" else 1


def model_inputs(config: dict, task: RegressionTask) -> torch.Tensor:
    """Flat ``[N, d]`` inputs for an MLP, ``[N, C, H, W]`` images for a CNN."""
    x = task.x_train
    if config.get("architecture", "mlp") == "cnn":
        c = image_channels(config["task"])
        side = math.isqrt(x.shape[1] // c)
        x = x.reshape(x.shape[0], c, side, side)
    return x


def _spectrum_summary(eigenvalues: torch.Tensor) -> dict:
    """λ_min, λ_max and whether λ_min is zero to working precision (``≤ NK · ε · λ_max``)."""
    lam_min, lam_max = eigenvalues[0].item(), eigenvalues[-1].item()
    tolerance = eigenvalues.numel() * torch.finfo(torch.float64).eps * lam_max
    return {"lambda_min": lam_min, "lambda_max": lam_max, "rank_deficient": lam_min <= tolerance,
            "tolerance": tolerance, "size": eigenvalues.numel()}


def gram_spectrum(config: dict) -> dict:
    """Condition 1 at initialization: extreme eigenvalues of ``G₀ = J₀ J₀ᵀ`` ``[NK, NK]``.

    Config: ``task``, ``n_train``, ``data_seed``, ``architecture`` (``"mlp"``/``"cnn"``), ``depth``,
    ``width``, ``seed``, optional ``device``. Returns :func:`_spectrum_summary` plus ``parameters``.
    """
    task = load_task(config)
    model = build_model(config, task)
    summary = _spectrum_summary(gram_eigenvalues(model, model_inputs(config, task)))
    return {**summary, "parameters": count_parameters(model)}


def infinite_gram_spectrum(config: dict) -> dict:
    """λ_min and λ_max of the width → ∞ Gram matrix ``Θ∞ ⊗ I_K`` of an NTK-parametrized ReLU MLP
    (same ``depth``, ``σ_w² = 2``, ``σ_b = 0``; :func:`lib.ntk.relu_ntk`). The Kronecker factor
    ``I_K`` repeats each eigenvalue ``K`` times and changes no extreme eigenvalue.

    Config: ``task``, ``n_train``, ``data_seed``, ``depth``, optional ``device``.
    """
    task = load_task(config)
    _, ntk = relu_ntk(task.x_train, depth=config["depth"], sigma_w=math.sqrt(2.0), sigma_b=0.0)
    return _spectrum_summary(torch.linalg.eigvalsh(ntk))


def ngd_stability(config: dict) -> dict:
    """Condition 2 along the natural-gradient trajectory of one network.

    Trains an MLP with :func:`lib.training.train_natural_gradient` (damping :data:`DAMPING`,
    η = 1 with halving) for ``steps`` steps and after every step ``k`` measures

    * ``‖J_θk − J_θ0‖₂`` by power iteration on Jacobian-vector products (warm-started from the
      previous step's singular vector; :func:`lib.ntk.jacobian_difference_norm`),
    * the distance travelled ``‖θ_k − θ₀‖₂`` and the residual ``‖y − u_k‖₂``.

    Returns per-step lists and ``lambda0`` (= λ_min(G₀)), ``rho`` = 3‖y − u₀‖₂ / √λ₀ (the
    radius of the ball in condition 2), ``c_prime`` = 3 max_k ‖J_θk − J_θ0‖₂ / √λ₀ (the empirical
    stability constant; condition 2 with C < 1/2 needs ``c_prime < 1/2`` — a *necessary* check,
    since the theory asks for the bound on the whole ball, not only along the trajectory).

    Config: ``task``, ``n_train``, ``data_seed``, ``depth``, ``width``, ``seed``, ``steps``,
    ``power_iterations``, ``power_tol``, optional ``device``.
    """
    task = load_task(config)
    model = build_model({**config, "architecture": "mlp"}, task)
    x, y = task.x_train, task.y_train
    initial = copy.deepcopy(model)
    theta0 = flat_parameters(initial)
    eigenvalues = gram_eigenvalues(model, x)
    spectrum = _spectrum_summary(eigenvalues)
    lambda0 = spectrum["lambda_min"]
    with torch.no_grad():
        residual0 = torch.linalg.vector_norm(y - model(x)).item()
    rho = 3.0 * residual0 / math.sqrt(lambda0) if lambda0 > 0 else math.inf
    generator = torch.Generator().manual_seed(config["seed"] + 17)
    record = {"jacobian_change": [], "distance": [], "residual": [], "power_converged": []}
    vector: list[torch.Tensor | None] = [None]

    def measure_step(step: int) -> None:
        with torch.no_grad():
            record["residual"].append(torch.linalg.vector_norm(y - model(x)).item())
        record["distance"].append(torch.linalg.vector_norm(flat_parameters(model) - theta0).item())
        if step == 0:
            record["jacobian_change"].append(0.0)
            record["power_converged"].append(True)
            return
        estimate = jacobian_difference_norm(model, initial, x, iterations=config["power_iterations"],
                                            tol=config["power_tol"], generator=generator, start=vector[0])
        vector[0] = estimate.vector
        record["jacobian_change"].append(estimate.value)
        record["power_converged"].append(estimate.converged)

    log = train_natural_gradient(model, x, y, max_steps=config["steps"], damping=DAMPING, callback=measure_step)
    max_change = max(record["jacobian_change"])
    return {
        **record,
        "losses": log.losses, "step_sizes": log.step_sizes,
        "lambda0": lambda0, "lambda_max": spectrum["lambda_max"], "rank_deficient": spectrum["rank_deficient"],
        "initial_residual": residual0, "rho": rho,
        "c_prime": 3.0 * max_change / math.sqrt(lambda0) if lambda0 > 0 else math.inf,
        "max_distance": max(record["distance"]),
        "parameters": count_parameters(model),
    }


def optimizer_run(config: dict) -> dict:
    """Train one MLP with one optimizer; returns the loss after every logged step and the
    optimizer's own wall-clock time up to it (loss evaluations excluded).

    Config: ``task``, ``n_train``, ``data_seed``, ``depth``, ``width``, ``seed``, ``optimizer`` (a
    key of :data:`OPTIMIZERS`), ``steps``, ``learning_rate`` (first-order methods), ``log_every``,
    optional ``device``.
    """
    name = config["optimizer"]
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}.")
    task = load_task(config)
    model = build_model({**config, "architecture": "mlp"}, task)
    x, y = task.x_train, task.y_train
    if name in ("gd", "adam"):
        log = train(model, x, y, loss="mse", optimizer="sgd" if name == "gd" else "adam",
                    learning_rate=config["learning_rate"], max_steps=config["steps"],
                    log_every=config.get("log_every", 1))
    elif name == "ngd":
        log = train_natural_gradient(model, x, y, max_steps=config["steps"], damping=DAMPING)
    else:
        kernel = empirical_ntk(model, x)
        log = train_natural_gradient(linearize(model), x, y, max_steps=config["steps"], damping=DAMPING,
                                     fixed_kernel=kernel)
    return {"losses": log.losses, "steps": log.logged_steps, "seconds": log.times, "diverged": log.diverged,
            "step_sizes": log.step_sizes, "learning_rate": config.get("learning_rate")}


def pick_learning_rate(results: dict[float, dict]) -> tuple[float, bool]:
    """The tuning rule: the learning rate whose run ended with the lowest training loss (diverged
    runs count as infinite loss). Returns ``(learning rate, at_edge)`` where ``at_edge`` says the
    choice is the smallest or largest of the grid (the grid may then be too narrow).

    Args:
        results: ``{learning_rate: optimizer_run result}`` for one optimizer and width.
    """
    if not results:
        raise ValueError("No tuning runs given.")

    def final(result: dict) -> float:
        value = result["losses"][-1]
        return math.inf if result["diverged"] or not math.isfinite(value) else value

    grid = sorted(results)
    best = min(grid, key=lambda lr: (final(results[lr]), -lr))
    if not math.isfinite(final(results[best])):
        raise RuntimeError(f"Every learning rate in {grid} diverged; extend the grid downwards.")
    return best, best in (grid[0], grid[-1])


def time_to_loss(result: dict, threshold: float) -> float:
    """Wall-clock seconds of the first logged loss ``<= threshold`` (``inf`` if never reached)."""
    for loss, seconds in zip(result["losses"], result["seconds"]):
        if loss <= threshold:
            return seconds
    return math.inf


def steps_to_loss(result: dict, threshold: float) -> float:
    """The first logged step with loss ``<= threshold`` (``inf`` if never reached)."""
    for loss, step in zip(result["losses"], result["steps"]):
        if loss <= threshold:
            return float(step)
    return math.inf


def step_cost(config: dict) -> dict:
    """Time and memory of one optimizer step on the full batch.

    ``peak_bytes``: the peak memory growth of the first step, including creating the optimizer (so
    Adam's two moment buffers count, and NGD's ``[NK, NK]`` kernel and its solve); ``seconds``: the
    best of ``repeats`` further steps. NGD's step here is one full-step attempt with one loss
    evaluation (the halving rule adds forward passes only when the loss would rise).

    Config: ``task``, ``n_train``, ``data_seed``, ``depth``, ``width``, ``seed``, ``optimizer``
    (``"ngd"``, ``"gd"``, ``"adam"``), ``learning_rate``, ``repeats``, optional ``device``.
    """
    task = load_task(config)
    model = build_model({**config, "architecture": "mlp"}, task)
    x, y = task.x_train, task.y_train
    name = config["optimizer"]
    if name == "ngd":
        def step() -> float:
            return natural_gradient_step(model, x, y, learning_rate=1.0, damping=DAMPING, max_halvings=0)[1]
        first = step
    elif name in ("gd", "adam"):
        holder: list[torch.optim.Optimizer] = []

        def step() -> float:
            opt = holder[0]
            opt.zero_grad(set_to_none=True)
            loss = training_loss(model(x), y, "mse")
            loss.backward()
            opt.step()
            return loss.item()

        def first() -> float:
            params = [p for p in model.parameters() if p.requires_grad]
            holder.append(make_optimizer("sgd" if name == "gd" else "adam", params, config["learning_rate"]))
            return step()
    else:
        raise ValueError(f"step_cost measures 'ngd', 'gd' or 'adam', got {name!r}.")
    device = config_device(config)
    peak, _ = peak_memory(first, device)
    timing = measure(step, device, repeats=config["repeats"])
    return {"seconds": timing.seconds, "peak_bytes": peak, "parameters": count_parameters(model),
            "kernel_size": x.shape[0] * task.num_classes}

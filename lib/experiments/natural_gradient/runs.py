"""Chapter 2's experiments: pure module-level functions ``config (dict) -> result (dict of numbers and lists)``.

Shared conventions:

* conditions (C1)/(C2) and the teaching race: regression with squared loss on centred one-hot targets of ``N``
  real images (:func:`lib.data.tasks.image_regression_task`, inputs scaled to ``‖x‖² = d``), networks in the NTK
  parametrization (``σ_w² = 2``, no biases), **float64**; ``J`` is the ``[NK, P]`` Jacobian on the training inputs;
* the practical race: cross-entropy on ``train`` images, a validation split of the same official training set
  (disjoint) for tuning and the official test split for the reported runs, PyTorch's ``nn.Linear`` layers and
  default initialization (the standard parametrization), float32, mini-batches.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn
from torch.nn import functional as F

from lib.data.tasks import RegressionTask, image_regression_task
from lib.experiments import config_device
from lib.experiments.natural_gradient.configs import CNN_DEPTH, DAMPING, TASKS, Method, Race, Split
from lib.jacobian_change import feed_forward, jacobian_change, jacobian_gram, layer_signals
from lib.kernel_change import flat_parameters
from lib.kfac import KFAC
from lib.models import MLP, SmallCNN, count_parameters
from lib.ntk import gram_eigenvalues, jacobian, linearize, relu_ntk
from lib.training import (
    kernel_from_signals,
    minibatch_natural_gradient_step,
    train,
    train_natural_gradient,
)

__all__ = ["load_task", "build_model", "model_inputs", "gram_spectrum", "infinite_gram_spectrum", "stability_run",
           "cnn_stability_run", "race_run", "practical_run", "practical_model", "load_practical_data"]


def load_task(config: dict) -> RegressionTask:
    """The ``n_train`` training images of ``config["task"]`` (float64, on the config's device)."""
    if config["task"] not in TASKS:
        raise ValueError(f"Unknown task {config['task']!r}; valid: {', '.join(TASKS)}.")
    dataset, classes, _ = TASKS[config["task"]]
    task = image_regression_task(dataset, config["n_train"], 1, seed=config.get("data_seed", 0), classes=classes)
    return task.to(config_device(config), torch.float64)


def image_channels(task: str) -> int:
    """Colour channels of the task's images (3 for CIFAR-10, else 1)."""
    return 3 if TASKS[task][0] == "cifar10" else 1


def build_model(config: dict, task: RegressionTask) -> nn.Module:
    """The config's network in float64, initialised from ``config["seed"]``: an ``"mlp"`` (``depth`` hidden layers
    of ``width``, ``activation`` ReLU by default: :class:`lib.models.MLP`; softplus/GELU:
    :func:`lib.jacobian_change.feed_forward`, the same layers) or a ``"cnn"`` (:class:`lib.models.SmallCNN`, ``depth``
    3x3 convolutions of ``width`` channels, stride 2 after the first, global average pooling). NTK parametrization,
    ``σ_w² = 2``, no biases."""
    generator = torch.Generator().manual_seed(config["seed"])
    architecture = config.get("architecture", "mlp")
    k, d = task.num_classes, task.x_train.shape[1]
    if architecture == "mlp":
        activation = config.get("activation", "relu")
        if activation == "relu":
            model = MLP(d, config["width"], config["depth"], k, parametrization="ntk", bias=False,
                        generator=generator)
        else:
            model = feed_forward(d, config["width"], config["depth"], k, activation=activation,
                                 parametrization="ntk", generator=generator)
    elif architecture == "cnn":
        model = SmallCNN(image_channels(config["task"]), config["width"], config["depth"], k, parametrization="ntk",
                         generator=generator)
    else:
        raise ValueError(f"Unknown architecture {architecture!r}; use 'mlp' or 'cnn'.")
    return model.to(device=task.x_train.device, dtype=torch.float64)


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


def _gram_eigenvalues(model: nn.Module, x: torch.Tensor, architecture: str) -> torch.Tensor:
    if architecture == "mlp":
        gram = jacobian_gram(layer_signals(model, x))
        return torch.linalg.eigvalsh(0.5 * (gram + gram.T))
    return gram_eigenvalues(model, x)


def gram_spectrum(config: dict) -> dict:
    """(C1) at initialization: extreme eigenvalues of ``G₀ = J₀ J₀ᵀ`` ``[NK, NK]`` (MLPs through
    :func:`lib.jacobian_change.jacobian_gram`, the CNN through :func:`lib.ntk.gram_eigenvalues`).

    Config: ``task``, ``n_train``, ``data_seed``, ``architecture``, ``depth``, ``width``, ``seed``, ``device``.
    """
    task = load_task(config)
    model = build_model(config, task)
    summary = _spectrum_summary(_gram_eigenvalues(model, model_inputs(config, task), config["architecture"]))
    return {**summary, "parameters": count_parameters(model)}


def infinite_gram_spectrum(config: dict) -> dict:
    """λ_min and λ_max of the width → ∞ Gram matrix ``Θ∞ ⊗ I_K`` of an NTK-parametrized ReLU MLP (same ``depth``,
    ``σ_w² = 2``, ``σ_b = 0``; :func:`lib.ntk.relu_ntk`); ``I_K`` changes no extreme eigenvalue.

    Config: ``task``, ``n_train``, ``data_seed``, ``depth``, ``device``.
    """
    task = load_task(config)
    _, ntk = relu_ntk(task.x_train, depth=config["depth"], sigma_w=math.sqrt(2.0), sigma_b=0.0)
    return _spectrum_summary(torch.linalg.eigvalsh(ntk))


def stability_run(config: dict) -> dict:
    """(C2) along the natural-gradient trajectory of one MLP, with the Jacobian change split in two.

    Trains with :func:`lib.training.train_natural_gradient` (relative damping :data:`DAMPING`, η = 1 halved while
    the loss would rise; kernel from :func:`lib.training.kernel_from_signals`) for ``steps`` steps and after every
    step measures exactly (:func:`lib.jacobian_change.jacobian_change`) ``‖J_θk − J_θ0‖₂`` and its activation and
    smooth parts, the distance ``‖θ_k − θ₀‖₂`` and the residual ``‖y − u_k‖₂``.

    Returns per-step lists, ``lambda0`` = λ_min(G₀), ``rho`` = 3‖y − u₀‖₂/√λ₀, ``c_prime`` = 3 max_k ‖J_θk − J_θ0‖₂ /
    √λ₀ (Wenger et al.'s empirical stability constant) and the same for each part (``c_prime_activation``,
    ``c_prime_smooth``), ``flipped``: the fraction of hidden pre-activations (sample × unit) whose sign differs from
    initialization after the last step, and ``rank_deficient`` (λ₀ zero to float64 precision; then C′ is ``inf``).

    Config: ``task``, ``n_train``, ``data_seed``, ``depth``, ``width``, ``activation``, ``seed``, ``steps``,
    ``device``.
    """
    task = load_task(config)
    model = build_model(config, task)
    x, y = task.x_train, task.y_train
    initial = copy.deepcopy(model)
    theta0 = flat_parameters(initial)
    s0 = layer_signals(initial, x)
    g0 = jacobian_gram(s0)
    spectrum = _spectrum_summary(torch.linalg.eigvalsh(0.5 * (g0 + g0.T)))
    lambda0 = spectrum["lambda_min"]
    residual0 = torch.linalg.vector_norm(y - s0.outputs).item()
    root = math.sqrt(lambda0) if lambda0 > 0 and not spectrum["rank_deficient"] else 0.0
    parts = ("total", "activation", "smooth", "total_fro", "activation_fro", "smooth_fro")
    record: dict[str, list] = {**{p: [] for p in parts}, "distance": [], "residual": []}

    def measure_step(step: int) -> None:
        with torch.no_grad():
            record["residual"].append(torch.linalg.vector_norm(y - model(x)).item())
        record["distance"].append(torch.linalg.vector_norm(flat_parameters(model) - theta0).item())
        change = jacobian_change(model, initial, x, initial_signals=s0) if step else None
        for part in parts:
            record[part].append(getattr(change, part) if change else 0.0)

    log = train_natural_gradient(model, x, y, max_steps=config["steps"], damping=DAMPING, callback=measure_step,
                                 kernel_fn=kernel_from_signals)
    final = layer_signals(model, x).pre_activations
    flips = sum(int(((z > 0) != (z0 > 0)).sum()) for z, z0 in zip(final, s0.pre_activations, strict=False))
    units = sum(z.numel() for z in final)

    def constant(values: list[float]) -> float:
        return 3.0 * max(values) / root if root > 0 else math.inf

    return {**record, "losses": log.losses, "step_sizes": log.step_sizes,
            "lambda0": lambda0, "lambda_max": spectrum["lambda_max"], "rank_deficient": spectrum["rank_deficient"],
            "initial_residual": residual0, "rho": 3.0 * residual0 / root if root > 0 else math.inf,
            "c_prime": constant(record["total"]), "c_prime_activation": constant(record["activation"]),
            "c_prime_smooth": constant(record["smooth"]), "max_distance": max(record["distance"]),
            "flipped": flips / units, "parameters": count_parameters(model),
            "converged": record["residual"][-1] <= 1e-8 * residual0}


def _jacobian_rows(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The dense Jacobian ``[NK, P]`` (:func:`lib.ntk.jacobian`; small networks only)."""
    j = jacobian(model, x)
    return j.reshape(-1, j.shape[-1])


def _dense_kernel(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The empirical NTK ``[N, N, K, K]`` from the dense Jacobian."""
    j = jacobian(model, x)
    return torch.einsum("nap,mbp->nmab", j, j)


def cnn_stability_run(config: dict) -> dict:
    """(C2) along the NGD trajectory of the small CNN: ``‖J_θk − J_θ0‖₂`` from the dense ``[NK, P]`` Jacobians (the
    CNN has few parameters), no split. Returns ``c_prime``, ``lambda0``, ``rank_deficient``, per-step lists.

    Config: ``task``, ``n_train``, ``data_seed``, ``width`` (channels), ``seed``, ``steps``, ``device``.
    """
    config = dict(config, architecture="cnn", depth=config.get("depth", CNN_DEPTH))
    task = load_task(config)
    model = build_model(config, task)
    x, y = model_inputs(config, task), task.y_train
    j0 = _jacobian_rows(model, x)
    g0 = j0 @ j0.T
    spectrum = _spectrum_summary(torch.linalg.eigvalsh(0.5 * (g0 + g0.T)))
    lambda0 = spectrum["lambda_min"]
    root = math.sqrt(lambda0) if lambda0 > 0 and not spectrum["rank_deficient"] else 0.0
    record: dict[str, list] = {"total": [], "distance": []}
    theta0 = flat_parameters(model).clone()
    with torch.no_grad():
        residual0 = torch.linalg.vector_norm(y - model(x)).item()

    def measure_step(step: int) -> None:
        if step:
            difference = _jacobian_rows(model, x) - j0
            record["total"].append(math.sqrt(max(torch.linalg.eigvalsh(difference @ difference.T)[-1].item(), 0.0)))
            record["distance"].append(torch.linalg.vector_norm(flat_parameters(model) - theta0).item())

    log = train_natural_gradient(model, x, y, max_steps=config["steps"], damping=DAMPING, callback=measure_step,
                                 kernel_fn=_dense_kernel)
    rho = 3.0 * residual0 / root if root > 0 else math.inf
    return {**record, "losses": log.losses, "lambda0": lambda0, "lambda_max": spectrum["lambda_max"],
            "rank_deficient": spectrum["rank_deficient"],
            "c_prime": 3.0 * max(record["total"]) / root if root > 0 else math.inf,
            "relative_change": max(record["total"]) / math.sqrt(spectrum["lambda_max"]),
            "distance_over_rho": max(record["distance"]) / rho, "final_loss_ratio": log.losses[-1] / log.losses[0],
            "parameters": count_parameters(model)}


def race_run(config: dict) -> dict:
    """Teaching race: train the one-hidden-layer MLP with one :class:`~configs.Race` optimizer on the full batch
    (squared loss); the loss after every step, the optimizer's own wall-clock time up to it, and the extreme
    eigenvalues of the Gram matrix at initialization (``"gd-stable"`` uses ``η = 1.9 N / λ_max``).

    Config: ``task``, ``n_train``, ``data_seed``, ``depth``, ``width``, ``seed``, ``optimizer``, ``steps``,
    ``learning_rate`` (GD, Adam), optional ``activation`` (default ReLU) and ``damping`` (NGD; default
    :data:`~configs.DAMPING`), ``device``.
    """
    name = Race.parse(config["optimizer"], name="optimizer")
    task = load_task(config)
    model = build_model(config, task)
    x, y = task.x_train, task.y_train
    gram = jacobian_gram(layer_signals(model, x))
    eigenvalues = torch.linalg.eigvalsh(0.5 * (gram + gram.T))
    damping = config.get("damping", DAMPING)
    learning_rate = config.get("learning_rate")
    if name is Race.GD_STABLE:  # below the stability threshold of the linearized dynamics: η < 2N/λ_max
        learning_rate = 1.9 * x.shape[0] / eigenvalues[-1].item()
    if name in (Race.GD, Race.ADAM, Race.GD_STABLE):
        log = train(model, x, y, loss="mse", optimizer="adam" if name is Race.ADAM else "sgd",
                    learning_rate=learning_rate, max_steps=config["steps"])
    elif name is Race.NGD:
        log = train_natural_gradient(model, x, y, max_steps=config["steps"], damping=damping,
                                     kernel_fn=kernel_from_signals)
    else:
        kernel = kernel_from_signals(model, x)
        log = train_natural_gradient(linearize(model), x, y, max_steps=config["steps"], damping=damping,
                                     fixed_kernel=kernel)
    return {"losses": log.losses, "steps": log.logged_steps, "seconds": log.times, "diverged": log.diverged,
            "step_sizes": log.step_sizes, "learning_rate": learning_rate, "n": x.shape[0],
            "lambda_min": eigenvalues[0].item(), "lambda_max": eigenvalues[-1].item()}


def load_practical_data(config: dict) -> dict:
    """The practical race's data (float32, on the config's device): ``x_train [train, d]``, ``labels_train``, and
    ``x_eval``, ``labels_eval`` from the config's ``split`` (validation: the next ``validation`` images of the same
    random draw from the official training set, disjoint from the training images; test: ``test`` images of the
    official test set)."""
    dataset, classes, _ = TASKS[config["task"]]
    n_train, n_val = config["train"], config["validation"]
    task = image_regression_task(dataset, n_train + n_val, config["test"], seed=config["data_seed"], classes=classes)
    device = config_device(config)
    split = Split.parse(config["split"], name="split")
    x, labels = task.x_train.float(), task.labels_train
    if split is Split.VALIDATION:
        x_eval, labels_eval = x[n_train:], labels[n_train:]
    else:
        x_eval, labels_eval = task.x_test.float(), task.labels_test
    return {"x_train": x[:n_train].to(device), "labels_train": labels[:n_train].to(device),
            "x_eval": x_eval.to(device), "labels_eval": labels_eval.to(device), "classes": task.num_classes}


def practical_model(config: dict, in_features: int, classes: int) -> nn.Sequential:
    """``depth`` hidden ``nn.Linear`` layers of ``width`` with ReLU and a linear readout, PyTorch's default
    initialization drawn from ``config["seed"]`` (float32)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config["seed"])
        layers: list[nn.Module] = []
        fan_in = in_features
        for _ in range(config["depth"]):
            layers += [nn.Linear(fan_in, config["width"]), nn.ReLU()]
            fan_in = config["width"]
        layers.append(nn.Linear(fan_in, classes))
        return nn.Sequential(*layers).to(config_device(config))


@torch.no_grad()
def _evaluate(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    out = model(x)
    return F.cross_entropy(out, labels).item(), (out.argmax(1) == labels).float().mean().item()


def _step(method: Method, model: nn.Module, optimizer: torch.optim.Optimizer | KFAC | None, xb: torch.Tensor,
          yb: torch.Tensor, config: dict) -> None:
    """One optimizer step of :func:`practical_run` on the batch ``(xb [B, d], yb [B])``."""
    if isinstance(optimizer, torch.optim.Optimizer):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        optimizer.step()
    elif method is Method.NGD:
        minibatch_natural_gradient_step(model, xb, yb, learning_rate=config["learning_rate"],
                                        damping=config["damping"], kernel_fn=kernel_from_signals)
    else:
        optimizer.step(xb, yb)


def practical_run(config: dict) -> dict:
    """Practical race: train one :class:`~configs.Method` with mini-batches on the cross-entropy.

    ``epochs`` passes over ``train`` images in batches of ``batch`` (reshuffled every epoch from ``seed``);
    ``logs_per_epoch`` times per epoch the training loss on the first ``train_eval`` training images, and the loss and
    accuracy on the evaluation split are logged with the optimizer's own CPU time (``time.process_time``, all threads
    of the process; evaluations excluded) — on a shared machine CPU time depends far less on the load than wall time.
    With ``probe > 0``, after every epoch the Jacobian change on the first ``probe`` training images is measured in
    float64 (:func:`lib.jacobian_change.jacobian_change`), with ``lambda0`` = λ_min of their Gram matrix at
    initialization and ``c_prime`` = 3 max ‖J_θ − J_θ₀‖₂ / √λ₀ over the epochs (with the split's parts), the distance
    ``‖θ − θ₀‖₂`` after every epoch and ``probe_rho`` = 3‖e_y − f₀‖₂/√λ₀ on the probe (one-hot targets, the squared-loss
    convention of the theorem).

    Config: the fields of :func:`~lib.experiments.natural_gradient.configs.practical_configs`: ``task``, ``train``,
    ``validation``, ``test``, ``train_eval``, ``data_seed``, ``split``, ``depth``, ``width``, ``batch``, ``epochs``,
    ``logs_per_epoch``, ``seed``, ``method``, ``learning_rate``, ``damping`` (NGD, K-FAC), ``curvature_every``,
    ``momentum`` and ``ema`` (K-FAC: :class:`lib.kfac.KFAC`), ``probe``, ``device``.
    """
    method = Method.parse(config["method"], name="method")
    data = load_practical_data(config)
    x, labels = data["x_train"], data["labels_train"]
    n, batch = x.shape[0], config["batch"]
    model = practical_model(config, x.shape[1], data["classes"])
    initial = copy.deepcopy(model).double()
    probe_x = x[:config["probe"]].double() if config["probe"] else None
    probe0 = layer_signals(initial, probe_x) if probe_x is not None else None
    generator = torch.Generator().manual_seed(config["seed"] + 1)
    optimizer: torch.optim.Optimizer | KFAC | None = None
    if method is Method.SGD:
        optimizer = torch.optim.SGD(model.parameters(), lr=config["learning_rate"], momentum=0.9)
    elif method is Method.ADAM:
        optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"])
    elif method is Method.KFAC:
        optimizer = KFAC(model, learning_rate=config["learning_rate"], damping=config["damping"],
                         update_every=config.get("curvature_every", 1), momentum=config.get("momentum", 0.0),
                         ema=config.get("ema", 0.0), seed=config["seed"] * 100003)
    steps_per_epoch = n // batch
    log_every = max(1, steps_per_epoch // config["logs_per_epoch"])
    out: dict[str, list] = {"epoch": [], "seconds": [], "train_loss": [], "eval_loss": [], "eval_accuracy": []}
    probe: dict[str, list] = {"total": [], "activation": [], "smooth": [], "distance": []}
    theta0 = flat_parameters(model).detach().double().clone()
    elapsed, diverged, step = 0.0, False, 0

    def log(epoch: float) -> bool:
        train_loss, _ = _evaluate(model, x[:config["train_eval"]], labels[:config["train_eval"]])
        eval_loss, accuracy = _evaluate(model, data["x_eval"], data["labels_eval"])
        for key, value in zip(out, (epoch, elapsed, train_loss, eval_loss, accuracy), strict=False):
            out[key].append(value)
        return not (math.isfinite(train_loss) and train_loss < 1e3)

    def measure() -> None:
        change = jacobian_change(copy.deepcopy(model).double(), initial, probe_x, initial_signals=probe0)
        for part in ("total", "activation", "smooth"):
            probe[part].append(getattr(change, part))
        probe["distance"].append(torch.linalg.vector_norm(flat_parameters(model).double() - theta0).item())

    log(0.0)
    for epoch in range(config["epochs"]):
        order = torch.randperm(n, generator=generator).to(x.device)
        for b in range(steps_per_epoch):
            index = order[b * batch:(b + 1) * batch]
            xb, yb = x[index], labels[index]
            start = time.process_time()
            try:
                _step(method, model, optimizer, xb, yb, config)
                failed = False
            except (ValueError, torch.linalg.LinAlgError):  # a solve or eigendecomposition of a blown-up net
                failed = True
            elapsed += time.process_time() - start
            step += 1
            if failed or not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                diverged = True
                log(epoch + (b + 1) / steps_per_epoch)
                break
            if (b + 1) % log_every == 0 or b + 1 == steps_per_epoch:
                diverged = log(epoch + (b + 1) / steps_per_epoch)
                if diverged:
                    break
        if diverged:
            break
        if probe_x is not None:
            measure()
    result = {**out, "diverged": diverged, "steps": step, "parameters": count_parameters(model),
              "method": method.value}
    if probe_x is not None:
        g0 = jacobian_gram(probe0)
        lambda0 = torch.linalg.eigvalsh(0.5 * (g0 + g0.T))[0].item()
        root = math.sqrt(lambda0) if lambda0 > 0 else 0.0
        result.update({f"probe_{k}": v for k, v in probe.items()})
        one_hot = F.one_hot(labels[:config["probe"]], data["classes"]).double()
        rho = 3 * torch.linalg.vector_norm(one_hot - probe0.outputs).item() / root if root else math.inf
        result.update({"probe_lambda0": lambda0, "probe_rho": rho,
                       **{f"c_prime{'' if k == 'total' else '_' + k}": (3 * max(v) / root if root and v else math.inf)
                          for k, v in probe.items() if k != "distance"}})
    return result

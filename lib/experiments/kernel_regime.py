"""Chapter 1 — the kernel regime: experiments and their sizes per profile.

Every experiment is a function of a JSON-like config (seeds included) returning plain Python
numbers and lists, so :class:`lib.cache.ResultsCache` can store it and a notebook can resume.

* :func:`empirical_vs_infinite` — distance of the empirical NTK at initialisation from the
  analytic kernel (one width, depth, seed);
* :func:`lazy_training` — train one MLP to a target loss and measure how far parameters,
  Jacobian and kernel moved; in the NTK-parametrization/GD setting also compare with the
  linearized network and the infinite-width NTK predictor;
* :func:`ntk_gp_picture` — the 1-D picture: NTK-GP mean and band vs finite nets;
* :func:`practical_cnn` — the same change measurements for a Wide ResNet trained as usual.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass

import torch

from lib.data import load_dataset
from lib.data.synthetic import regression_1d
from lib.data.tasks import image_regression_task
from lib.experiments import config_device
from lib.kernel_change import calibrate_batchnorm, measure_change
from lib.models import MLP, CenteredModel, WideResNet, count_parameters
from lib.ntk import (
    empirical_ntk,
    gradient_descent_mse,
    kernel_matrix,
    ntk_gp_posterior,
    relative_frobenius_error,
    relu_ntk,
)
from lib.profiles import pick_profile
from lib.training import accuracy, train, training_loss

#: Training set-ups compared in :func:`lazy_training`.
SETTINGS = {
    "ntk-gd": "NTK parametrization, full-batch gradient descent, η = N / λ_max(Θ̂₀)",
    "standard-sgd": "standard parametrization, SGD (batch 32, momentum 0.9, largest lr of 0.1, 0.03, 0.01, … "
                    "that does not diverge)",
    "standard-adam": "standard parametrization, Adam (batch 32, lr 1e-3)",
}


@dataclass(frozen=True)
class KernelRegimeSizes:
    """Sizes of Chapter 1's experiments for one profile."""

    # 1. empirical -> infinite NTK
    convergence_widths: tuple[int, ...]
    convergence_depths: tuple[int, ...]
    convergence_points: int
    convergence_seeds: int
    # 2./3. lazy training and linearization
    lazy_widths: tuple[int, ...]
    lazy_depth: int
    lazy_train: int
    lazy_test: int
    lazy_probe: int
    lazy_seeds: int
    lazy_target_loss: float
    lazy_max_steps: int
    # 3. the 1-D picture
    picture_widths: tuple[int, ...]
    picture_nets: int
    picture_train: int
    picture_steps: int
    # 4. a practical CNN
    cnn_widen_factor: int
    cnn_train: int
    cnn_epochs: int
    cnn_probe: int

    def as_dict(self) -> dict:
        return asdict(self)


SIZES = {
    "quick": KernelRegimeSizes(
        convergence_widths=(32, 128, 512), convergence_depths=(1, 2), convergence_points=16, convergence_seeds=2,
        lazy_widths=(32, 128, 512), lazy_depth=2, lazy_train=64, lazy_test=200, lazy_probe=8, lazy_seeds=1,
        lazy_target_loss=0.01, lazy_max_steps=400,
        picture_widths=(16, 256), picture_nets=2, picture_train=12, picture_steps=300,
        cnn_widen_factor=1, cnn_train=256, cnn_epochs=2, cnn_probe=4),
    "book": KernelRegimeSizes(
        convergence_widths=(32, 64, 128, 256, 512, 1024, 2048), convergence_depths=(1, 2, 3), convergence_points=32,
        convergence_seeds=3,
        lazy_widths=(64, 128, 256, 512, 1024), lazy_depth=2, lazy_train=128, lazy_test=500, lazy_probe=8,
        lazy_seeds=2, lazy_target_loss=0.01, lazy_max_steps=2000,
        picture_widths=(16, 128, 1024, 8192), picture_nets=4, picture_train=16, picture_steps=1000,
        cnn_widen_factor=4, cnn_train=512, cnn_epochs=4, cnn_probe=8),
    "paper": KernelRegimeSizes(
        convergence_widths=tuple(2**k for k in range(5, 15)), convergence_depths=(1, 2, 3, 5),
        convergence_points=64, convergence_seeds=10,
        lazy_widths=tuple(2**k for k in range(5, 14)), lazy_depth=3, lazy_train=1024, lazy_test=10000,
        lazy_probe=32, lazy_seeds=5, lazy_target_loss=0.01, lazy_max_steps=20000,
        picture_widths=(16, 128, 1024, 8192, 65536), picture_nets=20, picture_train=16, picture_steps=5000,
        cnn_widen_factor=10, cnn_train=10000, cnn_epochs=20, cnn_probe=16),
}


def sizes_for(profile: str) -> KernelRegimeSizes:
    """The size table of ``profile`` (``"quick"``, ``"book"`` or ``"paper"``)."""
    return pick_profile(SIZES, profile)


def empirical_vs_infinite(config: dict) -> dict:
    """Relative Frobenius distance ``‖Θ̂ − Θ∞‖_F / ‖Θ∞‖_F`` at initialisation (float64).

    Config: ``dataset``, ``points`` (inputs, from the training split, sphere-normalized),
    ``width``, ``depth``, ``seed`` (network), ``data_seed``; scalar output, NTK
    parametrization, ``σ_w² = 2, σ_b = 0`` — the setting of :func:`lib.ntk.relu_ntk`.
    """
    device = config_device(config)
    task = image_regression_task(config["dataset"], config["points"], 1, seed=config["data_seed"])
    x = task.x_train.to(device=device, dtype=torch.float64)
    model = MLP(x.shape[1], config["width"], config["depth"], 1, parametrization="ntk",
                generator=torch.Generator().manual_seed(config["seed"])).to(device=device, dtype=torch.float64)
    empirical = empirical_ntk(model, x, mode="trace")
    _, analytic = relu_ntk(x, depth=config["depth"])
    return {"relative_error": relative_frobenius_error(empirical, analytic)}


#: Learning-rate grid of the ``standard-sgd`` setting, tried from the largest down.
SGD_LEARNING_RATES = (0.1, 0.03, 0.01, 0.003, 0.001, 0.0003)


def lazy_training(config: dict) -> dict:
    """Train an MLP on a real-image regression task to a target loss; measure what moved.

    Config: ``dataset``, ``train``, ``test``, ``probe`` (sizes), ``width``, ``depth``,
    ``setting`` (a key of :data:`SETTINGS`), ``target_loss``, ``max_steps`` (optimizer steps),
    ``seed`` (network and mini-batch order), ``data_seed``, optional ``device``.

    Returns the training log summary, the relative changes of parameters, Jacobian (on the
    first ``probe`` training inputs) and kernel, train/test loss and accuracy, and for
    ``"ntk-gd"`` the linearized network's and the infinite-width NTK predictor's test outputs
    compared with the network's.
    """
    setting = config["setting"]
    if setting not in SETTINGS:
        raise ValueError(f"Unknown setting {setting!r}; valid: {', '.join(SETTINGS)}.")
    device = config_device(config)
    task = image_regression_task(config["dataset"], config["train"], config["test"],
                                 seed=config["data_seed"]).to(device)
    x, y, x_test = task.x_train, task.y_train, task.x_test
    n, k = y.shape
    generator = torch.Generator().manual_seed(config["seed"])  # initialisation; batches get their own
    parametrization = "ntk" if setting == "ntk-gd" else "standard"
    model = MLP(x.shape[1], config["width"], config["depth"], k, parametrization=parametrization,
                generator=generator).to(device)
    initial = copy.deepcopy(model)
    kernel0 = None
    if setting == "ntk-gd":  # half the stability limit 2N / λ_max of this network's NTK at θ₀
        kernel0 = empirical_ntk(model, x, mode="full").double()
        candidates: tuple[float, ...] = (n / torch.linalg.eigvalsh(kernel_matrix(kernel0)).max().item(),)
    elif setting == "standard-sgd":
        candidates = SGD_LEARNING_RATES
    else:
        candidates = (1e-3,)
    batch = None if setting == "ntk-gd" else 32
    for lr in candidates:
        model = copy.deepcopy(initial)
        log = train(model, x, y, loss="mse", optimizer="adam" if setting == "standard-adam" else "sgd",
                    learning_rate=lr, momentum=0.9 if setting == "standard-sgd" else 0.0,
                    max_steps=config["max_steps"], target_loss=config["target_loss"], batch_size=batch,
                    generator=torch.Generator().manual_seed(config["seed"]),
                    log_every=1 if batch is None else max(1, n // batch))
        if not log.diverged:
            break
    change = measure_change(model, initial, x[:config["probe"]])
    with torch.no_grad():
        out_test = model(x_test)
        result = dict(
            setting=setting, learning_rate=lr, steps=log.steps, reached_target=log.reached_target,
            diverged=log.diverged, seconds=log.seconds, losses=log.losses, logged_steps=log.logged_steps,
            train_loss=log.final_loss, train_accuracy=accuracy(model(x), task.labels_train),
            test_loss=training_loss(out_test, task.y_test, "mse").item(),
            test_accuracy=accuracy(out_test, task.labels_test), **change.as_dict(),
        )
    if setting == "ntk-gd" and not log.diverged:
        result.update(_linearized_comparison(initial, kernel0, x, y, x_test, task, lr, log.steps, config["depth"],
                                             out_test))
    return result


def _linearized_comparison(initial, k_train, x, y, x_test, task, lr: float, steps: int, depth: int,
                           out_test: torch.Tensor) -> dict:
    """The linearized network after the same GD steps (closed form with the empirical NTK at θ₀)
    and the infinite-width NTK predictor (kernel regression with Θ∞, mean over initialisations)."""
    n = x.shape[0]
    with torch.no_grad():
        f0_train, f0_test = initial(x).double(), initial(x_test).double()
    k_test = empirical_ntk(initial, x_test, x, mode="full").double()
    dynamics = gradient_descent_mse(k_train, y.double(), learning_rate=lr / n)  # mean loss -> sum convention
    lin_test = dynamics.test(f0_test, k_test, f0_train, steps, steps=True)
    _, t_train = relu_ntk(x.cpu(), depth=depth)
    _, t_test = relu_ntk(x_test.cpu(), x.cpu(), depth=depth)
    infinite = gradient_descent_mse(t_train, y.double().cpu(), learning_rate=lr / n)
    inf_test = infinite.test(torch.zeros_like(f0_test).cpu(), t_test, torch.zeros_like(f0_train).cpu(), steps,
                             steps=True).to(out_test.device)
    net = out_test.double()
    labels = task.labels_test

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return (torch.linalg.norm(a - b) / torch.linalg.norm(b)).item()

    return dict(
        linearized_test_accuracy=accuracy(lin_test, labels),
        linearized_test_loss=training_loss(lin_test, task.y_test.double(), "mse").item(),
        infinite_test_accuracy=accuracy(inf_test, labels),
        infinite_test_loss=training_loss(inf_test, task.y_test.double(), "mse").item(),
        net_vs_linearized=rel(net, lin_test),          # ‖f_net − f_lin‖ / ‖f_lin‖ on test inputs
        net_vs_infinite=rel(net, inf_test),            # includes the random f₀ term the mean omits
        prediction_agreement=(net.argmax(1) == lin_test.argmax(1)).double().mean().item(),
    )


def ntk_gp_picture(config: dict) -> dict:
    """Finite NTK-parametrized nets trained by GD on the 1-D problem vs the infinite-width NTK-GP.

    Config: ``train`` (points), ``widths``, ``nets`` (independent initialisations per width),
    ``steps`` (full-batch GD steps on the mean loss with η = N / λ_max(Θ∞(X, X)), half the
    infinite-width stability limit), ``depth``, ``sigma_b``, ``seed``. For every width and
    initialisation two nets are trained from the same θ₀: the plain net ``f`` (in the limit a
    sample of the NTK-GP) and the centred net ``f − f(·; θ₀)`` (in the limit the NTK-GP mean).
    The NTK-GP is taken after the same number of GD steps. Returns the data, the NTK-GP mean
    and standard deviation on the grid, all predictions on the grid, the final training
    losses, and per width the RMS distance of each centred net from the NTK-GP mean.
    """
    depth, sigma_b = config["depth"], config["sigma_b"]
    data = regression_1d(config["train"], generator=torch.Generator().manual_seed(config["seed"]))
    x, y, grid = data.x_train, data.y_train, data.x_grid
    kernels = [relu_ntk(a, b, depth=depth, sigma_b=sigma_b) for a, b in ((x, None), (grid, x), (grid, None))]
    n = x.shape[0]
    lr = n / torch.linalg.eigvalsh(kernels[0][1]).max().item()
    gp = ntk_gp_posterior(tuple(k[1] for k in kernels), tuple(k[0] for k in kernels), y, t=config["steps"],
                          learning_rate=lr / n, steps=True)   # mean loss with η = sum loss with η / N
    mean = gp.mean[:, 0]
    plain: dict[str, list[list[float]]] = {}
    centred: dict[str, list[list[float]]] = {}
    losses: dict[str, list[float]] = {}
    rms: dict[str, list[float]] = {}
    for width in config["widths"]:
        plain[str(width)], centred[str(width)], losses[str(width)], rms[str(width)] = [], [], [], []
        for i in range(config["nets"]):
            g = torch.Generator().manual_seed(config["seed"] * 100_003 + 1000 * i + width)
            net = MLP(1, width, depth, 1, parametrization="ntk", sigma_b=sigma_b, generator=g).double()
            for model, store in ((copy.deepcopy(net), plain), (CenteredModel(copy.deepcopy(net)), centred)):
                log = train(model, x, y, loss="mse", optimizer="sgd", learning_rate=lr, max_steps=config["steps"],
                            log_every=config["steps"])
                with torch.no_grad():
                    f = model(grid)[:, 0]
                store[str(width)].append(f.tolist())
                losses[str(width)].append(log.final_loss)
            rms[str(width)].append(torch.sqrt(((f - mean) ** 2).mean()).item())
    return dict(x_train=x[:, 0].tolist(), y_train=y[:, 0].tolist(), grid=grid[:, 0].tolist(),
                target=data.f_grid[:, 0].tolist(), gp_mean=mean.tolist(), gp_std=gp.std.tolist(), plain=plain,
                centred=centred, train_loss=losses, centred_rms_to_gp_mean=rms, learning_rate=lr,
                gp_std_rms=torch.sqrt((gp.std**2).mean()).item())


def practical_cnn(config: dict) -> dict:
    """A Wide ResNet trained the usual way; how far its parameters, Jacobian and kernel move.

    Config: ``dataset`` (an image dataset), ``widen_factor`` (WRN-16-k), ``train`` (samples),
    ``test``, ``epochs``, ``probe`` (kernel inputs, from the training subset), ``seed``,
    ``data_seed``, optional ``device``. Training: cross-entropy, SGD with momentum 0.9, lr 0.1,
    batch 128, weight decay 0 (the WRN recipe of Zagoruyko & Komodakis 2016 without decay
    or schedule). Inputs standardized with the training subset's pixel mean and std. Before
    the kernels are measured, both networks' BatchNorm statistics are set from the training
    subset (:func:`lib.kernel_change.calibrate_batchnorm`) and the models are in eval mode.
    """
    device = config_device(config)
    train_set = load_dataset(config["dataset"], "train")
    test_set = load_dataset(config["dataset"], "test")
    g = torch.Generator().manual_seed(config["data_seed"])
    tr = train_set.subset(torch.randperm(len(train_set), generator=g)[:config["train"]])
    te = test_set.subset(torch.randperm(len(test_set), generator=g)[:config["test"]])
    x, x_test = tr.features(), te.features()
    mu, sd = x.mean(), x.std()
    x, x_test = ((x - mu) / sd).to(device), ((x_test - mu) / sd).to(device)
    labels, labels_test = tr.y.to(device), te.y.to(device)
    torch.manual_seed(config["seed"])  # nn.Conv2d / nn.Linear initialise from the global RNG
    model = WideResNet(16, config["widen_factor"], train_set.num_classes, in_channels=x.shape[1]).to(device)
    initial = copy.deepcopy(model)
    steps = config["epochs"] * math.ceil(x.shape[0] / 128)
    start = time.perf_counter()
    model.train()
    log = train(model, x, labels, loss="cross_entropy", optimizer="sgd", learning_rate=0.1, momentum=0.9,
                max_steps=steps, batch_size=128, generator=torch.Generator().manual_seed(config["seed"]),
                log_every=math.ceil(x.shape[0] / 128), progress=config.get("progress", False),
                description=f"WRN-16-{config['widen_factor']}")
    seconds = time.perf_counter() - start
    calibrate_batchnorm(initial, x)
    calibrate_batchnorm(model, x)
    change = measure_change(model, initial, x[:config["probe"]], chunk_size=2)
    with torch.no_grad():
        return dict(parameters_count=count_parameters(model, trainable_only=False), steps=log.steps, seconds=seconds,
                    losses=log.losses, train_accuracy=accuracy(model(x), labels),
                    test_accuracy=accuracy(model(x_test), labels_test), **change.as_dict())

"""Chapter 2's configuration: tasks, options, size tables per profile, and the configs of every sweep.

Every config is a JSON-like dict (the cache key); ``device`` is the device type string.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from lib.experiments import optional_runs
from lib.jacobian_change import Activation
from lib.options import Option
from lib.profiles import pick_profile

#: Tasks: name -> (dataset, classes or None for all, description).
TASKS = {
    "mnist10": ("mnist", None, "MNIST, 10 classes"),
    "fashion10": ("fashion_mnist", None, "Fashion-MNIST, 10 classes"),
    "cifar10": ("cifar10", None, "CIFAR-10, 10 classes"),
}

#: Tasks that run only when their data is on disk and there is time (paper profile or a GPU).
OPTIONAL_TASKS = ("cifar10",)

#: Relative damping of every full-batch NGD step: ``λ = DAMPING · tr Θ / (NK)``.
DAMPING = 1e-6

#: First network seed of the tuning runs (``TUNING_SEED, TUNING_SEED + 1, …``, ``tuning_seeds`` of them; evaluation
#: seeds are ``seed, seed + 1, …``), so tuning never sees a reported seed.
TUNING_SEED = 1000

#: K-FAC's heavy-ball momentum and the decay of the running averages of its Kronecker factors (Martens & Grosse 2015
#: use ε = 0.95 for the factors; their momentum is adapted, ours fixed as SGD's).
KFAC_MOMENTUM = 0.9
KFAC_EMA = 0.95

#: Depth (conv layers) of the small CNN of conditions (C1) and (C2).
CNN_DEPTH = 3


class Race(Option):
    """Optimizers of the full-batch teaching race (squared loss, N = ``race_n``)."""

    NGD = "ngd", "natural gradient = Gauss-Newton, function-space step, η = 1 halved while the loss would rise"
    GD = "gd", "gradient descent, full batch, learning rate tuned on separate seeds"
    GD_STABLE = "gd-stable", "gradient descent at η = 1.9 N / λ_max(G₀), inside the linearized stability region"
    ADAM = "adam", "Adam, full batch, learning rate tuned on separate seeds"
    LINEARIZED = "linearized-ngd", "the linearized network trained with natural gradient (kernel-regime reference)"


class Method(Option):
    """Optimizers of the practical race (mini-batch, cross-entropy)."""

    SGD = "sgd", "SGD with heavy-ball momentum 0.9"
    ADAM = "adam", "Adam, PyTorch's β = (0.9, 0.999), ε = 1e-8"
    NGD = "ngd", "mini-batch natural gradient: the exact Fisher of the batch, damped, solved in function space"
    KFAC = "kfac", "K-FAC from curvlinops: running averages of the factors, damped (A ⊗ B + λI)⁻¹, momentum 0.9"


class Split(Option):
    """Where a practical run is evaluated."""

    VALIDATION = "validation", "held-out images of the training split, disjoint from the training images (tuning)"
    TEST = "test", "the official test split (reported runs)"


@dataclass(frozen=True)
class NaturalGradientSizes:
    """Sizes of Chapter 2's experiments for one profile (see :data:`SIZES`)."""

    task: str
    # (C1): Gram spectra at initialization
    gram_n: int
    gram_depths: tuple[int, ...]
    gram_widths: tuple[int, ...]
    cnn_channels: tuple[int, ...]
    gram_seeds: int
    # (C2): Jacobian change along NGD, split into activation and smooth parts
    stability_n: int
    stability_widths: tuple[int, ...]
    activations: tuple[str, ...]
    stability_seeds: int
    ngd_steps: int
    n_values: tuple[int, ...]          # C' against N at width n_width
    n_width: int
    deep_depths: tuple[int, ...]
    deep_widths: tuple[int, ...]
    cnn_stability_channels: tuple[int, ...]
    # full-batch teaching race
    race_n: int
    race_width: int
    race_seeds: int
    race_steps: int
    race_tuning_steps: int
    gd_rates: tuple[float, ...]
    race_adam_rates: tuple[float, ...]
    # practical race
    train: int
    validation: int
    test: int
    train_eval: int                    # training images on which the training loss is logged
    depth: int
    width: int
    batch: int
    epochs: int                        # epochs of every tuning run, and of NGD and K-FAC
    first_order_epochs: int            # epochs of the reported SGD and Adam runs (enough to span NGD's wall-clock time)
    logs_per_epoch: int
    seeds: int
    tuning_seeds: int                  # network seeds of every tuning run (race and practical), disjoint from `seeds`
    sgd_rates: tuple[float, ...]
    adam_rates: tuple[float, ...]
    ngd_rates: tuple[float, ...]
    ngd_dampings: tuple[float, ...]
    kfac_rates: tuple[float, ...]
    kfac_dampings: tuple[float, ...]
    kfac_every: int                    # K-FAC: steps between curvature updates
    probe: int                         # training images on which C' of the practical runs is measured

    def as_dict(self) -> dict:
        """The table as a plain dict."""
        return asdict(self)


SIZES = {
    "quick": NaturalGradientSizes(
        task="mnist10", gram_n=50, gram_depths=(1, 2), gram_widths=(16, 64, 256, 1024), cnn_channels=(8, 16),
        gram_seeds=2,
        stability_n=20, stability_widths=(256, 1024, 4096), activations=("relu", "softplus"), stability_seeds=3,
        ngd_steps=5, n_values=(10, 20, 40), n_width=1024, deep_depths=(2,), deep_widths=(256, 1024),
        cnn_stability_channels=(8, 16),
        race_n=50, race_width=512, race_seeds=2, race_steps=150, race_tuning_steps=50,
        gd_rates=(0.3, 1.0, 3.0, 10.0), race_adam_rates=(1e-3, 3e-3, 1e-2, 3e-2),
        train=2000, validation=1000, test=2000, train_eval=1000, depth=2, width=64, batch=128, epochs=2,
        first_order_epochs=10, logs_per_epoch=2, seeds=2, tuning_seeds=2, sgd_rates=(0.03, 0.1, 0.3),
        adam_rates=(3e-4, 1e-3, 3e-3), ngd_rates=(0.3,), ngd_dampings=(0.1, 1.0), kfac_rates=(0.01, 0.03, 0.1),
        kfac_dampings=(0.01, 0.1, 1.0), kfac_every=5, probe=20),
    "book": NaturalGradientSizes(
        task="mnist10", gram_n=200, gram_depths=(1, 2, 3), gram_widths=(16, 64, 256, 1024, 4096),
        cnn_channels=(8, 16, 32, 64), gram_seeds=3,
        stability_n=20, stability_widths=(256, 512, 1024, 2048, 4096, 8192, 16384), activations=("relu", "softplus"),
        stability_seeds=4, ngd_steps=6, n_values=(10, 20, 40), n_width=4096, deep_depths=(2, 3),
        deep_widths=(256, 512, 1024, 2048), cnn_stability_channels=(8, 16, 32),
        race_n=200, race_width=1024, race_seeds=3, race_steps=400, race_tuning_steps=200,
        gd_rates=(1.0, 3.0, 10.0), race_adam_rates=(3e-3, 1e-2, 3e-2),
        train=10000, validation=5000, test=10000, train_eval=2000, depth=2, width=128, batch=128, epochs=3,
        first_order_epochs=40, logs_per_epoch=4, seeds=4, tuning_seeds=2, sgd_rates=(0.01, 0.03, 0.1, 0.3),
        adam_rates=(3e-4, 1e-3, 3e-3, 1e-2),
        ngd_rates=(0.1, 0.3, 1.0), ngd_dampings=(0.01, 0.1, 1.0), kfac_rates=(0.01, 0.03, 0.1),
        kfac_dampings=(1e-3, 0.01, 0.1, 1.0),
        kfac_every=5, probe=50),
    "paper": NaturalGradientSizes(
        task="mnist10", gram_n=400, gram_depths=(1, 2, 3), gram_widths=tuple(2**k for k in range(4, 15, 2)),
        cnn_channels=(8, 16, 32, 64, 128), gram_seeds=5,
        stability_n=20, stability_widths=tuple(2**k for k in range(8, 17)), activations=("relu", "softplus", "gelu"),
        stability_seeds=5, ngd_steps=8, n_values=(10, 20, 40, 80, 160), n_width=16384, deep_depths=(2, 3),
        deep_widths=(256, 1024, 4096, 16384), cnn_stability_channels=(8, 16, 32, 64, 128),
        race_n=400, race_width=4096, race_seeds=5, race_steps=3000, race_tuning_steps=1000,
        gd_rates=(0.1, 0.3, 1.0, 3.0, 10.0), race_adam_rates=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2),
        train=50000, validation=10000, test=10000, train_eval=5000, depth=3, width=512, batch=256, epochs=10,
        first_order_epochs=100, logs_per_epoch=4, seeds=5, tuning_seeds=3,
        sgd_rates=(0.003, 0.01, 0.03, 0.1, 0.3), adam_rates=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
        ngd_rates=(0.1, 0.3, 1.0), ngd_dampings=(1e-3, 0.01, 0.1, 1.0), kfac_rates=(0.003, 0.01, 0.03, 0.1),
        kfac_dampings=(1e-3, 0.01, 0.1, 1.0), kfac_every=10, probe=100),
}


def sizes_for(profile: str) -> NaturalGradientSizes:
    """The size table of ``profile``."""
    return pick_profile(SIZES, profile)


def tasks_to_run(sizes: NaturalGradientSizes, *, profile: str, device: torch.device) -> tuple[list[str], list[str]]:
    """``(tasks, messages)``: the profile's task plus each optional task whose dataset is present and that is
    affordable (paper profile or CUDA); a message says why an optional task is skipped."""
    optional, messages = optional_runs({name: (TASKS[name][0], TASKS[name][2]) for name in OPTIONAL_TASKS},
                                       profile=profile, device=device)
    return [sizes.task] + optional, messages


def _seeds(count: int, first: int) -> list[int]:
    return list(range(first, first + count))


def gram_configs(sizes: NaturalGradientSizes, tasks: list[str], device: torch.device, *, first: int = 0) -> list[dict]:
    """(C1): one :func:`~lib.experiments.natural_gradient.runs.gram_spectrum` per architecture, depth, width and seed
    (MLPs of every depth on the main task, depth 1 on the optional tasks, the CNN on the main task)."""
    base = dict(n_train=sizes.gram_n, data_seed=first, device=device.type)
    out = [dict(base, task=t, architecture="mlp", depth=d, width=w, seed=s)
           for t in tasks for d in (sizes.gram_depths if t == sizes.task else sizes.gram_depths[:1])
           for w in sizes.gram_widths for s in _seeds(sizes.gram_seeds, first)]
    out += [dict(base, task=sizes.task, architecture="cnn", depth=CNN_DEPTH, width=c, seed=s)
            for c in sizes.cnn_channels for s in _seeds(sizes.gram_seeds, first)]
    return out


def infinite_configs(sizes: NaturalGradientSizes, tasks: list[str], device: torch.device, *,
                     first: int = 0) -> list[dict]:
    """The width → ∞ Gram spectrum of each MLP depth of :func:`gram_configs`."""
    return [dict(task=t, n_train=sizes.gram_n, data_seed=first, depth=d, device=device.type)
            for t in tasks for d in (sizes.gram_depths if t == sizes.task else sizes.gram_depths[:1])]


def _stability(sizes: NaturalGradientSizes, device: torch.device, first: int, **fields) -> dict:
    """A (C2) config; every repetition draws its own images (``data_seed`` = its network ``seed``)."""
    return dict(dict(task=sizes.task, n_train=sizes.stability_n, depth=1, activation="relu", steps=sizes.ngd_steps,
                     device=device.type), data_seed=fields["seed"], **fields)


def width_configs(sizes: NaturalGradientSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """(C2) against width: one :func:`~lib.experiments.natural_gradient.runs.stability_run` per activation, width and
    seed (one hidden layer, N = ``stability_n``)."""
    return [_stability(sizes, device, first, activation=Activation.parse(a).value, width=w, seed=s)
            for a in sizes.activations for w in sizes.stability_widths for s in _seeds(sizes.stability_seeds, first)]


def n_configs(sizes: NaturalGradientSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """(C2) against the number of training points N at widths ``n_width / 4`` and ``n_width`` (ReLU, one hidden
    layer): a joint (N, m) grid."""
    return [_stability(sizes, device, first, n_train=n, width=w, seed=s)
            for w in (sizes.n_width // 4, sizes.n_width) for n in sizes.n_values
            for s in _seeds(sizes.stability_seeds, first)]


def depth_configs(sizes: NaturalGradientSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """(C2) for deeper ReLU MLPs (``deep_depths`` hidden layers, ``deep_widths``)."""
    return [_stability(sizes, device, first, depth=d, width=w, seed=s)
            for d in sizes.deep_depths for w in sizes.deep_widths for s in _seeds(sizes.stability_seeds, first)]


def cnn_stability_configs(sizes: NaturalGradientSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """(C2) for the small CNN: the total Jacobian change from dense Jacobians (no split), 4 more NGD steps than the
    MLPs (it converges more slowly)."""
    return [dict(task=sizes.task, n_train=sizes.stability_n, data_seed=s, architecture="cnn", depth=CNN_DEPTH,
                 width=c, seed=s, steps=sizes.ngd_steps + 4, device=device.type)
            for c in sizes.cnn_stability_channels for s in _seeds(sizes.stability_seeds, first)]


def race_grids(sizes: NaturalGradientSizes) -> dict[str, list[dict]]:
    """Teaching race: per tuned :class:`Race` optimizer, the settings searched (``learning_rate``)."""
    return {Race.GD.value: [dict(learning_rate=lr) for lr in sizes.gd_rates],
            Race.ADAM.value: [dict(learning_rate=lr) for lr in sizes.race_adam_rates]}


def race_tuning_configs(sizes: NaturalGradientSizes, device: torch.device, *, first: int = 0,
                        settings: dict[str, list[dict]] | None = None) -> list[dict]:
    """Teaching race: GD and Adam at every setting of ``settings`` (default :func:`race_grids`; the chapter extends
    a grid whose pick sits on its edge) on each of the ``tuning_seeds`` tuning seeds."""
    settings = race_grids(sizes) if settings is None else settings
    return [dict(task=sizes.task, n_train=sizes.race_n, data_seed=first, depth=1, width=sizes.race_width,
                 seed=s, optimizer=name, steps=sizes.race_tuning_steps, device=device.type, **values)
            for name, grid in settings.items() for values in grid
            for s in _seeds(sizes.tuning_seeds, TUNING_SEED)]


def race_configs(sizes: NaturalGradientSizes, device: torch.device, learning_rates: dict, *,
                 first: int = 0) -> list[dict]:
    """Teaching race: every optimizer of :class:`Race` on the evaluation seeds (``learning_rates`` from tuning), and two
    NGD controls: the softplus network, and ReLU with the damping at 1e-12 instead of :data:`DAMPING`."""
    out = []
    for name in Race:
        second_order = name in (Race.NGD, Race.LINEARIZED)
        for s in _seeds(sizes.race_seeds, first):
            out.append(dict(task=sizes.task, n_train=sizes.race_n, data_seed=first, depth=1, width=sizes.race_width,
                            seed=s, optimizer=name.value, learning_rate=learning_rates.get(name.value),
                            steps=sizes.ngd_steps + 4 if second_order else sizes.race_steps, device=device.type))
    for variant in (dict(activation="softplus"), dict(damping=1e-12)):
        out += [dict(task=sizes.task, n_train=sizes.race_n, data_seed=first, depth=1, width=sizes.race_width, seed=s,
                     optimizer=Race.NGD.value, learning_rate=None, steps=sizes.ngd_steps + 4, device=device.type,
                     **variant) for s in _seeds(sizes.race_seeds, first)]
    return out


def _practical(sizes: NaturalGradientSizes, device: torch.device, first: int, **fields) -> dict:
    return dict(dict(task=sizes.task, train=sizes.train, validation=sizes.validation, test=sizes.test,
                     train_eval=sizes.train_eval, data_seed=first, depth=sizes.depth, width=sizes.width,
                     batch=sizes.batch, epochs=sizes.epochs, logs_per_epoch=sizes.logs_per_epoch, device=device.type),
                **fields)


def _cross(rates: tuple[float, ...], dampings: tuple[float, ...]) -> list[dict]:
    """A cross-shaped grid: every rate at the central damping, every damping at the central rate."""
    rate, damping = rates[len(rates) // 2], dampings[len(dampings) // 2]
    out = [dict(learning_rate=lr, damping=damping) for lr in rates]
    return out + [dict(learning_rate=rate, damping=d) for d in dampings if d != damping]


def grids(sizes: NaturalGradientSizes) -> dict[str, list[dict]]:
    """Per :class:`Method`, the hyperparameter settings searched (``learning_rate``, and ``damping`` for NGD/K-FAC):
    full grids, except for mini-batch NGD (the costliest method), whose grid is a cross (each hyperparameter varied
    at the other's central value)."""
    return {
        Method.SGD.value: [dict(learning_rate=lr) for lr in sizes.sgd_rates],
        Method.ADAM.value: [dict(learning_rate=lr) for lr in sizes.adam_rates],
        Method.NGD.value: _cross(sizes.ngd_rates, sizes.ngd_dampings),
        Method.KFAC.value: [dict(learning_rate=lr, damping=d, curvature_every=sizes.kfac_every,
                                 momentum=KFAC_MOMENTUM, ema=KFAC_EMA)
                            for lr in sizes.kfac_rates for d in sizes.kfac_dampings],
    }


def practical_tuning_configs(sizes: NaturalGradientSizes, device: torch.device, *, first: int = 0,
                             settings: dict[str, list[dict]] | None = None) -> list[dict]:
    """Practical race, tuning: every method at every setting of ``settings`` (default :func:`grids`; the chapter
    extends a grid whose pick sits on its edge), on each of the ``tuning_seeds`` tuning seeds (each its own draw of
    training and validation images), evaluated on the validation split."""
    settings = grids(sizes) if settings is None else settings
    return [_practical(sizes, device, first, method=m, seed=s, data_seed=s, split=Split.VALIDATION.value, probe=0,
                       **values)
            for m, grid in settings.items() for values in grid for s in _seeds(sizes.tuning_seeds, TUNING_SEED)]


def practical_configs(sizes: NaturalGradientSizes, device: torch.device, picks: dict, *, first: int = 0) -> list[dict]:
    """Practical race, reported runs: every method at its pick on the evaluation seeds, evaluated on the test split,
    with the Jacobian change measured on ``probe`` training images after every epoch. Each seed draws its own training
    images (``data_seed`` = ``seed``), shared by the methods, so the paired comparisons cover data draws too."""
    first_order = (Method.SGD, Method.ADAM)
    return [_practical(sizes, device, first, method=m.value, seed=s, data_seed=s, split=Split.TEST.value,
                       probe=sizes.probe,
                       **picks[m.value], **({"epochs": sizes.first_order_epochs} if m in first_order else {}))
            for m in Method for s in _seeds(sizes.seeds, first)]

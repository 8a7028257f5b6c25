"""Chapter 5's configuration: tasks, options, size tables per profile, and the configs of every sweep."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from lib.experiments import optional_runs
from lib.options import Option
from lib.profiles import pick_profile

#: Tasks: name -> (dataset, classes or None for all, description).
TASKS = {
    "mnist10": ("mnist", None, "MNIST, 10 classes"),
    "fashion_shirts": ("fashion_mnist", [0, 6], "Fashion-MNIST, T-shirt/top vs shirt"),
    "cifar10_binary": ("cifar10", [3, 5], "CIFAR-10, cat vs dog"),
}

#: Tasks that run only when their data is present and there is compute (paper profile or a GPU).
OPTIONAL_TASKS = ("cifar10_binary",)

#: The data draw that hyperparameters are tuned on (evaluation draws are 0, 1, …).
TUNING_DRAW = 1000

#: Mini-batch size of the Adam recipe.
BATCH = 128


class Recipe(Option):
    """How the trained network's function is defined (module docstring)."""

    UNCENTRED = "uncentred", "the network as initialised, carrying its random initial function f₀"
    CENTRED = "centred", "f − f₀: zero at initialization, the function the kernel predictors describe"


class Kernel(Option):
    """The kernel predictors."""

    EMPIRICAL = "empirical_ntk", "the network's empirical NTK at initialization, averaged over outputs"
    INFINITE = "infinite_ntk", "the infinite-width NTK of the same parametrization and width"


class Parametrization(Option):
    """Parametrizations of the width experiment (one hidden layer)."""

    STANDARD = "standard", "weights N(0, σ²/fan_in), gradients with respect to them"
    NTK = "ntk", "weights N(0, 1) scaled by σ/√fan_in in the forward pass"
    MEAN_FIELD = "mean_field", "NTK parametrization with the readout scaled by 1/width (μP for one hidden layer)"


class Split(Option):
    """Where errors are measured."""

    VALIDATION = "validation", "the validation split of the tuning draw"
    TEST = "test", "the test set of an evaluation draw"


@dataclass(frozen=True)
class ScalingSizes:
    """Sizes of Chapter 5's experiments for one profile (see :data:`SIZES`)."""

    task: str
    sizes: tuple[int, ...]              # nested training-set sizes n
    test: int                           # test images per data draw
    validation: int                     # validation images of the tuning draw
    depth: int
    width: int
    draws: int                          # evaluation data draws
    seeds: int                          # network seeds per draw
    learning_rates: tuple[float, ...]   # Adam grid
    steps: tuple[int, ...]              # early-stopping checkpoints (optimizer steps), the same at every n
    ridges: tuple[float, ...]           # relative ridges of the kernel predictors
    spectrum_points: int                # M of the eigendecomposition; the prediction is compared for n <= M/4
    width_sizes: tuple[int, ...]        # width experiment (one hidden layer, full-batch GD); figures use the largest
    widths: tuple[int, ...]
    width_seeds: int
    width_steps: int
    width_test: int
    evolution_train: int
    evolution_test: int
    evolution_checkpoints: int
    evolution_seeds: int

    def as_dict(self) -> dict:
        """The table as a plain dict."""
        return asdict(self)


SIZES = {
    "quick": ScalingSizes(task="mnist10", sizes=(64, 128, 256, 512), test=500, validation=500, depth=2, width=128,
                          draws=2, seeds=2, learning_rates=(1e-4, 1e-3, 1e-2), steps=(50, 100, 200),
                          ridges=(1e-6, 1e-3, 1e-1), spectrum_points=2048, width_sizes=(64,), widths=(64, 256),
                          width_seeds=2, width_steps=100, width_test=200, evolution_train=256, evolution_test=300,
                          evolution_checkpoints=5, evolution_seeds=2),
    "book": ScalingSizes(task="mnist10", sizes=(128, 256, 512, 1024, 2048), test=2000, validation=1000, depth=2,
                         width=256, draws=5, seeds=3, learning_rates=(1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2),
                         steps=(50, 100, 200, 400, 800, 1600), ridges=(1e-8, 1e-6, 1e-4, 1e-2, 1.0),
                         spectrum_points=4096, width_sizes=(128,), widths=(64, 128, 256, 512, 1024), width_seeds=4,
                         width_steps=300, width_test=500,
                         evolution_train=1024, evolution_test=1000, evolution_checkpoints=8, evolution_seeds=3),
    "paper": ScalingSizes(task="mnist10", sizes=tuple(2 ** k for k in range(7, 15)), test=10000, validation=5000,
                          depth=3, width=1024, draws=5, seeds=5, learning_rates=(1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3),
                          steps=(200, 400, 800, 1600, 3200, 6400, 12800), ridges=(1e-8, 1e-6, 1e-4, 1e-2, 1.0),
                          spectrum_points=20000, width_sizes=(1024,),
                          widths=(128, 512, 2048, 8192), width_seeds=5, width_steps=2000, width_test=2000,
                          evolution_train=8192, evolution_test=5000, evolution_checkpoints=16, evolution_seeds=5),
}


def sizes_for(profile: str) -> ScalingSizes:
    """The size table of ``profile``."""
    return pick_profile(SIZES, profile)


def tasks_to_run(sizes: ScalingSizes, *, profile: str, device: torch.device) -> tuple[list[str], list[str]]:
    """``(tasks, messages)``: the profile's task plus each optional task whose data is present and whose run is
    affordable (paper profile or CUDA); a message says why one is skipped."""
    optional, messages = optional_runs({name: (TASKS[name][0], TASKS[name][2]) for name in OPTIONAL_TASKS},
                                       profile=profile, device=device)
    return [sizes.task] + optional, messages




#: Network seed of the tuning runs (evaluation seeds are 0, 1, …).
TUNING_SEED = 1000


def _base(sizes: ScalingSizes, task: str, device: torch.device) -> dict:
    return dict(task=task, sizes=list(sizes.sizes), test=sizes.test, validation=sizes.validation,
                width=sizes.width, depth=sizes.depth, device=device.type)


def network_tuning_configs(sizes: ScalingSizes, task: str, device: torch.device) -> list[dict]:
    """One :func:`~lib.experiments.scaling_laws.runs.network_run` per recipe × learning rate on the tuning draw's
    validation split, trained for the largest step count with the validation error taken at every step count of
    the grid (early stopping; the pick of learning rate and steps is made per size)."""
    return [dict(_base(sizes, task, device), split=Split.VALIDATION.value, recipe=recipe.value,
                 schedule=[[n, lr, max(sizes.steps)] for n in sizes.sizes], checkpoints=list(sizes.steps),
                 seed=TUNING_SEED, data_seed=TUNING_DRAW)
            for recipe in Recipe for lr in sizes.learning_rates]


def kernel_tuning_configs(sizes: ScalingSizes, task: str, device: torch.device) -> list[dict]:
    """One :func:`~lib.experiments.scaling_laws.runs.kernel_run` per kernel on the tuning draw (all ridges)."""
    return [dict(_base(sizes, task, device), split=Split.VALIDATION.value, kernel=kernel.value,
                 ridges=list(sizes.ridges), seed=TUNING_SEED, data_seed=TUNING_DRAW) for kernel in Kernel]


def network_evaluation_configs(sizes: ScalingSizes, task: str, device: torch.device,
                               schedules: dict[str, list[list]], *, first: int = 0) -> list[dict]:
    """The tuned networks on every evaluation draw × seed × recipe (``schedules[recipe]``: ``[n, lr, steps]``
    rows from :func:`~lib.experiments.scaling_laws.analysis.pick_network_schedules`); order: recipe, draw,
    seed. Draws and seeds are ``first, first + 1, …`` (the notebook's ``seed`` parameter)."""
    return [dict(_base(sizes, task, device), split=Split.TEST.value, recipe=recipe.value,
                 schedule=schedules[recipe.value], seed=seed, data_seed=draw)
            for recipe in Recipe for draw in range(first, first + sizes.draws)
            for seed in range(first, first + sizes.seeds)]


def kernel_evaluation_configs(sizes: ScalingSizes, task: str, device: torch.device, *, first: int = 0) -> list[dict]:
    """Kernel regression on every evaluation draw: the empirical NTK for each seed, the infinite NTK once per
    draw (all ridges; the tuned ridge is read off afterwards). Order: empirical (draw, seed), then infinite
    (draw)."""
    base = dict(_base(sizes, task, device), split=Split.TEST.value, ridges=list(sizes.ridges))
    draws, seeds = range(first, first + sizes.draws), range(first, first + sizes.seeds)
    empirical = [dict(base, kernel=Kernel.EMPIRICAL.value, seed=seed, data_seed=draw)
                 for draw in draws for seed in seeds]
    infinite = [dict(base, kernel=Kernel.INFINITE.value, seed=first, data_seed=draw) for draw in draws]
    return empirical + infinite


def spectrum_configs(sizes: ScalingSizes, task: str, device: torch.device, ridges: dict[str, dict[int, float]], *,
                     first: int = 0) -> list[dict]:
    """Spectra of the empirical NTK (seed ``first``) and the infinite NTK on draw ``first``'s first
    ``spectrum_points`` training images, with the pool control (kernel regression on subsets of the pool, tested on
    the rest of it) at the sizes ``n ≤ M/4`` and each kernel's tuned ridges."""
    control = [n for n in sizes.sizes if 4 * n <= sizes.spectrum_points]
    return [dict(task=task, points=sizes.spectrum_points, kernel=kernel.value, width=sizes.width,
                 depth=sizes.depth, seed=first, data_seed=first, control_sizes=control,
                 control_ridges=[ridges[kernel.value][n] for n in control], control_repeats=3, device=device.type)
            for kernel in Kernel]


def width_configs(sizes: ScalingSizes, task: str, device: torch.device, *, c: float = 1.0,
                  first: int = 0) -> list[dict]:
    """The width experiment: parametrization × width × seed (order), on draw ``first``."""
    return [dict(task=task, sizes=list(sizes.width_sizes), test=sizes.width_test, width=width,
                 parametrization=p.value, steps=sizes.width_steps, c=c, seed=seed, data_seed=first,
                 device=device.type)
            for p in Parametrization for width in sizes.widths for seed in range(first, first + sizes.width_seeds)]


def evolution_configs(sizes: ScalingSizes, task: str, device: torch.device, *, learning_rate: float, steps: int,
                      ridges: dict[int, float], first: int = 0) -> list[dict]:
    """Kernel evolution of the centred network (tuned ``learning_rate``/``steps`` at ``n = evolution_train``),
    one per seed on draw ``first``; the after kernel is evaluated at every size with the empirical NTK's tuned
    ridge there (``ridges[n]``)."""
    return [dict(task=task, train=sizes.evolution_train, test=sizes.evolution_test, width=sizes.width,
                 depth=sizes.depth, learning_rate=learning_rate, steps=steps,
                 checkpoints=sizes.evolution_checkpoints, ridge=ridges[sizes.evolution_train], seed=seed,
                 data_seed=first, after_sizes=list(sizes.sizes), after_ridges=[ridges[n] for n in sizes.sizes],
                 block_points=min(256, sizes.evolution_train), device=device.type)
            for seed in range(first, first + sizes.evolution_seeds)]

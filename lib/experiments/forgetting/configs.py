"""Chapter 4's configuration: benchmarks, options, size tables per profile, and the configs of every sweep.

Conventions:

* a *benchmark run* is a task sequence of :mod:`lib.continual.benchmarks` plus a setting (``"domain"`` for
  RotatedMNIST, ``"task"`` for the Split benchmarks); :data:`RUNS` lists them;
* an *arm* (:class:`Arm`) is how the network is parametrized and how its learning rate is chosen;
* every sequence run trains with a fixed number of epochs per task (the profile's ``epochs``, e.g. 1, 3, 10) and
  records the training accuracy after every epoch, so steps to a training-accuracy target are known;
* hyperparameters are chosen on tuning runs (network seed :data:`TUNING_SEED` + k, data draw :data:`TUNING_DRAW`
  + k) that the evaluation (seeds and data draws ``first, first + 1, …``) never uses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from lib.continual import Budget
from lib.experiments import optional_runs
from lib.options import Option
from lib.profiles import pick_profile

#: The RotatedMNIST angles (degrees, counter-clockwise), one task each, in training order.
ANGLES = (0.0, 22.5, 45.0, 67.5, 90.0)

#: Mini-batch size of every MLP run.
BATCH = 32

#: Network seed and data draw of the first tuning run (evaluation seeds and draws are 0, 1, …).
TUNING_SEED = 1000
TUNING_DRAW = 1000

#: Training-accuracy target of the "converged" budget of the first version of this chapter.
TRAIN_TARGET = 0.99

#: Training-accuracy target of "steps to target" (10 epochs per task reach 94–99 % on 2000 rotated digits in the
#: book profile, so 99 % would say "never" at every width).
STEPS_TARGET = 0.95


class TaskBudget(Option):
    """Per-task budgets of the first version of this chapter (kept for :func:`budget_for`)."""

    ONE_EPOCH = "one-epoch", "one epoch per task (under-trained)"
    CONVERGED = "converged", "until 99 % training accuracy on the task (at most max_epochs epochs)"


#: Per-task training budgets: name -> description (alias of :class:`TaskBudget`; iterating gives the names).
BUDGETS: dict[str, str] = {budget.value: str(budget.__doc__) for budget in TaskBudget}


def budget_for(name: str | TaskBudget, max_epochs: int) -> Budget:
    """The :class:`lib.continual.Budget` of a :class:`TaskBudget` (or its name); ``ValueError`` listing them else."""
    budget = TaskBudget.parse(name, name="budget")
    if budget is TaskBudget.ONE_EPOCH:
        return Budget(epochs=1)
    return Budget(target_accuracy=TRAIN_TARGET, max_epochs=max_epochs)


class Arm(Option):
    """How the network is parametrized and how its learning rate is chosen."""

    FIXED = "standard-fixed", "standard parametrization, one learning rate for every width (the common protocol)"
    MATCHED = ("standard-matched",
               "standard parametrization, a learning rate per width tuned to a target learning accuracy")
    NTK = "ntk", "NTK parametrization, one learning rate for every width, tuned to the same target"
    MUP = ("mup", "μP (maximal update): the NTK parametrization with the readout scaled by √(32/m) and the learning "
           "rate by m/32 (base width 32), the base rate tuned per width to the same target (finite widths do not "
           "learn equally fast at one base rate); width does not make this network lazier")


#: Base width of the μP arm: at this width the μP network and its learning rate equal the NTK arm's.
MUP_BASE_WIDTH = 32


class Architecture(Option):
    """The network family of a run."""

    MLP = "mlp", "ReLU MLP, depth hidden layers of width m (lib.models.MLP)"
    WRN = "wrn", "WRN-16-k (lib.models.WideResNet), width = widen factor k; the recipe of lib.models.cnn.WRN_RECIPE"


#: The runs: name -> (benchmark, setting, architecture, description).
RUNS = {
    "rotated": ("rotated_mnist", "domain", "mlp", "RotatedMNIST, domain-incremental"),
    "split_mnist_task": ("split_mnist", "task", "mlp", "Split MNIST, task-incremental"),
    "split_cifar10_task": ("split_cifar10", "task", "wrn", "Split CIFAR-10, task-incremental (WRN-16-k)"),
    "split_cifar100_task": ("split_cifar100", "task", "wrn", "Split CIFAR-100, task-incremental (WRN-16-k)"),
    "split_tiny_imagenet_task": ("split_tiny_imagenet", "task", "wrn",
                                 "Split Tiny ImageNet, task-incremental (WRN-16-k)"),
}

#: Runs that need data this machine may not have, and a GPU (or the paper profile).
OPTIONAL_RUNS = ("split_cifar10_task", "split_cifar100_task", "split_tiny_imagenet_task")
WRN_RUNS = OPTIONAL_RUNS
WRN_DEPTH = 16

_DATASET = {"rotated_mnist": "mnist", "split_mnist": "mnist", "split_cifar10": "cifar10",
            "split_cifar100": "cifar100", "split_tiny_imagenet": "tiny_imagenet"}


@dataclass(frozen=True)
class ForgettingSizes:
    """Sizes of Chapter 4's experiments for one profile (see :data:`SIZES`)."""

    run: str                            # the main benchmark run (a key of RUNS)
    widths: tuple[int, ...]
    depth: int
    seeds: int                          # evaluation seeds; seed s also draws data draw s
    tuning_seeds: int
    n_train: int                        # training images per task
    n_test: int                         # test images per task
    epochs: tuple[int, ...]             # epochs per task, swept
    target: float                       # learning accuracy that the tuned learning rates aim for (1 epoch)
    fixed_lr: float                     # the learning rate of the standard-fixed arm
    matched_grid: tuple[float, ...]     # learning rates tried per width (standard parametrization)
    ntk_grid: tuple[float, ...]         # learning rates tried (NTK parametrization, one for all widths)
    probe_per_task: int                 # test images per task in the kernel probe
    kernel_times: tuple[float, ...]     # gradient-flow times of the kernel baseline (inf appended)
    overlap_points: int                 # inputs per task for the cross-task overlap
    mup_epochs: tuple[int, ...] = (1,)  # epochs per task of the μP arm (a subset of epochs)
    image_runs: tuple[str, ...] = OPTIONAL_RUNS
    wrn_widen_factors: tuple[int, ...] = (1, 2, 4, 8)
    image_train_per_class: int | None = None   # caps; None: every image
    image_test_per_class: int | None = None
    image_epochs: tuple[int, ...] = (1, 10)
    image_target: float = 0.8
    image_grid: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    image_seeds: int = 5

    def as_dict(self) -> dict:
        """The table as a plain dict."""
        return asdict(self)


def _times(low: int, high: int, per_decade: int = 2) -> tuple[float, ...]:
    return tuple(float(10 ** (k / per_decade)) for k in range(low * per_decade, high * per_decade + 1))


SIZES = {
    "quick": ForgettingSizes(run="rotated", widths=(32, 128, 512), depth=2, seeds=3, tuning_seeds=2, n_train=500,
                             n_test=500, epochs=(1, 3), target=0.6, fixed_lr=0.05,
                             matched_grid=(0.005, 0.02, 0.08, 0.32), ntk_grid=(2.0, 8.0, 32.0), probe_per_task=4,
                             kernel_times=_times(-1, 4, 2), overlap_points=100, image_epochs=(1,), image_seeds=3,
                             wrn_widen_factors=(1, 2), image_train_per_class=50, image_test_per_class=20),
    "book": ForgettingSizes(run="rotated", widths=(32, 64, 128, 256, 512), depth=2, seeds=5, tuning_seeds=3,
                            n_train=2000, n_test=500, epochs=(1, 3, 10), target=0.78, fixed_lr=0.05,
                            matched_grid=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16),
                            ntk_grid=(1.0, 2.0, 4.0, 8.0, 16.0), probe_per_task=8,
                            kernel_times=_times(-1, 5, 4), overlap_points=300, image_epochs=(1, 10),
                            image_train_per_class=None, image_test_per_class=None),
    "paper": ForgettingSizes(run="rotated", widths=tuple(2 ** k for k in range(5, 13)), depth=2, seeds=5,
                             tuning_seeds=3, n_train=10000, n_test=10000, epochs=(1, 3, 10), target=0.9,
                             fixed_lr=0.05, matched_grid=tuple(0.32 / 2 ** k for k in range(10))[::-1],
                             ntk_grid=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0), probe_per_task=16,
                             kernel_times=_times(-1, 5, 4), overlap_points=500, image_epochs=(1, 3, 10),
                             mup_epochs=(1, 3, 10),
                             image_train_per_class=None, image_test_per_class=None),
}


def sizes_for(profile: str) -> ForgettingSizes:
    """The size table of ``profile``."""
    return pick_profile(SIZES, profile)


def runs_to_do(sizes: ForgettingSizes, *, profile: str, device: torch.device) -> tuple[list[str], list[str]]:
    """``(image_runs, messages)``: each image run of the profile whose data is present and that is affordable
    (paper profile or CUDA); a message says why an image run is skipped."""
    candidates = {name: (_DATASET[RUNS[name][0]], RUNS[name][3]) for name in sizes.image_runs}
    return optional_runs(candidates, profile=profile, device=device)


def architecture_of(run: str) -> str:
    """``"wrn"`` for the image runs, else ``"mlp"``."""
    if run not in RUNS:
        raise ValueError(f"Unknown run {run!r}; valid: {', '.join(RUNS)}.")
    return RUNS[run][2]


def _base(sizes: ForgettingSizes, device: torch.device) -> dict:
    return dict(run=sizes.run, depth=sizes.depth, n_train=sizes.n_train, n_test=sizes.n_test,
                device=device.type)


def parametrization_of(arm: str | Arm) -> str:
    """``"ntk"`` for the NTK arm, ``"mup"`` for the μP arm, else ``"standard"``."""
    arm = Arm.parse(arm, name="arm")
    return {Arm.NTK: "ntk", Arm.MUP: "mup"}.get(arm, "standard")


#: Where the tuning runs' held-out images come from (a validation pool carved from MNIST-train; the evaluation
#: runs use the MNIST test split).
TUNING_HELD_OUT = "validation"


#: Factors around a first pick at which the tuning is refined (a quarter octave either side).
REFINE = (2 ** -0.25, 2 ** 0.25)

#: Factors of the picked learning rate at which the evaluation seeds also run one epoch per task: each seed then
#: has its own forgetting-against-learning-accuracy curve per width, read off at fixed learning accuracies.
FRONTIER = (2 ** -0.5, 1.0, 2 ** 0.5)


def tuning_configs(sizes: ForgettingSizes, device: torch.device, arm: str | Arm,
                   around: dict[int, float] | None = None) -> list[dict]:
    """One-epoch runs on the tuning seeds/draws: every width × learning rate × tuning seed. Learning rates: the
    arm's grid (the μP arm uses the NTK grid: at the base width the two networks are the same), or (``around``: a
    first pick per width) the refinement ``around[width] · REFINE``. Held-out images come from a validation pool
    of MNIST-train (:data:`TUNING_HELD_OUT`), never from the test split the evaluation uses."""
    arm = Arm.parse(arm, name="arm")
    grid = sizes.ntk_grid if arm in (Arm.NTK, Arm.MUP) else sizes.matched_grid

    def rates(width: int) -> list[float]:
        return list(grid) if around is None else [float(f"{around[width] * f:.6g}") for f in REFINE]

    return [dict(_base(sizes, device), arm=arm.value, parametrization=parametrization_of(arm), width=width,
                 learning_rate=lr, epochs=1, seed=TUNING_SEED + k, data_seed=TUNING_DRAW + k, probe_per_task=0,
                 held_out=TUNING_HELD_OUT)
            for width in sizes.widths for lr in rates(width) for k in range(sizes.tuning_seeds)]


def evaluation_configs(sizes: ForgettingSizes, device: torch.device, arm: str | Arm,
                       learning_rates: dict[int, float], *, epochs: tuple[int, ...] | None = None,
                       first: int = 0) -> list[dict]:
    """The arm at its picked learning rates (``learning_rates[width]``) on every evaluation seed; seed ``s`` also
    draws data draw ``s`` (resampled training and test images). Order: epochs, width, seed. Only the runs with the
    profile's fewest epochs per task carry the kernel probe (and record output drift): the chapter analyses
    kernel movement, overlap and drift there."""
    arm = Arm.parse(arm, name="arm")
    return [dict(_base(sizes, device), arm=arm.value, parametrization=parametrization_of(arm), width=width,
                 learning_rate=float(learning_rates[width]), epochs=e, seed=s, data_seed=s,
                 probe_per_task=sizes.probe_per_task if e == min(sizes.epochs) else 0)
            for e in (epochs or sizes.epochs) for width in sizes.widths for s in range(first, first + sizes.seeds)]


def frontier_configs(sizes: ForgettingSizes, device: torch.device, arm: str | Arm,
                     learning_rates: dict[int, float], *, first: int = 0) -> list[dict]:
    """One epoch per task at the picked rate × :data:`FRONTIER` for every width and evaluation seed (the factor-1
    runs are the evaluation runs themselves). Order: factor, width, seed."""
    arm = Arm.parse(arm, name="arm")
    return [dict(_base(sizes, device), arm=arm.value, parametrization=parametrization_of(arm), width=width,
                 learning_rate=float(learning_rates[width]) if f == 1.0 else float(f"{learning_rates[width] * f:.6g}"),
                 epochs=1, seed=s, data_seed=s, probe_per_task=sizes.probe_per_task if f == 1.0 else 0)
            for f in FRONTIER for width in sizes.widths for s in range(first, first + sizes.seeds)]


def linearized_configs(sizes: ForgettingSizes, device: torch.device, learning_rates: dict[int, float], *,
                       first: int = 0) -> list[dict]:
    """The control: the linearization of each matched network at initialization (``linearize=True``), trained
    with the same loss, optimizer, learning rate, batches and initial function, one epoch per task."""
    return [dict(_base(sizes, device), arm=Arm.MATCHED.value, parametrization="standard", width=width,
                 learning_rate=float(learning_rates[width]), epochs=1, seed=s, data_seed=s, probe_per_task=0,
                 linearize=True)
            for width in sizes.widths for s in range(first, first + sizes.seeds)]


def kernel_configs(sizes: ForgettingSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """The kernel baseline (analytic NTK of the same depth) on every evaluation data draw."""
    return [dict(run=sizes.run, depth=sizes.depth, n_train=sizes.n_train, n_test=sizes.n_test,
                 times=[*sizes.kernel_times, math.inf], overlap_points=sizes.overlap_points, data_seed=s,
                 device=device.type)
            for s in range(first, first + sizes.seeds)]


def image_tuning_configs(sizes: ForgettingSizes, device: torch.device, run: str) -> list[dict]:
    """WRN tuning runs of an image benchmark: widen factor × learning rate, one epoch, one tuning seed."""
    return [dict(run=run, arm=Arm.MATCHED.value, parametrization="standard", width=k, depth=WRN_DEPTH,
                 n_train=sizes.image_train_per_class, n_test=sizes.image_test_per_class, learning_rate=lr, epochs=1,
                 seed=TUNING_SEED, data_seed=TUNING_DRAW, probe_per_task=0, device=device.type)
            for k in sizes.wrn_widen_factors for lr in sizes.image_grid]


def image_evaluation_configs(sizes: ForgettingSizes, device: torch.device, run: str,
                             learning_rates: dict[int, float], *, first: int = 0) -> list[dict]:
    """WRN evaluation runs of an image benchmark: epochs × widen factor × seed at the picked learning rates."""
    return [dict(run=run, arm=Arm.MATCHED.value, parametrization="standard", width=k, depth=WRN_DEPTH,
                 n_train=sizes.image_train_per_class, n_test=sizes.image_test_per_class,
                 learning_rate=float(learning_rates[k]), epochs=e, seed=s, data_seed=s, probe_per_task=0,
                 device=device.type)
            for e in sizes.image_epochs for k in sizes.wrn_widen_factors
            for s in range(first, first + sizes.image_seeds)]

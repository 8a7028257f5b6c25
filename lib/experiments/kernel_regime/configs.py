"""Chapter 1's configuration: options, size tables per profile, and the configs of every sweep.

Every config is a JSON-like dict; the experiment functions in :mod:`~lib.experiments.kernel_regime.runs` take one
and return plain numbers and lists, so :meth:`lib.cache.ResultsCache.sweep` can store them (and a distributed
runner can send them by reference).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from lib.options import Option
from lib.profiles import pick_profile

#: Network seed and data draw of every tuning run (evaluation seeds and draws are 0, 1, …).
TUNING_SEED = 1000

#: Mini-batch size of SGD and Adam in the factorial design.
BATCH = 32

#: The equal-loss control: the kernel is also measured when a run's full training loss first falls to this value
#: (a third of the initial loss 0.45 of every centred network on centred one-hot targets, checked every
#: :data:`TARGET_EVERY` steps).
TARGET_LOSS = 0.15
TARGET_EVERY = 5

#: The control arms of the factorial design run on the NTK-parametrized network under GD at this ``c``.
CONTROL_RATE = 1.0


class Parametrization(Option):
    """How the one-hidden-layer networks of the factorial design scale their layers (all bias-free, centred)."""

    STANDARD = "standard", "weights N(0, 2/fan_in), gradients with respect to them: NTK grows ∝ width"
    NTK = "ntk", "weights N(0, 1) times √(2/fan_in) in the forward pass: NTK is O(1) in width"
    MUP = "mup", "μP (mean-field) for one hidden layer: NTK parametrization with the readout scaled by 1/width"


class Activation(Option):
    """Hidden-layer nonlinearity (the design's networks use ReLU; GELU is the smooth control)."""

    RELU = "relu", "max(0, h): piecewise linear, units can switch off (finite-width kernel changes ∝ activation flips)"
    GELU = "gelu", "h Φ(h): smooth, no dead units (finite-width theory: relative kernel change O(1/width))"


class Control(Option):
    """Control arms of the factorial design (NTK parametrization, GD at :data:`CONTROL_RATE`)."""

    GELU = "gelu", "the centred network with a smooth activation (GELU) instead of ReLU"
    UNCENTRED = "uncentred", "the ReLU network trained as f, not f − f₀ (it carries its random initial function)"


class Optimizer(Option):
    """Optimizers of the factorial design (no momentum, no weight decay)."""

    GD = "gd", "full-batch gradient descent, η = c · 2N/λ_max(Θ̂₀)"
    SGD = "sgd", f"mini-batch SGD (batch {BATCH}), η = c · 2N/λ_max(Θ̂₀)"
    ADAM = "adam", f"Adam (batch {BATCH}, β = (0.9, 0.999)), absolute learning rate"


@dataclass(frozen=True)
class KernelRegimeSizes:
    """Sizes of Chapter 1's experiments for one profile (see :data:`SIZES`)."""

    # 1. empirical -> infinite NTK at initialization
    convergence_widths: tuple[int, ...]
    convergence_depths: tuple[int, ...]
    convergence_points: int
    convergence_seeds: int
    # 2. the factorial design: parametrization x optimizer x width
    dataset: str
    pool: int                            # average-pool factor of the 28x28 images (2: 14x14 = 196 inputs)
    train: int
    test: int
    probe: int                           # training inputs the kernel change is measured on
    widths: tuple[int, ...]
    steps: int                           # optimizer steps of every run
    seeds: int                           # evaluation seeds (each its own data draw)
    rate_grid: tuple[float, ...]         # GD/SGD: c in η = c · 2N/λ_max(Θ̂₀), tuning grid
    adam_grid: tuple[float, ...]         # Adam learning rates, tuning grid
    fixed_rates: tuple[float, ...]       # GD/SGD: every cell is also evaluated at each of these c
    # 3. lazy -> catapult -> divergence
    catapult_width: int
    catapult_train: int
    catapult_rates: tuple[float, ...]    # c in η = c · 2N/λ_max(Θ̂₀)
    catapult_steps: int
    catapult_every: int                  # λ_max(Θ_t) is tracked every this many steps
    catapult_seeds: int
    catapult_gelu_rates: tuple[float, ...]        # the GELU control of the catapult sweep
    catapult_uncentred_rates: tuple[float, ...]   # the uncentred control
    # 4. output scale α at fixed width
    alpha_width: int
    alphas: tuple[float, ...]
    alpha_steps: int
    alpha_seeds: int
    alpha_gelu: tuple[float, ...]        # α of the GELU control
    # 5. networks against the NTK-GP (1-D problem)
    gp_widths: tuple[int, ...]
    gp_nets: int
    gp_train: int
    gp_steps: int
    # 6. a Wide ResNet on a real schedule
    wrn_widen_factor: int
    wrn_train: int
    wrn_test: int
    wrn_epochs: int
    wrn_probe: int
    wrn_checkpoints: int
    wrn_baseline_inits: int              # independent initializations whose kernels give the 1 − CKA noise floor

    def as_dict(self) -> dict:
        """The table as a plain dict."""
        return asdict(self)


SIZES = {
    "quick": KernelRegimeSizes(
        convergence_widths=(32, 128, 512), convergence_depths=(1, 2), convergence_points=16, convergence_seeds=3,
        dataset="mnist", pool=2, train=128, test=500, probe=32, widths=(64, 512), steps=100, seeds=3,
        rate_grid=(0.5, 1.0, 2.0, 4.0), adam_grid=(1e-3, 3e-3, 1e-2, 3e-2, 1e-1), fixed_rates=(0.5, 1.0, 2.0),
        catapult_width=256, catapult_train=64, catapult_rates=(0.5, 1.5, 3.0, 12.0), catapult_steps=80,
        catapult_every=5, catapult_seeds=2, catapult_gelu_rates=(0.5, 3.0), catapult_uncentred_rates=(3.0,),
        alpha_width=256, alphas=(0.1, 1.0, 10.0), alpha_steps=100, alpha_seeds=2, alpha_gelu=(0.1, 10.0),
        gp_widths=(16, 256, 2048), gp_nets=6, gp_train=12, gp_steps=300,
        wrn_widen_factor=1, wrn_train=256, wrn_test=500, wrn_epochs=3, wrn_probe=8, wrn_checkpoints=3,
        wrn_baseline_inits=1),
    "book": KernelRegimeSizes(
        convergence_widths=(32, 64, 128, 256, 512, 1024, 2048), convergence_depths=(1, 2, 3), convergence_points=32,
        convergence_seeds=4,
        dataset="mnist", pool=2, train=256, test=1000, probe=64, widths=(64, 128, 256, 512, 1024), steps=300,
        seeds=4, rate_grid=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
        adam_grid=(1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0), fixed_rates=(0.5, 1.0, 2.0),
        catapult_width=1024, catapult_train=128, catapult_rates=(0.5, 0.9, 1.2, 1.6, 2.2, 3.0, 4.0, 6.0, 9.0),
        catapult_steps=300, catapult_every=5, catapult_seeds=3, catapult_gelu_rates=(0.5, 2.2, 4.0),
        catapult_uncentred_rates=(2.2,),
        alpha_width=1024, alphas=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0), alpha_steps=400, alpha_seeds=3,
        alpha_gelu=(0.03, 0.3, 3.0, 30.0),
        gp_widths=(16, 64, 256, 1024, 4096), gp_nets=16, gp_train=16, gp_steps=1000,
        wrn_widen_factor=2, wrn_train=1024, wrn_test=1000, wrn_epochs=15, wrn_probe=16, wrn_checkpoints=6,
        wrn_baseline_inits=2),
    "paper": KernelRegimeSizes(
        convergence_widths=tuple(2**k for k in range(5, 15)), convergence_depths=(1, 2, 3, 5),
        convergence_points=64, convergence_seeds=10,
        dataset="mnist", pool=1, train=2048, test=10000, probe=128, widths=tuple(2**k for k in range(6, 14)),
        steps=4000, seeds=5, rate_grid=(0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
        adam_grid=(3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0), fixed_rates=(0.5, 1.0, 2.0),
        catapult_width=8192, catapult_train=512, catapult_rates=(0.5, 0.9, 1.2, 1.6, 2.2, 3.0, 4.0, 6.0, 9.0, 12.0),
        catapult_steps=2000, catapult_every=10, catapult_seeds=5, catapult_gelu_rates=(0.5, 1.6, 2.2, 3.0, 4.0, 6.0),
        catapult_uncentred_rates=(0.5, 2.2, 4.0),
        alpha_width=4096, alphas=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0), alpha_steps=4000,
        alpha_seeds=5, alpha_gelu=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0),
        gp_widths=(16, 128, 1024, 8192, 65536), gp_nets=64, gp_train=16, gp_steps=5000,
        wrn_widen_factor=10, wrn_train=50000, wrn_test=10000, wrn_epochs=200, wrn_probe=64, wrn_checkpoints=10,
        wrn_baseline_inits=4),
}


def sizes_for(profile: str) -> KernelRegimeSizes:
    """The size table of ``profile`` (``"quick"``, ``"book"`` or ``"paper"``)."""
    return pick_profile(SIZES, profile)


def _task(sizes: KernelRegimeSizes) -> dict:
    return dict(dataset=sizes.dataset, pool=sizes.pool, train=sizes.train, test=sizes.test, probe=sizes.probe)


def convergence_configs(sizes: KernelRegimeSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """Empirical vs analytic NTK: depth × width × seed (order), MNIST points of data draw ``first``."""
    return [dict(dataset="mnist", points=sizes.convergence_points, width=w, depth=depth, seed=s, data_seed=first,
                 device=device.type)
            for depth in sizes.convergence_depths for w in sizes.convergence_widths
            for s in range(first, first + sizes.convergence_seeds)]


def _grid(sizes: KernelRegimeSizes, optimizer: Optimizer) -> tuple[float, ...]:
    return sizes.adam_grid if optimizer is Optimizer.ADAM else sizes.rate_grid


def tuning_configs(sizes: KernelRegimeSizes, device: torch.device) -> list[dict]:
    """Every parametrization × optimizer × width × learning rate of its grid, on the tuning seed and draw
    (:data:`TUNING_SEED`, disjoint from the evaluation seeds)."""
    return [dict(_task(sizes), parametrization=p.value, optimizer=o.value, width=w, rate=rate, steps=sizes.steps,
                 seed=TUNING_SEED, data_seed=TUNING_SEED, device=device.type)
            for p in Parametrization for o in Optimizer for w in sizes.widths for rate in _grid(sizes, o)]


def evaluation_rates(sizes: KernelRegimeSizes, optimizer: Optimizer | str, pick: float) -> list[float]:
    """The rates a cell is evaluated at: for GD/SGD the fixed ``c`` of the design plus the tuned pick; for Adam the
    pick."""
    if Optimizer(optimizer) is Optimizer.ADAM:
        return [pick]
    return sorted(set(sizes.fixed_rates) | {pick})


def evaluation_configs(sizes: KernelRegimeSizes, device: torch.device, picks: dict[tuple[str, str], float], *,
                       first: int = 0) -> list[dict]:
    """Every cell on every evaluation seed at each of its rates (:func:`evaluation_rates`; ``picks[(parametrization,
    optimizer)]`` is the cell's tuned rate, one for all widths); seed ``s`` also draws its own data (draw ``s``).
    Order: parametrization, optimizer, rate, width, seed."""
    return [dict(_task(sizes), parametrization=p.value, optimizer=o.value, width=w, rate=rate, steps=sizes.steps,
                 seed=s, data_seed=s, device=device.type)
            for p in Parametrization for o in Optimizer
            for rate in evaluation_rates(sizes, o, picks[(p.value, o.value)])
            for w in sizes.widths for s in range(first, first + sizes.seeds)]


def control_configs(sizes: KernelRegimeSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """The control arms (:class:`Control`) on the NTK-parametrized network under GD at ``c =`` :data:`CONTROL_RATE`,
    every width × evaluation seed (the same seeds and data draws as the design, so each pairs with its ReLU, centred
    twin). Order: control, width, seed."""
    arms = {Control.GELU: dict(activation=Activation.GELU.value), Control.UNCENTRED: dict(centred=False)}
    return [dict(_task(sizes), parametrization=Parametrization.NTK.value, optimizer=Optimizer.GD.value, width=w,
                 rate=CONTROL_RATE, steps=sizes.steps, seed=s, data_seed=s, device=device.type, control=arm.value,
                 **arms[arm])
            for arm in Control for w in sizes.widths for s in range(first, first + sizes.seeds)]


def catapult_configs(sizes: KernelRegimeSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """Full-batch GD on the NTK-parametrized net at each rate ``c · 2N/λ_max(Θ̂₀)`` × seed (order): the centred ReLU
    network at every rate of the sweep, then the controls — GELU (``activation``) at ``catapult_gelu_rates`` and the
    uncentred ReLU network (``centred=False``) at ``catapult_uncentred_rates``, on the same seeds and draws."""
    base = dict(dataset=sizes.dataset, pool=sizes.pool, train=sizes.catapult_train, test=sizes.test,
                probe=min(sizes.probe, sizes.catapult_train), parametrization=Parametrization.NTK.value,
                width=sizes.catapult_width, steps=sizes.catapult_steps, every=sizes.catapult_every,
                device=device.type)
    seeds = range(first, first + sizes.catapult_seeds)
    arms = [(c, {}) for c in sizes.catapult_rates]
    arms += [(c, dict(activation=Activation.GELU.value)) for c in sizes.catapult_gelu_rates]
    arms += [(c, dict(centred=False)) for c in sizes.catapult_uncentred_rates]
    return [dict(base, rate=c, seed=s, data_seed=s, **extra) for c, extra in arms for s in seeds]


def alpha_configs(sizes: KernelRegimeSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """The output-scale sweep: ``α (f − f₀)`` with the NTK-parametrized net at fixed width, full-batch GD at
    ``η = ½ · 2N/λ_max(α² Θ̂₀)``; α × seed (order), ReLU, then the GELU control at ``alpha_gelu``."""
    seeds = range(first, first + sizes.alpha_seeds)
    arms = [(a, "relu") for a in sizes.alphas] + [(a, Activation.GELU.value) for a in sizes.alpha_gelu]
    return [dict(_task(sizes), width=sizes.alpha_width, alpha=a, rate=0.5, steps=sizes.alpha_steps, seed=s,
                 data_seed=s, device=device.type, **({} if act == "relu" else {"activation": act}))
            for a, act in arms for s in seeds]


def gp_config(sizes: KernelRegimeSizes, *, first: int = 0) -> list[dict]:
    """One NTK-GP comparison per width on the 1-D problem (data seed ``first``; nets ``0 … gp_nets − 1``)."""
    return [dict(train=sizes.gp_train, width=w, nets=sizes.gp_nets, steps=sizes.gp_steps, depth=1, sigma_b=0.5,
                 seed=first) for w in sizes.gp_widths]


def wrn_config(sizes: KernelRegimeSizes, device: torch.device, *, first: int = 0) -> list[dict]:
    """The Wide ResNet on Fashion-MNIST with a warm-up + cosine schedule (one seed)."""
    return [dict(dataset="fashion_mnist", widen_factor=sizes.wrn_widen_factor, train=sizes.wrn_train,
                 test=sizes.wrn_test, epochs=sizes.wrn_epochs, probe=sizes.wrn_probe,
                 checkpoints=sizes.wrn_checkpoints, learning_rate=0.1, momentum=0.9, weight_decay=5e-4, batch=128,
                 warmup_epochs=1, baseline_inits=sizes.wrn_baseline_inits, seed=first, data_seed=first,
                 device=device.type)]

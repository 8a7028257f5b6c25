"""Chapter 1 — the kernel regime: what makes a network lazy.

* :mod:`~lib.experiments.kernel_regime.configs` — options, sizes per profile, the configs of every sweep;
* :mod:`~lib.experiments.kernel_regime.runs` — the experiments (pure functions of a config, cacheable);
* :mod:`~lib.experiments.kernel_regime.kernels` — the one-hidden-layer NTK in closed form and kernel regression
  (the after-kernel test);
* :mod:`~lib.experiments.kernel_regime.analysis` — learning-rate picks with grid-edge warnings, width trends,
  calibration against the NTK-GP;
* :mod:`~lib.experiments.kernel_regime.chapter` — the stages the notebook calls, their summaries, and
  :func:`~lib.experiments.kernel_regime.chapter.run_chapter`.
"""

from lib.experiments.kernel_regime.analysis import (
    Pick,
    calibration,
    factorial_slices,
    pick_rates,
    picks_table,
    width_trends,
)
from lib.experiments.kernel_regime.configs import (
    BATCH,
    CONTROL_RATE,
    SIZES,
    TARGET_LOSS,
    TUNING_SEED,
    Activation,
    Control,
    KernelRegimeSizes,
    Optimizer,
    Parametrization,
    alpha_configs,
    catapult_configs,
    control_configs,
    convergence_configs,
    evaluation_configs,
    gp_config,
    sizes_for,
    tuning_configs,
    wrn_config,
)
from lib.experiments.kernel_regime.kernels import kernel_regression_accuracy, one_hidden_layer_ntk
from lib.experiments.kernel_regime.runs import (
    alpha_run,
    catapult_run,
    empirical_vs_infinite,
    factorial_run,
    gp_run,
    load_task,
    make_network,
    wrn_run,
)

__all__ = [
    "BATCH", "CONTROL_RATE", "SIZES", "TARGET_LOSS", "TUNING_SEED", "Activation", "Control", "KernelRegimeSizes",
    "Optimizer", "Parametrization", "Pick", "alpha_configs", "control_configs", "kernel_regression_accuracy",
    "one_hidden_layer_ntk",
    "alpha_run", "calibration", "catapult_configs", "catapult_run", "convergence_configs", "empirical_vs_infinite",
    "evaluation_configs", "factorial_slices", "factorial_run", "gp_config", "gp_run", "load_task", "make_network",
    "pick_rates", "picks_table", "sizes_for", "tuning_configs", "width_trends", "wrn_config", "wrn_run",
]

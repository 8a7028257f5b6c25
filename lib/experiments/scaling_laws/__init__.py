"""Chapter 5 — NTK and generalization: data-scaling laws of networks and their kernels.

* :mod:`~lib.experiments.scaling_laws.configs` — tasks, options, sizes per profile, the configs of every sweep;
* :mod:`~lib.experiments.scaling_laws.runs` — the experiments (pure functions of a config, cacheable);
* :mod:`~lib.experiments.scaling_laws.analysis` — picks, error arrays, exponents and paired comparisons.
"""

from lib.experiments.scaling_laws.analysis import (
    LearnerRuns,
    Pick,
    exponents,
    fit_range_sensitivity,
    learner_runs,
    paired_by_draw,
    pick_network_schedules,
    pick_ridges,
    picks_table,
)
from lib.experiments.scaling_laws.configs import (
    BATCH,
    OPTIONAL_TASKS,
    SIZES,
    TASKS,
    TUNING_DRAW,
    TUNING_SEED,
    Kernel,
    Parametrization,
    Recipe,
    ScalingSizes,
    Split,
    evolution_configs,
    kernel_evaluation_configs,
    kernel_tuning_configs,
    network_evaluation_configs,
    network_tuning_configs,
    sizes_for,
    spectrum_configs,
    tasks_to_run,
    width_configs,
)
from lib.experiments.scaling_laws.runs import (
    evolution_run,
    fit_network,
    infinite_ntk,
    kernel_run,
    load_task,
    make_network,
    network_run,
    output_averaged_ntk,
    spectrum_run,
    width_run,
)

__all__ = [
    "BATCH", "OPTIONAL_TASKS", "SIZES", "TASKS", "TUNING_DRAW", "TUNING_SEED", "Kernel", "LearnerRuns",
    "Parametrization", "Pick", "Recipe", "ScalingSizes", "Split", "evolution_configs", "evolution_run", "exponents",
    "fit_network", "fit_range_sensitivity", "infinite_ntk", "kernel_evaluation_configs", "kernel_run",
    "kernel_tuning_configs", "learner_runs", "load_task", "make_network", "network_evaluation_configs",
    "network_run", "network_tuning_configs", "output_averaged_ntk", "paired_by_draw", "pick_network_schedules",
    "pick_ridges", "picks_table", "sizes_for", "spectrum_configs", "spectrum_run", "tasks_to_run", "width_configs",
    "width_run",
]

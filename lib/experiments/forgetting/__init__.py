"""Chapter 4 — catastrophic forgetting: do wider networks forget less? (Mirzadeh et al. 2022; Wenger, Dangel &
Kristiadi 2023, Sec. 5.)

* :mod:`~lib.experiments.forgetting.configs` — benchmarks, arms, sizes per profile, the configs of every sweep;
* :mod:`~lib.experiments.forgetting.runs` — the experiments (pure functions of a config, cacheable);
* :mod:`~lib.experiments.forgetting.analysis` — learning-rate picks, arrays over widths, steps to target, pairs;
* :mod:`~lib.experiments.forgetting.chapter` — the stages of the notebook and the numbers its text cites.
"""

from lib.experiments.forgetting.analysis import Pick, pick_learning_rates, steps_to_target
from lib.experiments.forgetting.configs import (
    ANGLES,
    BATCH,
    BUDGETS,
    MUP_BASE_WIDTH,
    OPTIONAL_RUNS,
    RUNS,
    SIZES,
    TRAIN_TARGET,
    TUNING_DRAW,
    TUNING_SEED,
    WRN_DEPTH,
    WRN_RUNS,
    Architecture,
    Arm,
    ForgettingSizes,
    TaskBudget,
    architecture_of,
    budget_for,
    evaluation_configs,
    image_evaluation_configs,
    image_tuning_configs,
    kernel_configs,
    runs_to_do,
    sizes_for,
    tuning_configs,
)
from lib.experiments.forgetting.runs import (
    build_model,
    effective_learning_rate,
    kernel_run,
    load_sequence,
    mup_factor,
    ntk_diagonal,
    sequence_run,
)

__all__ = [
    "ANGLES", "BATCH", "BUDGETS", "MUP_BASE_WIDTH", "OPTIONAL_RUNS", "RUNS", "SIZES", "TRAIN_TARGET", "TUNING_DRAW",
    "TUNING_SEED", "WRN_DEPTH", "WRN_RUNS", "Arm", "Architecture", "ForgettingSizes", "Pick", "TaskBudget",
    "architecture_of", "budget_for", "build_model", "effective_learning_rate", "mup_factor", "evaluation_configs",
    "image_evaluation_configs", "image_tuning_configs", "kernel_configs", "kernel_run", "load_sequence",
    "ntk_diagonal", "pick_learning_rates", "runs_to_do", "sequence_run", "sizes_for", "steps_to_target",
    "tuning_configs",
]

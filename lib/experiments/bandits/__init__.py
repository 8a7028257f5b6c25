"""Chapter 3 — neural contextual bandits: is NTK-based uncertainty useful for exploration?
(Zhou et al. 2020; Zhang et al. 2021; Wenger, Dangel & Kristiadi 2023, Sec. 4.)

* :mod:`~lib.experiments.bandits.configs` — agents, sizes per profile, the configs of every sweep;
* :mod:`~lib.experiments.bandits.runs` — the experiments (pure functions of a config, cacheable) and γ_t tables;
* :mod:`~lib.experiments.bandits.analysis` — picks with grid-edge warnings, paired comparisons with Holm;
* :mod:`~lib.experiments.bandits.chapter` — the stages in notebook order and :func:`run_chapter`.
"""

from lib.experiments.bandits.analysis import Pick, compare_to, final_regret, markdown_table, paired, pick
from lib.experiments.bandits.chapter import (
    budget_summary,
    budget_sweep,
    laplace_ablation,
    laplace_summary,
    laplace_table,
    main_comparison,
    main_summary,
    main_table,
    official_check,
    official_summary,
    picks_table,
    run_chapter,
    theory,
    theory_summary,
    tune,
)
from lib.experiments.bandits.configs import (
    OFFICIAL_LAMBDA,
    SIZES,
    THEORY_LAMBDA,
    TUNING_SEED,
    Ablation,
    Agent,
    BanditSizes,
    batch_config,
    eval_seeds,
    sizes_for,
    tuning_seeds,
)
from lib.experiments.bandits.runs import batch_run, theory_gamma_table, width_for_gamma

__all__ = ["Pick", "compare_to", "final_regret", "markdown_table", "paired", "pick", "budget_summary", "budget_sweep",
           "laplace_ablation", "laplace_summary", "laplace_table", "main_comparison", "main_summary", "main_table",
           "official_check", "official_summary", "picks_table", "run_chapter", "theory", "theory_summary", "tune",
           "OFFICIAL_LAMBDA", "SIZES", "THEORY_LAMBDA", "TUNING_SEED", "Ablation", "Agent", "BanditSizes",
           "batch_config", "eval_seeds", "sizes_for", "tuning_seeds", "batch_run", "theory_gamma_table",
           "width_for_gamma"]

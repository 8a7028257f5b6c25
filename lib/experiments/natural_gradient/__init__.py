"""Chapter 2 — natural gradient vs gradient descent: the conditions for fast NGD (Zhang, Martens & Grosse 2019)
measured on networks of practical width, as in Wenger, Dangel & Kristiadi (2023, Sec. 3), and a race of mini-batch
natural gradient and K-FAC against SGD and Adam in the practical regime.

* :mod:`~lib.experiments.natural_gradient.configs` — tasks, options, sizes per profile, the configs of every sweep;
* :mod:`~lib.experiments.natural_gradient.runs` — the experiments (pure functions of a config, cacheable);
* :mod:`~lib.experiments.natural_gradient.analysis` — picks with grid-edge warnings, width fits with intervals,
  contraction rates, paired comparisons;
* :mod:`~lib.experiments.natural_gradient.chapter` — the notebook's stages and the numbers its text states.
"""

from lib.experiments.natural_gradient.configs import (
    CNN_DEPTH,
    DAMPING,
    OPTIONAL_TASKS,
    SIZES,
    TASKS,
    TUNING_SEED,
    Method,
    NaturalGradientSizes,
    Race,
    Split,
    sizes_for,
    tasks_to_run,
)
from lib.experiments.natural_gradient.runs import (
    cnn_stability_run,
    gram_spectrum,
    infinite_gram_spectrum,
    practical_run,
    race_run,
    stability_run,
)

__all__ = ["CNN_DEPTH", "DAMPING", "OPTIONAL_TASKS", "SIZES", "TASKS", "TUNING_SEED", "Method", "NaturalGradientSizes",
           "Race", "Split", "cnn_stability_run", "gram_spectrum", "infinite_gram_spectrum", "practical_run",
           "race_run", "sizes_for", "stability_run", "tasks_to_run"]

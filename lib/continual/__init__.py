"""Continual learning: task sequences, sequential training, and the forgetting metrics.

* :mod:`lib.continual.metrics` — accuracy matrices, average accuracy, average forgetting
  (Chaudhry et al. 2018) and learning accuracy;
* :mod:`lib.continual.benchmarks` — RotatedMNIST (domain-incremental) and Split-X sequences
  (task- or class-incremental) built from the datasets of :mod:`lib.data`;
* :mod:`lib.continual.kernel` — the kernel baseline: sequential kernel regression (the infinite-width
  linearized network under gradient flow on the squared loss) at finite and infinite training time, and the
  cross-task kernel overlap;
* :mod:`lib.continual.sequential` — train one network on the tasks in order with plain SGD (no
  replay, no regularizer) under a per-task budget, recording the accuracy matrix and how far
  parameters and the empirical NTK move per task.

Convention: ``accuracy[t][i]`` is the test accuracy on task ``i`` after training on tasks
``0..t`` (rows: training progress; columns: tasks), a ``[T, T]`` matrix kept in full.
"""

from lib.continual.benchmarks import (
                                   BENCHMARKS,
                                   ContinualTask,
                                   TaskSequence,
                                   make_sequence,
                                   rotated_mnist,
                                   split_dataset,
)
from lib.continual.kernel import KernelSequence, cross_task_overlap, sequential_kernel_regression
from lib.continual.metrics import (
                                   ContinualMetrics,
                                   average_accuracy,
                                   average_forgetting,
                                   average_learned_minus_final,
                                   backward_transfer,
                                   forgetting_per_task,
                                   learned_minus_final,
                                   learning_accuracy,
                                   pair_forgetting,
)
from lib.continual.sequential import (
                                   SETTINGS,
                                   BatchNormUse,
                                   Budget,
                                   SequenceResult,
                                   Setting,
                                   evaluate,
                                   run_sequence,
                                   train_on_task,
)

__all__ = [
    "BENCHMARKS", "ContinualTask", "TaskSequence", "make_sequence", "rotated_mnist", "split_dataset",
    "ContinualMetrics", "average_accuracy", "average_forgetting", "forgetting_per_task", "learning_accuracy",
    "average_learned_minus_final", "backward_transfer", "learned_minus_final", "pair_forgetting",
    "SETTINGS", "Setting", "BatchNormUse", "Budget", "SequenceResult", "evaluate", "run_sequence", "train_on_task",
    "sequential_kernel_regression", "cross_task_overlap", "KernelSequence",
]

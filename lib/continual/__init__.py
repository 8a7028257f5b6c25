"""Continual learning: task sequences, sequential training, and the forgetting metrics.

* :mod:`lib.continual.metrics` — accuracy matrices, average accuracy, average forgetting
  (Chaudhry et al. 2018) and learning accuracy;
* :mod:`lib.continual.benchmarks` — RotatedMNIST (domain-incremental) and Split-X sequences
  (task- or class-incremental) built from the datasets of :mod:`lib.data`;
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
from lib.continual.metrics import (
                                   ContinualMetrics,
                                   average_accuracy,
                                   average_forgetting,
                                   forgetting_per_task,
                                   learning_accuracy,
)
from lib.continual.sequential import SETTINGS, Budget, SequenceResult, Setting, evaluate, run_sequence, train_on_task

__all__ = [
    "BENCHMARKS", "ContinualTask", "TaskSequence", "make_sequence", "rotated_mnist", "split_dataset",
    "ContinualMetrics", "average_accuracy", "average_forgetting", "forgetting_per_task", "learning_accuracy",
    "SETTINGS", "Setting", "Budget", "SequenceResult", "evaluate", "run_sequence", "train_on_task",
]

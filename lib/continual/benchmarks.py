"""Task sequences for continual learning, built from the real datasets of :mod:`lib.data`.

* :func:`rotated_mnist` — **domain-incremental**: every task is 10-way digit classification on MNIST
  rotated by a fixed angle (counter-clockwise, bilinear interpolation), one shared head;
  each task draws its own training images.
* :func:`split_dataset` — Split MNIST / Fashion-MNIST / CIFAR-10 / CIFAR-100 / Tiny ImageNet: the
  classes are partitioned into tasks in the order given; labels stay *global* (``0..C−1`` over the
  whole sequence), so the same sequence serves the **task-incremental** setting (the task id is
  known: logits are restricted to the task's classes, i.e. a multi-head output) and the
  **class-incremental** setting (one head over all classes).

Images are ``[N, C, H, W]`` float32 in ``[0, 1]``; models flatten them if they need to.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.data import is_available, load_dataset
from lib.validation import (
    check_finite,
    check_int,
    check_nonnegative_int,
    check_optional_positive_int,
    check_positive_int,
)


@dataclass(frozen=True)
class ContinualTask:
    """One task: training and test images ``[N, C, H, W]`` with global labels ``[N]``.

    ``classes`` are the global labels this task uses (all of them for domain-incremental tasks).
    """

    name: str
    x_train: torch.Tensor
    labels_train: torch.Tensor
    x_test: torch.Tensor
    labels_test: torch.Tensor
    classes: tuple[int, ...]


@dataclass(frozen=True)
class TaskSequence:
    """Tasks in training order; ``num_classes`` is the size of the output layer; ``shared_head`` is
    ``True`` for domain-incremental sequences (every task uses every class)."""

    name: str
    tasks: tuple[ContinualTask, ...]
    num_classes: int
    shared_head: bool

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)


#: The held-out split each dataset is evaluated on (Tiny ImageNet's official test split has no labels: its
#: labelled validation split, 50 images per class, is the test set of every Tiny ImageNet benchmark).
TEST_SPLIT = {"mnist": "test", "fashion_mnist": "test", "cifar10": "test", "cifar100": "test", "tiny_imagenet": "val"}

#: Images per class in each dataset's (train, held-out) split — the most a per-class cap can take.
PER_CLASS = {"mnist": (5421, 892), "fashion_mnist": (6000, 1000), "cifar10": (5000, 1000), "cifar100": (500, 100),
             "tiny_imagenet": (500, 50)}

#: Split benchmarks: name -> (dataset, number of tasks, classes per task).
SPLITS = {
    "split_mnist": ("mnist", 5, 2),
    "split_fashion_mnist": ("fashion_mnist", 5, 2),
    "split_cifar10": ("cifar10", 5, 2),
    "split_cifar100": ("cifar100", 20, 5),
    "split_tiny_imagenet": ("tiny_imagenet", 10, 20),
}

_DISPLAY = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100",
            "tiny_imagenet": "Tiny ImageNet"}

#: Every benchmark: name -> (dataset it needs, description).
BENCHMARKS = {
    "rotated_mnist": ("mnist", "RotatedMNIST (domain-incremental, shared 10-way head)"),
    **{name: (dataset, f"Split {_DISPLAY[dataset]} ({tasks} tasks × {per} classes)")
       for name, (dataset, tasks, per) in SPLITS.items()},
}


def _sample(n_available: int, n: int, generator: torch.Generator, what: str) -> torch.Tensor:
    if n > n_available:
        raise ValueError(f"{what}: asked for {n} samples, only {n_available} exist.")
    return torch.randperm(n_available, generator=generator)[:n]


#: Images at the end of MNIST's training split that form the validation pool of ``held_out="validation"``.
MNIST_VALIDATION = 10000


def rotated_mnist(angles: list[float], n_train: int, n_test: int, *, seed: int, root=None,
                  held_out: str = "test") -> TaskSequence:
    """One task per angle (degrees, counter-clockwise): ``n_train`` training and ``n_test`` held-out images of
    MNIST, drawn afresh for every task with ``seed``, rotated by that angle.

    ``held_out="test"``: training images from MNIST's training split, held-out images from its test split (for
    evaluation). ``held_out="validation"``: training images from the first ``60000 − MNIST_VALIDATION`` training
    images, held-out images from the last :data:`MNIST_VALIDATION` (for tuning: the test split is never seen).
    """
    from torchvision.transforms.functional import InterpolationMode, rotate

    if isinstance(angles, (str, bytes)) or not hasattr(angles, "__len__") or not len(angles):
        raise ValueError(f"rotated_mnist needs a non-empty list of angles in degrees, got {angles!r}; pass e.g. "
                         "[0, 45, 90].")
    angles = [check_finite(f"angles[{i}]", a, fix="pass angles in degrees such as 45") for i, a in enumerate(angles)]
    n_train = check_positive_int("n_train", n_train, example=1000)
    n_test = check_positive_int("n_test", n_test, example=1000)
    seed = check_int("seed", seed, example=0)
    if held_out not in ("test", "validation"):
        raise ValueError(f"held_out must be 'test' (evaluation) or 'validation' (tuning), got {held_out!r}.")
    train = load_dataset("mnist", "train", root=root)
    if held_out == "test":
        test = load_dataset("mnist", "test", root=root)
        train_pool = torch.arange(len(train))
        test_pool = torch.arange(len(test))
    else:
        if len(train) <= MNIST_VALIDATION:
            raise ValueError(f"MNIST train has {len(train)} images, too few for a validation pool of "
                             f"{MNIST_VALIDATION}; use held_out='test'.")
        test = train
        train_pool = torch.arange(len(train) - MNIST_VALIDATION)
        test_pool = torch.arange(len(train) - MNIST_VALIDATION, len(train))
    generator = torch.Generator().manual_seed(seed)
    tasks = []
    for angle in angles:
        i = train_pool[_sample(len(train_pool), n_train, generator, "MNIST train")]
        j = test_pool[_sample(len(test_pool), n_test, generator, f"MNIST {held_out}")]

        def turn(x: torch.Tensor, angle: float = angle) -> torch.Tensor:
            return rotate(x, float(angle), interpolation=InterpolationMode.BILINEAR) if angle % 360 else x

        tasks.append(ContinualTask(f"rotated {angle:g}°", turn(train.subset(i).features()), train.y[i].long(),
                                   turn(test.subset(j).features()), test.y[j].long(), tuple(range(10))))
    return TaskSequence("rotated_mnist", tuple(tasks), 10, shared_head=True)


def split_dataset(name: str, n_train_per_class: int | None, n_test_per_class: int | None, *, seed: int,
                  task_classes: list[list[int]] | None = None, root=None) -> TaskSequence:
    """A Split benchmark of :data:`SPLITS` (or any ``task_classes`` partition of the dataset's classes).

    Args:
        n_train_per_class, n_test_per_class: per-class **caps**: at most this many samples of each class are drawn
            with ``seed`` (``None``: all); a class with fewer samples contributes all of them (CIFAR-100 has 100
            test images per class, Tiny ImageNet 50 validation images). The held-out split is
            :data:`TEST_SPLIT` (``"val"`` for Tiny ImageNet).
        task_classes: the original class indices of each task, in training order; default: consecutive
            blocks (``[[0, 1], [2, 3], …]``). Global labels are the positions in this flattened order.
    """
    if not isinstance(name, str) or name not in SPLITS:
        raise ValueError(f"Unknown split benchmark {name!r}; valid: {', '.join(SPLITS)}.")
    n_train_per_class = check_optional_positive_int("n_train_per_class", n_train_per_class, example=100)
    n_test_per_class = check_optional_positive_int("n_test_per_class", n_test_per_class, example=100)
    seed = check_int("seed", seed, example=0)
    if task_classes is not None:
        if isinstance(task_classes, (str, bytes)) or not hasattr(task_classes, "__len__") or not len(task_classes):
            raise ValueError(f"task_classes must be a non-empty list of class lists such as [[0, 1], [2, 3]], got "
                             f"{task_classes!r}.")
        for t, classes in enumerate(task_classes):
            if isinstance(classes, (str, bytes)) or not hasattr(classes, "__len__") or not len(classes):
                raise ValueError(f"task_classes[{t}] must be a non-empty list of class indices, got {classes!r}.")
        task_classes = [[check_nonnegative_int(f"task_classes[{t}][{i}]", c, example=0) for i, c in enumerate(cs)]
                        for t, cs in enumerate(task_classes)]
    dataset, num_tasks, per_task = SPLITS[name]
    train, test = load_dataset(dataset, "train", root=root), load_dataset(dataset, TEST_SPLIT[dataset], root=root)
    if task_classes is None:
        task_classes = [list(range(t * per_task, (t + 1) * per_task)) for t in range(num_tasks)]
    order = [c for classes in task_classes for c in classes]
    if len(set(order)) != len(order) or not all(0 <= c < train.num_classes for c in order):
        raise ValueError(f"task_classes must be disjoint class indices in 0..{train.num_classes - 1}; "
                         f"got {task_classes}.")
    relabel = torch.full((train.num_classes,), -1, dtype=torch.long)
    relabel[torch.tensor(order)] = torch.arange(len(order))
    generator = torch.Generator().manual_seed(seed)

    def pick(data, classes: list[int], per_class: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = []
        for c in classes:
            index = (data.y == c).nonzero().squeeze(1)
            if index.numel() == 0:
                raise ValueError(f"{data.name} has no samples of class {c}; the files are incomplete or the class "
                                 "index is wrong.")
            if per_class is not None:
                index = index[torch.randperm(index.numel(), generator=generator)[:per_class]]
            chosen.append(index)
        index = torch.cat(chosen)
        index = index[torch.randperm(index.numel(), generator=generator)]
        return data.subset(index).features(), relabel[data.y[index].long()]

    tasks = []
    for t, classes in enumerate(task_classes):
        x_tr, y_tr = pick(train, classes, n_train_per_class)
        x_te, y_te = pick(test, classes, n_test_per_class)
        names = "/".join(train.classes[c] for c in classes)
        tasks.append(ContinualTask(f"task {t + 1}: {names}", x_tr, y_tr, x_te, y_te,
                                   tuple(int(relabel[c]) for c in classes)))
    return TaskSequence(name, tuple(tasks), len(order), shared_head=False)


def make_sequence(name: str, *, seed: int, n_train: int, n_test: int, angles: list[float] | None = None,
                  root=None, held_out: str = "test") -> TaskSequence:
    """Any benchmark of :data:`BENCHMARKS` by name. ``n_train``/``n_test`` are per task for RotatedMNIST and
    per class for the Split benchmarks; ``angles`` are required for RotatedMNIST; ``held_out`` (RotatedMNIST only)
    is ``"test"`` or ``"validation"`` (see :func:`rotated_mnist`)."""
    if not isinstance(name, str) or name not in BENCHMARKS:
        raise ValueError(f"Unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}.")
    if name == "rotated_mnist":
        if angles is None:
            raise ValueError("rotated_mnist needs angles=[...] (degrees).")
        return rotated_mnist(angles, n_train, n_test, seed=seed, root=root, held_out=held_out)
    if held_out != "test":
        raise ValueError(f"held_out={held_out!r} exists for rotated_mnist only; the Split benchmarks use their test "
                         "(or val) split.")
    return split_dataset(name, n_train, n_test, seed=seed, root=root)


def available(name: str, root=None) -> bool:
    """Whether the dataset behind benchmark ``name`` is under the data root."""
    if name not in BENCHMARKS:
        raise ValueError(f"Unknown benchmark {name!r}; valid: {', '.join(BENCHMARKS)}.")
    return is_available(BENCHMARKS[name][0], root)

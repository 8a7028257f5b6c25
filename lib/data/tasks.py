"""Small supervised tasks cut from real image datasets, in the form kernel experiments need.

Inputs are flattened images, centred per image and scaled to norm ``√d`` (``d`` pixels), so
every input lies on the same sphere and ``Σ⁰(x, x) = |x|²/d = 1`` in the infinite-width
recursion of :mod:`lib.ntk.infinite`. Regression targets are one-hot codes centred to zero
mean over classes, ``e_c − 1/K`` (as in Lee et al. 2019; Arora et al. 2019). Subsets are drawn
without replacement by an explicit seed, separately from the official train and test splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.data import load_dataset
from lib.data.vision import SPECS as VISION_SPECS
from lib.validation import check_int, check_nonnegative_int, check_positive_int, check_tensor


def sphere_normalize(x: torch.Tensor) -> torch.Tensor:
    """Centre each row of ``x [N, d]`` and scale it to Euclidean norm ``√d``."""
    check_tensor("x", x, floating=True, finite=True)
    if x.dim() != 2:
        raise ValueError(f"Expected flattened inputs [N, d], got {tuple(x.shape)}.")
    x = x - x.mean(dim=1, keepdim=True)
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    if (norms == 0).any():
        raise ValueError("An input is constant; it cannot be normalized to the sphere.")
    return x * (x.shape[1] ** 0.5) / norms


def centred_one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[N] -> [N, K]`` with entries ``1 − 1/K`` for the class and ``−1/K`` elsewhere."""
    num_classes = check_int("num_classes", num_classes, minimum=2, example=10)
    check_tensor("labels", labels, ndim=1, floating=False)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1} (num_classes={num_classes}), found "
                         f"{int(labels.min())}..{int(labels.max())}.")
    return torch.nn.functional.one_hot(labels, num_classes).to(dtype) - 1.0 / num_classes


@dataclass(frozen=True)
class RegressionTask:
    """Train/test inputs ``[N, d]``, centred one-hot targets ``[N, K]`` and integer labels ``[N]``."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    labels_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    labels_test: torch.Tensor
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> RegressionTask:
        def move(t: torch.Tensor, floating: bool) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if (floating and dtype is not None) else t.dtype)

        return RegressionTask(self.name, move(self.x_train, True), move(self.y_train, True),
                              move(self.labels_train, False), move(self.x_test, True), move(self.y_test, True),
                              move(self.labels_test, False), self.classes)


def _draw(data, n: int, classes: list[int], generator: torch.Generator):
    keep = torch.isin(data.y, torch.tensor(classes))
    index = keep.nonzero().squeeze(1)
    if n > index.numel():
        raise ValueError(f"{data.name} has only {index.numel()} samples of classes {classes}; asked for {n}.")
    chosen = index[torch.randperm(index.numel(), generator=generator)[:n]]
    x = sphere_normalize(data.subset(chosen).features(torch.float32, flatten=True))
    remap = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([remap[int(c)] for c in data.y[chosen]], dtype=torch.long)
    return x, labels


def image_regression_task(name: str, n_train: int, n_test: int, *, seed: int, classes: list[int] | None = None,
                          root=None) -> RegressionTask:
    """``n_train`` samples of the official training split and ``n_test`` of the test split.

    Args:
        name: an image dataset of :data:`lib.data.DATASETS` (e.g. ``"mnist"``, ``"fashion_mnist"``).
        classes: the original class indices to keep (relabelled ``0..K−1`` in this order);
            ``None`` keeps all.
        seed: selects the subsets.
    """
    n_train = check_positive_int("n_train", n_train, example=100)
    n_test = check_positive_int("n_test", n_test, example=100)
    seed = check_int("seed", seed, example=0)
    if not isinstance(name, str) or name not in VISION_SPECS:
        raise ValueError(f"{name!r} is not an image dataset with train/test splits; use one of "
                         f"{', '.join(VISION_SPECS)}.")
    train, test = load_dataset(name, "train", root=root), load_dataset(name, "test", root=root)
    if classes is not None:
        classes = [check_nonnegative_int("classes[i]", c, example=0) for c in classes]
    classes = list(range(train.num_classes)) if classes is None else classes
    bad = [c for c in classes if not 0 <= c < train.num_classes]
    if bad or len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"classes must be >= 2 distinct indices in 0..{train.num_classes - 1}; got {classes}.")
    generator = torch.Generator().manual_seed(seed)
    x_train, l_train = _draw(train, n_train, classes, generator)
    x_test, l_test = _draw(test, n_test, classes, generator)
    k = len(classes)
    names = tuple(train.classes[c] for c in classes)
    return RegressionTask(f"{name} ({', '.join(names)})", x_train, centred_one_hot(l_train, k), l_train,
                          x_test, centred_one_hot(l_test, k), l_test, names)

"""Contextual bandits built from classification data (Zhou et al. 2020; Zhang et al. 2021).

A classification dataset with ``K`` classes becomes a ``K``-armed contextual bandit: in round
``t`` the agent sees one example ``x_t`` (``d`` features), pulls an arm ``a`` (a class guess)
and receives reward ``1`` if ``a`` is the true class ``y_t`` and ``0`` otherwise. Rewards are
deterministic given ``(x_t, a)``, the best arm always pays ``1``, so the per-round regret is
``1 − r_t`` and the cumulative regret after ``T`` rounds is the number of mistakes.

**Disjoint encoding** (the official NeuralUCB/NeuralTS code): the context of arm ``a`` is the
``K·d`` vector holding ``x_t`` in block ``a`` and zeros elsewhere, so one network scores every
arm. Conventions here: features are z-scored per column over the whole dataset (raw Shuttle and
MAGIC columns differ by orders of magnitude; the official code skips this step), then each row is
scaled to unit Euclidean norm — so every arm context has norm 1, as NeuralUCB's analysis assumes.
The rows are shuffled with the seed, and the first ``horizon`` are the rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lib.data import load_dataset, standardize
from lib.validation import check_all_finite, check_int, check_positive_int, check_tensor

#: Bandit problems: name -> (dataset of :mod:`lib.data`, description).
BANDIT_DATASETS: dict[str, tuple[str, str]] = {
    "mushroom": ("mushroom", "UCI Mushroom: edible vs poisonous, 117 one-hot features, 2 arms"),
    "shuttle": ("shuttle", "UCI Statlog Shuttle: 9 numeric features, 7 arms"),
    "magic": ("magic", "UCI MAGIC gamma telescope: 10 numeric features, 2 arms"),
    "adult": ("adult", "UCI Adult: income above 50k, 6 numeric + one-hot categorical features, 2 arms"),
    "letter": ("letter", "UCI Letter recognition: 16 integer features, 26 arms"),
    "covertype": ("covertype", "UCI Covertype: 54 features, 7 arms"),
    "mnist": ("mnist", "MNIST: 784 pixels, 10 arms"),
}


def disjoint_encoding(x: torch.Tensor, num_arms: int) -> torch.Tensor:
    """Arm contexts in the disjoint encoding.

    Args:
        x: features ``[N, d]`` (or one example ``[d]``).
        num_arms: ``K``.

    Returns:
        ``[N, K, K·d]`` (or ``[K, K·d]``) where ``out[n, a, a·d:(a+1)·d] = x[n]`` and zeros elsewhere.
    """
    check_tensor("x", x, ndim=(1, 2))
    num_arms = check_positive_int("num_arms", num_arms, example=2)
    single = x.dim() == 1
    x = x.unsqueeze(0) if single else x
    n, d = x.shape
    out = x.new_zeros(n, num_arms, num_arms, d)
    arms = torch.arange(num_arms)
    out[:, arms, arms, :] = x[:, None, :]
    out = out.reshape(n, num_arms, num_arms * d)
    return out[0] if single else out


@dataclass(frozen=True)
class ContextualBandit:
    """A classification bandit with a fixed sequence of rounds.

    Attributes:
        name: e.g. ``"mushroom"``.
        features: ``[T, d]`` unit-norm features of rounds ``0 .. T-1`` (float64).
        labels: ``[T]`` the rewarding arm of each round (int64).
        num_arms: ``K``.
    """

    name: str
    features: torch.Tensor
    labels: torch.Tensor
    num_arms: int

    def __post_init__(self) -> None:
        check_positive_int("num_arms", self.num_arms, example=2)
        check_tensor("features", self.features, floating=True)
        check_tensor("labels", self.labels, floating=False)
        if self.features.dim() == 2 and self.features.shape[0] == 0:
            raise ValueError(f"The bandit {self.name!r} has 0 rounds; pass horizon >= 1.")
        check_all_finite("features", self.features, fix="standardize and clean the dataset's features first")
        if self.features.dim() != 2 or self.labels.shape != (self.features.shape[0],):
            raise ValueError(f"features must be [T, d] and labels [T]; got {tuple(self.features.shape)} and "
                             f"{tuple(self.labels.shape)}.")
        if int(self.labels.min()) < 0 or int(self.labels.max()) >= self.num_arms:
            raise ValueError(f"labels must lie in 0..{self.num_arms - 1}.")

    @property
    def horizon(self) -> int:
        return self.features.shape[0]

    @property
    def feature_dim(self) -> int:
        """``d``; each arm context has ``K·d`` entries."""
        return self.features.shape[1]

    @property
    def context_dim(self) -> int:
        return self.num_arms * self.feature_dim

    def contexts(self, t: int) -> torch.Tensor:
        """The ``[K, K·d]`` arm contexts of round ``t`` (disjoint encoding)."""
        return disjoint_encoding(self.features[t], self.num_arms)

    def reward(self, t: int, arm: int) -> float:
        """``1.0`` if ``arm`` is round ``t``'s class, else ``0.0``."""
        check_int("t", t, minimum=0, maximum=self.horizon - 1, example=0)
        arm = check_int("arm", arm, example=0)
        if not 0 <= arm < self.num_arms:
            raise ValueError(f"arm {arm} out of range 0..{self.num_arms - 1}.")
        return float(int(self.labels[t]) == arm)

    def regret(self, t: int, arm: int) -> float:
        """``max_a r(t, a) − r(t, arm)`` = ``1 − reward`` (the best arm always pays 1)."""
        return 1.0 - self.reward(t, arm)


def make_bandit(name: str, horizon: int, seed: int, *, root=None, dtype: torch.dtype = torch.float64,
                standardize_columns: bool = True) -> ContextualBandit:
    """The bandit ``name`` (one of :data:`BANDIT_DATASETS`) with ``horizon`` rounds.

    The dataset's examples (UCI: all rows; MNIST: the training split, flattened pixels in [0, 1])
    are z-scored per column (unless ``standardize_columns=False``), row-normalized, shuffled with
    ``seed``, and the first ``horizon`` become the rounds. Raises ``ValueError`` for an unknown
    name or a horizon longer than the dataset, and :class:`lib.data.DatasetNotFoundError` when
    the files are missing (no stand-in data is ever made up).
    """
    if not isinstance(name, str) or name not in BANDIT_DATASETS:
        raise ValueError(f"Unknown bandit dataset {name!r}; valid: {', '.join(BANDIT_DATASETS)}.")
    horizon = check_positive_int("horizon", horizon, example=1000)
    seed = check_int("seed", seed, example=0)
    data = load_dataset(BANDIT_DATASETS[name][0])
    if horizon < 1 or horizon > len(data):
        raise ValueError(f"horizon must be in 1..{len(data)} for {name!r} ({len(data)} examples), got {horizon}.")
    x = data.features(torch.float64, flatten=True)
    if standardize_columns:
        (x,) = standardize(x)
    norms = x.norm(dim=1, keepdim=True)
    x = x / torch.where(norms > 0, norms, torch.ones_like(norms))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:horizon]
    return ContextualBandit(name, x[order].to(dtype), data.y[order].clone(), data.num_classes)

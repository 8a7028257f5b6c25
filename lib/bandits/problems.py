"""Bandit problems as stacked tensors, one row per seed, for the batched agents (:mod:`lib.bandits.batched`).

A :class:`BanditBatch` holds, for ``S`` seeds (each its own sequence of rounds), the raw features
``[S, T, d]`` of every round, the **expected** reward of every arm ``[S, T, K]`` (what regret is
measured against) and the **observed** reward of every arm ``[S, T, K]`` (what the agent receives for
the arm it pulls; equal to the expected reward for classification bandits). Arm contexts use the
disjoint encoding (:func:`lib.bandits.environments.disjoint_encoding`): arm ``a``'s context holds
``x_t`` in block ``a`` and zeros elsewhere, ``D = K·d``.

* :func:`classification_batch` — a UCI dataset as a ``K``-armed bandit with deterministic 0/1 rewards
  (:func:`lib.bandits.environments.make_bandit`, one shuffle per seed). Deterministic rewards favour
  greedy agents: a wrong guess always reveals the same 0 (Bietti, Agarwal & Langford 2021).
* :func:`wheel_batch` — Riquelme, Tucker & Snoek (2018)'s *wheel bandit*: contexts uniform in the unit
  disc, 5 arms; arm 0 pays ``μ₁ = 1.2``, the others ``μ₂ = 1.0``, except that outside the radius ``δ``
  the arm of the context's quadrant pays ``μ₃ = 50``; Gaussian noise ``σ``. The outer region is rare for
  ``δ`` near 1, so an agent that stops trying arms 1–4 early never finds it: exploration matters.
  Rewards are divided by ``μ₃`` here (a scale change: regret in units of ``μ₃``), so all bandits of the
  chapter have rewards of order 1 and share one learning rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lib.bandits.environments import disjoint_encoding, make_bandit
from lib.validation import check_int, check_positive_int, check_tensor

#: Riquelme et al.'s wheel means (μ₁, μ₂, μ₃) and noise σ, in their units.
WHEEL_MEANS = (1.2, 1.0, 50.0)
WHEEL_NOISE = 0.01


@dataclass(frozen=True)
class BanditBatch:
    """``S`` bandits of one problem with ``T`` rounds each (module doc).

    Attributes:
        name: e.g. ``"shuttle"`` or ``"wheel-0.95"``.
        features: ``[S, T, d]`` float64; means: ``[S, T, K]`` expected rewards; rewards: ``[S, T, K]`` observed.
        seeds: the seed of each row.
    """

    name: str
    features: torch.Tensor
    means: torch.Tensor
    rewards: torch.Tensor
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        check_tensor("features", self.features, ndim=3, floating=True, finite=True)
        s, t, _ = self.features.shape
        check_tensor("means", self.means, ndim=3, floating=True, finite=True)
        check_tensor("rewards", self.rewards, ndim=3, floating=True, finite=True)
        if self.means.shape[:2] != (s, t) or self.rewards.shape != self.means.shape:
            raise ValueError(f"means and rewards must be [S, T, K] with S, T = {s}, {t} of the features; got "
                             f"{tuple(self.means.shape)} and {tuple(self.rewards.shape)}.")
        if len(self.seeds) != s:
            raise ValueError(f"{len(self.seeds)} seeds for {s} rows.")

    @property
    def num_arms(self) -> int:
        return self.means.shape[2]

    @property
    def horizon(self) -> int:
        return self.features.shape[1]

    @property
    def context_dim(self) -> int:
        """``D = K·d`` of the disjoint encoding."""
        return self.num_arms * self.features.shape[2]

    def contexts(self, t: int) -> torch.Tensor:
        """``[S, K, K·d]`` arm contexts of round ``t``."""
        return disjoint_encoding(self.features[:, t], self.num_arms)

    def select(self, rows: list[int]) -> BanditBatch:
        """The bandits of ``rows`` (e.g. one seed for a one-by-one run)."""
        index = torch.tensor(rows, dtype=torch.long)
        return BanditBatch(self.name, self.features[index], self.means[index], self.rewards[index],
                           tuple(self.seeds[i] for i in rows))


def classification_batch(dataset: str, horizon: int, seeds: list[int]) -> BanditBatch:
    """The classification bandit ``dataset`` for each seed (its own shuffle), 0/1 rewards."""
    bandits = [make_bandit(dataset, horizon, seed) for seed in seeds]
    features = torch.stack([b.features for b in bandits])
    labels = torch.stack([b.labels for b in bandits])
    means = torch.nn.functional.one_hot(labels, bandits[0].num_arms).to(torch.float64)
    return BanditBatch(dataset, features, means, means.clone(), tuple(seeds))


def wheel_batch(delta: float, horizon: int, seeds: list[int], *, noise: float = WHEEL_NOISE) -> BanditBatch:
    """Riquelme et al.'s wheel bandit with radius ``delta`` (module doc), rewards divided by μ₃."""
    if not 0.0 < delta < 1.0:
        raise ValueError(f"The wheel's radius delta must lie in (0, 1), e.g. 0.95; got {delta}.")
    horizon = check_positive_int("horizon", horizon, example=2000)
    mu1, mu2, mu3 = WHEEL_MEANS
    features, means, rewards = [], [], []
    for seed in seeds:
        seed = check_int("seed", seed, example=0)
        generator = torch.Generator().manual_seed(10_000_019 + seed)
        radius = torch.rand(horizon, generator=generator, dtype=torch.float64).sqrt()
        angle = 2 * math.pi * torch.rand(horizon, generator=generator, dtype=torch.float64)
        x = torch.stack([radius * angle.cos(), radius * angle.sin()], dim=1)
        mean = torch.full((horizon, 5), mu2, dtype=torch.float64)
        mean[:, 0] = mu1
        quadrant = 1 + (x[:, 0] < 0).long() * 2 + (x[:, 1] < 0).long()  # arms 1..4
        outer = radius > delta
        mean[outer, quadrant[outer]] = mu3
        observed = mean + noise * torch.randn(horizon, 5, generator=generator, dtype=torch.float64)
        features.append(x)
        means.append(mean / mu3)
        rewards.append(observed / mu3)
    return BanditBatch(f"wheel-{delta:g}", torch.stack(features), torch.stack(means), torch.stack(rewards),
                       tuple(seeds))


def make_batch(problem: str, horizon: int, seeds: list[int]) -> BanditBatch:
    """``"wheel-<δ>"`` (e.g. ``"wheel-0.95"``) or a UCI dataset name of :data:`lib.bandits.BANDIT_DATASETS`."""
    if problem.startswith("wheel-"):
        try:
            delta = float(problem.removeprefix("wheel-"))
        except ValueError:
            raise ValueError(f"A wheel problem is named 'wheel-<delta>' such as 'wheel-0.95'; got {problem!r}."
                             ) from None
        return wheel_batch(delta, horizon, seeds)
    return classification_batch(problem, horizon, seeds)

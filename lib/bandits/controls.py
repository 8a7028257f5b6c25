"""Control agents for Chapter 3's exploration verdicts, built on :class:`lib.bandits.batched.BatchedAgents`.

* ``epsilon-greedy`` — greedy, except that with probability ``ε`` (per model and round) a uniformly random arm is
  pulled: the standard cheap explorer of Riquelme et al. (2018) and Bietti et al. (2021). Implemented as a UCB
  agent whose bonus is 0 on every arm except, in an exploring round, a huge one on the random arm; the random
  numbers come from a generator of their own, so with ``ε = 0`` the agent *is* greedy at the same λ (same arms,
  same training, same random numbers).
* ``shuffled-bonus`` — NeuralUCB whose widths ``s`` are permuted at random across the arms in every round: the
  bonus has the same sizes as NeuralUCB's, but its direction carries no information. If it does as well as
  NeuralUCB, the gain of NeuralUCB comes from perturbing greedy, not from where its uncertainty points.
* ``fresh-ucb`` — NeuralUCB with its diagonal ``U`` recomputed from the gradients at the trained ``θ*`` instead of
  accumulated from the gradients at the θ of each round's play (:class:`FreshNeuralUCBAgents`).

The per-model exploration numbers (``ε``, or the UCB ``γ``) are the ``gammas`` of the batch.
:func:`run_control` returns the same record as :func:`lib.bandits.batched.run_batch`.
"""

from __future__ import annotations

import torch

from lib.bandits.batched import BatchedAgents, BatchSpec
from lib.bandits.problems import BanditBatch
from lib.options import Option

#: Offset of the controls' own random streams from the model's seed (disjoint from the model's generator).
CONTROL_SEED_OFFSET = 7_919_000

#: The bonus of an exploring ε-greedy round: larger than any difference of predictions.
EXPLORE_BONUS = 1e6


class Control(Option):
    """The control agents (module doc)."""

    EPSILON_GREEDY = "epsilon-greedy", "greedy, but a uniformly random arm with probability ε (the batch's γ)"
    SHUFFLED_BONUS = "shuffled-bonus", "NeuralUCB with its widths permuted at random across the arms each round"
    FRESH_UCB = "fresh-ucb", "NeuralUCB with its diagonal U recomputed at the trained θ* (not at the θ of play)"


class _ControlAgents(BatchedAgents):
    posterior = "neural"

    def __init__(self, spec: BatchSpec, bandit: BanditBatch, lams: list[float], gammas: list[float],
                 seeds: list[int], *, device: torch.device | str = "cpu") -> None:
        if spec.rule != "ucb" or spec.posterior != self.posterior or spec.scale != "fixed":
            raise ValueError(f"This control agent needs rule 'ucb', posterior {self.posterior!r}, scale 'fixed'; "
                             f"got rule {spec.rule!r}, posterior {spec.posterior!r}, scale {spec.scale!r}.")
        super().__init__(spec, bandit, lams, gammas, seeds, device=device)
        self.control_generators = [torch.Generator().manual_seed(CONTROL_SEED_OFFSET + int(s)) for s in seeds]


class EpsilonGreedyAgents(_ControlAgents):
    """ε-greedy (module doc): ``gammas`` are the ``ε`` of the models, each in ``[0, 1]``."""

    def __init__(self, spec: BatchSpec, bandit: BanditBatch, lams: list[float], gammas: list[float],
                 seeds: list[int], *, device: torch.device | str = "cpu") -> None:
        if any(not 0.0 <= float(e) <= 1.0 for e in gammas):
            raise ValueError(f"ε-greedy's ε (the batch's γ) must lie in [0, 1], got {gammas}.")
        super().__init__(spec, bandit, lams, gammas, seeds, device=device)
        self.epsilon = self.gamma.clone()

    def variances(self, x: torch.Tensor, active: torch.Tensor, hidden: torch.Tensor):
        """``[B, K]``: 1 on the random arm of an exploring model, 0 elsewhere."""
        var = torch.zeros(self.B, self.K, dtype=torch.float64, device=self.device)
        for b, g in enumerate(self.control_generators):
            explore = float(torch.rand((), generator=g, dtype=torch.float64)) < float(self.epsilon[b])
            arm = int(torch.randint(self.K, (1,), generator=g))
            if explore:
                var[b, arm] = 1.0
        return var, None

    def gammas(self, t: int) -> torch.Tensor:
        return torch.full((self.B,), EXPLORE_BONUS, dtype=torch.float64, device=self.device)


class ShuffledBonusAgents(_ControlAgents):
    """NeuralUCB with its widths permuted across the arms each round (module doc); ``gammas`` are UCB's γ."""

    def variances(self, x: torch.Tensor, active: torch.Tensor, hidden: torch.Tensor):
        var, pending = super().variances(x, active, hidden)
        perm = torch.stack([torch.randperm(self.K, generator=g) for g in self.control_generators]).to(var.device)
        return var.gather(1, perm), pending


class FreshNeuralUCBAgents(_ControlAgents):
    """NeuralUCB's width ``γ·sqrt(λ Σ_p g_p²/U_p)`` with ``U = λ + Σ_i g_i(θ*)²`` recomputed at the trained
    ``θ*`` after every ``refresh_every``-th training — the diagonal GGN that the ``laplace-diagonal`` posterior
    keeps (its ``G``), used with NeuralUCB's ``λ`` and ``γ`` instead of the evidence's ``(α, σ²)``. Against
    NeuralUCB (same λ and γ) it changes one thing: gradients at ``θ*`` instead of at the θ of each round's play."""

    posterior = "laplace-diagonal"

    def variances(self, x: torch.Tensor, active: torch.Tensor, hidden: torch.Tensor):
        shape = [(-1,) + (1,) * (g.dim() - 1) for g in self.G]
        blocks = [self.lam.view(s) + g for s, g in zip(shape, self.G, strict=True)]
        return self.lam[:, None] * self._diagonal_quadratic(x, active, hidden, blocks), None


AGENT_CLASSES = {Control.EPSILON_GREEDY.value: EpsilonGreedyAgents,
                 Control.SHUFFLED_BONUS.value: ShuffledBonusAgents, Control.FRESH_UCB.value: FreshNeuralUCBAgents}


def run_control(control: str, spec: BatchSpec, bandit: BanditBatch, lams: list[float], gammas: list[float],
                seeds: list[int], *, device: torch.device | str = "cpu") -> dict:
    """Play the control agents ``control`` (:class:`Control`) for the bandit's horizon; the record of
    :func:`lib.bandits.batched.run_batch` (``z`` is NaN: a control has no predictive distribution)."""
    cls = AGENT_CLASSES[Control.parse(control, name="control").value]
    agents = cls(spec, bandit, lams, gammas, seeds, device=device)
    regret, arms, steps = [], [], 0.0
    for t in range(bandit.horizon):
        out = agents.play(t)
        regret.append(out["regret"])
        arms.append(out["arm"])
        steps = steps + out["steps"]
    b = len(seeds)
    nan = torch.full((b,), float("nan"), dtype=torch.float64)
    return {"regret": torch.stack(regret, 1).cpu(), "arms": torch.stack(arms, 1).cpu(),
            "z": torch.full((b, bandit.horizon), float("nan"), dtype=torch.float64),
            "steps": (steps / bandit.horizon).cpu() if torch.is_tensor(steps) else torch.zeros(b),
            "gamma_T": agents.gamma.cpu(), "alpha": nan, "noise": nan, "weight_decay": agents.weight_decay.cpu()}

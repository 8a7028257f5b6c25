"""Diagnostics of Chapter 3's agents: which arm the bonus makes them pull (:func:`arm_agreement`), whether the
widths are calibrated against the simulator's true means (:func:`calibrated_run`), and whether one training phase
of the chapter's recipe fits as well as the official recipe's (:func:`training_snapshots`).

For a UCB agent the pulled arm is ``argmax_a f_a + γ s_a``. When γ is huge (the theory's γ_t) it is
``argmax_a s_a``; whether that differs from greedy's ``argmax_a f_a`` depends on how the width ``s`` correlates
with the prediction ``f``. :func:`arm_agreement` replays a batched run and counts, per model, how often the
pulled arm equals each of the two.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace

import torch

from lib.bandits.batched import BatchedAgents, BatchSpec
from lib.bandits.controls import AGENT_CLASSES, Control
from lib.bandits.problems import make_batch


def arm_agreement(config: dict) -> dict:
    """Per model of a UCB batch (config of :func:`lib.experiments.bandits.configs.batch_config`): the fraction of
    rounds in which the pulled arm is ``argmax f`` (``greedy``) and ``argmax s`` (``width``), and the total regret."""
    spec = BatchSpec(**config["spec"])
    if spec.rule != "ucb":
        raise ValueError(f"arm_agreement needs a UCB batch (rule 'ucb'), got rule {spec.rule!r}.")
    seeds = [int(m[0]) for m in config["models"]]
    bandit = make_batch(config["problem"], config["horizon"], seeds)
    agents = BatchedAgents(spec, bandit, [float(m[1]) for m in config["models"]],
                           [float(m[2]) for m in config["models"]], seeds, device=config.get("device", "cpu"))
    greedy = torch.zeros(len(seeds), dtype=torch.float64)
    width = torch.zeros(len(seeds), dtype=torch.float64)
    regret = torch.zeros(len(seeds), dtype=torch.float64)
    for t in range(bandit.horizon):
        x = bandit.contexts(t)
        with torch.no_grad():
            active, hidden = agents._hidden(x)
            mean = torch.bmm(hidden, agents.w2[:, :, None])[..., 0] + agents.b2[:, None]
            var, _ = agents.variances(x, active, hidden)
        out = agents.play(t)
        greedy += (out["arm"] == mean.argmax(1)).double()
        width += (out["arm"] == var.argmax(1)).double()
        regret += out["regret"]
    T = bandit.horizon
    return {"greedy": (greedy / T).tolist(), "width": (width / T).tolist(), "final": regret.tolist()}


#: Two-sided normal quantiles of the coverage levels the calibration reports.
COVERAGE_LEVELS = {0.5: 0.674490, 0.9: 1.644854, 0.95: 1.959964}


def _wheel_radius(problem: str) -> float | None:
    return float(problem.removeprefix("wheel-")) if problem.startswith("wheel-") else None


def _spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation per row of ``a``, ``b`` ``[B, N]`` (ties broken by order)."""
    ra = a.argsort(1).argsort(1).double()
    rb = b.argsort(1).argsort(1).double()
    ra, rb = ra - ra.mean(1, keepdim=True), rb - rb.mean(1, keepdim=True)
    return (ra * rb).sum(1) / ((ra * ra).sum(1) * (rb * rb).sum(1)).sqrt().clamp_min(1e-300)


def calibrated_run(config: dict) -> dict:
    """A batched UCB run (config of :func:`lib.experiments.bandits.configs.batch_config`, a control agent of
    :mod:`lib.bandits.controls` if it has a ``"control"`` entry) that also checks the **epistemic** calibration
    against the simulator's true means.

    Returns the record of :func:`lib.experiments.bandits.runs.batch_run` plus, per model, over every arm of
    every round of the second half (before the round is played): with ``z = (μ − f)/(γ s)``, ``epi_z2`` the
    median and ``epi_z2_mean`` the mean of ``z²``, ``epi_cover_<level>`` the fraction of ``|z|`` within the
    normal quantile of each level of :data:`COVERAGE_LEVELS`, ``epi_spearman`` Spearman's rank correlation
    between ``s`` and ``|μ − f|`` (does the width point where the errors are?), and on the wheel bandit
    ``epi_z2_outer`` / ``epi_z2_inner`` the median ``z²`` outside / inside the radius δ, where the rare
    high-reward arms are / are not (NaN elsewhere).
    """
    from lib.experiments.bandits.runs import outer_regret, record

    spec = BatchSpec(**config["spec"])
    if spec.rule != "ucb":
        raise ValueError(f"calibrated_run needs a UCB batch (rule 'ucb'), got rule {spec.rule!r}.")
    seeds = [int(m[0]) for m in config["models"]]
    bandit = make_batch(config["problem"], config["horizon"], seeds)
    start = time.perf_counter()
    cls = AGENT_CLASSES[Control.parse(config["control"], name="control").value] if config.get("control") \
        else BatchedAgents
    agents = cls(spec, bandit, [float(m[1]) for m in config["models"]], [float(m[2]) for m in config["models"]],
                 seeds, device=config.get("device", "cpu"))
    T, half = bandit.horizon, bandit.horizon // 2
    regret, z_pulled, zs, widths, errors, outer = [], [], [], [], [], []
    steps, gamma = 0.0, None
    radius = _wheel_radius(config["problem"])
    for t in range(T):
        if t >= half:
            x = bandit.contexts(t).to(agents.device)
            with torch.no_grad():
                active, hidden = agents._hidden(x)
                mean = torch.bmm(hidden, agents.w2[:, :, None])[..., 0] + agents.b2[:, None]
                var, _ = agents.variances(x, active, hidden)
                width = agents.gammas(t)[:, None] * var.sqrt()                     # [B, K]
            error = bandit.means[:, t].to(mean) - mean
            zs.append((error / width).cpu())
            widths.append(width.cpu())
            errors.append(error.abs().cpu())
            if radius is not None:
                outer.append((bandit.features[:, t].norm(dim=-1) > radius)[:, None].expand(-1, bandit.num_arms))
        out = agents.play(t)
        regret.append(out["regret"])
        z_pulled.append(out["error"] / out["predictive"].sqrt())
        steps = steps + out["steps"]
        gamma = out["gamma"]
    result = record({"regret": torch.stack(regret, 1).cpu(), "z": torch.stack(z_pulled, 1).cpu(),
                     "steps": (steps / T).cpu(), "gamma_T": gamma.cpu(), "alpha": agents.alpha.cpu(),
                     "noise": agents.noise.cpu()}, T, time.perf_counter() - start)
    result.update(outer_regret(config["problem"], bandit, torch.stack(regret, 1).cpu()))
    z = torch.stack(zs, 1).flatten(1)                                                 # [B, rounds·K]
    finite = torch.isfinite(z)
    z2 = torch.where(finite, z * z, torch.nan)
    result["epi_z2"] = z2.nanmedian(1).values.tolist()
    result["epi_z2_mean"] = z2.nanmean(1).tolist()
    count = finite.sum(1).clamp_min(1)
    for level, q in COVERAGE_LEVELS.items():
        result[f"epi_cover_{level:g}"] = (torch.where(finite, (z.abs() <= q).double(), 0.0).sum(1) / count).tolist()
    result["epi_spearman"] = _spearman(torch.stack(widths, 1).flatten(1), torch.stack(errors, 1).flatten(1)).tolist()
    if outer:
        mask = torch.stack(outer, 1).flatten(1)
        result["epi_z2_outer"] = torch.where(mask, z2, torch.nan).nanmedian(1).values.tolist()
        result["epi_z2_inner"] = torch.where(~mask, z2, torch.nan).nanmedian(1).values.tolist()
    else:
        result["epi_z2_outer"] = result["epi_z2_inner"] = [float("nan")] * len(seeds)
    return result


def _clone(agents: BatchedAgents, spec: BatchSpec) -> BatchedAgents:
    """An independent copy of ``agents`` (parameters, buffers and random generators; the bandit is shared) that
    trains by ``spec`` without touching the original (training may update parameters in place)."""
    twin = copy.deepcopy(agents, memo={id(agents.bandit): agents.bandit})
    twin.spec = spec
    return twin


def _fit(agents: BatchedAgents, n: int, holdout: int, bandit) -> dict:
    """Training MSE on the first ``n`` rounds and greedy's held-out regret per round / accuracy on the next
    ``holdout`` rounds' contexts (``[B]`` each)."""
    with torch.no_grad():
        residual = agents.predict(agents.X[:, :n]) - agents.R[:, :n]
        mse = (residual * residual).mean(1)
        regret = torch.zeros(agents.B, dtype=torch.float64)
        hit = torch.zeros(agents.B, dtype=torch.float64)
        for t in range(n, n + holdout):
            arm = agents.predict(bandit.contexts(t).to(agents.device)).argmax(1).cpu()
            mu = bandit.means[:, t]
            regret += mu.max(1).values - mu[torch.arange(agents.B), arm]
            hit += (arm == mu.argmax(1)).double()
    return {"mse": mse.cpu(), "regret": regret / holdout, "accuracy": hit / holdout}


def training_snapshots(config: dict) -> dict:
    """Does one training phase of the chapter's recipe fit as well as one of the official recipe, from the same
    network and data? (Referee check of the training budget.)

    ``config``: ``problem``, ``models`` ``[[seed, λ, 0], …]``, ``spec`` (the chapter's recipe; greedy),
    ``official`` (the official recipe's spec), ``snapshots`` (rounds ``n``), ``holdout`` (rounds after ``n`` to
    evaluate on), ``device``. Greedy plays by the chapter's recipe; at each snapshot ``n`` (after round ``n``'s
    reward, before that round's training) a copy is trained once by each recipe. Returns ``snapshots`` and
    ``results`` (one dict per snapshot) holding, per recipe (``"before"`` = the untrained copy), per model:
    ``mse`` on the ``n`` rounds, ``regret`` (held-out per-round regret of greedy's arm), ``accuracy`` (held-out
    fraction of best arms) and ``steps`` taken.
    """
    spec = BatchSpec(**config["spec"])
    official = BatchSpec(**config["official"])
    snapshots = sorted(int(n) for n in config["snapshots"])
    holdout = int(config["holdout"])
    seeds = [int(m[0]) for m in config["models"]]
    bandit = make_batch(config["problem"], snapshots[-1] + holdout, seeds)
    agents = BatchedAgents(spec, bandit, [float(m[1]) for m in config["models"]], [0.0] * len(seeds), seeds,
                           device=config.get("device", "cpu"))
    untrained = replace(spec, max_steps=0)   # play without training at the snapshot rounds; train copies instead
    out: dict = {"snapshots": snapshots, "results": []}
    for t in range(snapshots[-1]):
        n = t + 1
        agents.spec = untrained if n in snapshots else spec
        agents.play(t)
        if n in snapshots:
            entry = {"before": _fit(agents, n, holdout, bandit)}
            entry["before"]["steps"] = torch.zeros(len(seeds), dtype=torch.float64)
            for name, recipe in (("chapter", spec), ("official", official)):
                copy_ = _clone(agents, recipe)
                taken = copy_.train()
                entry[name] = _fit(copy_, n, holdout, bandit)
                entry[name]["steps"] = taken.cpu()
            agents.spec = spec   # the run goes on exactly as without the snapshot: this round's own training
            agents.train()
            agents.trainings += 1
            out["results"].append({k: {m: v.tolist() for m, v in d.items()} for k, d in entry.items()})
    return out

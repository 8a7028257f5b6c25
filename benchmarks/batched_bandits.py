"""Benchmark: neural bandit agents of many seeds trained as one batched computation vs one at a time.

Runs the same agents (one per seed) twice in one process — stacked in one batch
(:func:`lib.bandits.batched.run_batch` with ``B`` models) and one by one (``B`` runs with one model) — checks
that both give the same pulled arms, regret and z-scores to float64 rounding, and prints the wall and CPU time
of each and their ratio. The problem is Riquelme et al.'s wheel bandit (synthetic, no data needed); the agent is
the chapter's NeuralUCB (width 100, mini-batches of 32, up to 30 SGD steps after every round) or, with
``--batch-size 1 --lr 0.01 --steps 1000``, the official code's per-sample recipe. Mini-batch steps are compute-bound
(the speed-up is limited by the arithmetic each model needs); per-sample steps are overhead-bound (batching
removes almost all of it).

Usage:
    python benchmarks/batched_bandits.py                      # 10 seeds, 300 rounds, CPU
    python benchmarks/batched_bandits.py --seeds 20 --rounds 500 --posterior laplace-diagonal
    python benchmarks/batched_bandits.py --device cuda
    python benchmarks/batched_bandits.py --threads 1          # on a machine shared with other jobs
    python benchmarks/batched_bandits.py --batch-size 1 --lr 0.01 --steps 1000 --rounds 40   # the official recipe
"""

from __future__ import annotations

import argparse
import time

import torch

from lib.bandits.batched import BatchSpec, Posterior, run_batch
from lib.bandits.problems import wheel_batch


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--steps", type=int, default=30, help="SGD steps per round (cap)")
    parser.add_argument("--batch-size", type=int, default=32, help="1: the official code's per-sample SGD")
    parser.add_argument("--lr", type=float, default=0.1, help="0.01 with --batch-size 1 (the official code's)")
    parser.add_argument("--posterior", default="neural", choices=Posterior.values())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device.")
    seeds = list(range(args.seeds))
    bandit = wheel_batch(0.95, args.rounds, seeds)
    spec = BatchSpec(rule="ucb", posterior=args.posterior, width=args.width, lr=args.lr, batch_size=args.batch_size,
                     max_steps=args.steps, tolerance=1e-3)
    lams, gammas = [1e-3] * len(seeds), [1.0] * len(seeds)
    print(f"# wheel bandit (δ = 0.95), {args.seeds} seeds × {args.rounds} rounds, NeuralUCB ({args.posterior}), "
          f"width {args.width}, ≤ {args.steps} steps of {args.batch_size} per round, float64, device {args.device}, "
          f"threads {torch.get_num_threads()}")
    batched, wall_b, cpu_b = _timed(lambda: run_batch(spec, bandit, lams, gammas, seeds, device=args.device))
    singles, wall_s, cpu_s = _timed(lambda: [run_batch(spec, bandit.select([i]), [lams[i]], [gammas[i]], [s],
                                                       device=args.device) for i, s in enumerate(seeds)])
    arms = torch.stack([r["arms"][0] for r in singles])
    regret = torch.stack([r["regret"][0] for r in singles])
    z = torch.stack([r["z"][0] for r in singles])
    same_arms = bool(torch.equal(arms, batched["arms"]))
    regret_gap = float((regret - batched["regret"]).abs().max())
    finite = torch.isfinite(z) & torch.isfinite(batched["z"])
    z_gap = float(((z - batched["z"]).abs() / z.abs().clamp_min(1.0))[finite].max()) if finite.any() else 0.0
    print(f"{'mode':>12s} {'wall s':>8s} {'cpu s':>8s}")
    print(f"{'batched':>12s} {wall_b:8.2f} {cpu_b:8.2f}")
    print(f"{'one by one':>12s} {wall_s:8.2f} {cpu_s:8.2f}")
    print(f"same arms in every round: {same_arms}; max |regret difference| {regret_gap:.1e}; "
          f"max relative z-score difference {z_gap:.1e}")
    print(f"speed-up (one by one / batched): wall {wall_s / wall_b:.1f}x, cpu {cpu_s / cpu_b:.1f}x")
    if not same_arms or regret_gap > 1e-12 or z_gap > 1e-9:
        raise SystemExit("batched and one-by-one runs differ beyond float64 rounding")


if __name__ == "__main__":
    main()

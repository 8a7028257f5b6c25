"""Benchmark: time and peak memory of one full-batch NGD, GD and Adam step vs width, in one process.

Prints, per width, each optimizer's time and peak memory per step and their ratios to gradient
descent measured in the same run (Chapter 2, Experiment 4, as a script). Uses
:func:`lib.experiments.natural_gradient.step_cost` on the chapter's task (MNIST under the data root).

Usage:
    python benchmarks/optimizer_steps.py                       # widths 64 … 4096, N = 200, CPU
    python benchmarks/optimizer_steps.py --device cuda --n 400 --widths 256 4096 16384
"""

from __future__ import annotations

import argparse

import torch

from lib.experiments import natural_gradient as ch2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--n", type=int, default=200, help="training images (the kernel is [10 n, 10 n])")
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device.")
    print(f"# one full-batch step, MLP (1 hidden layer, NTK parametrization, float64), N = {args.n}, "
          f"NK = {10 * args.n}, device {args.device}, threads {torch.get_num_threads()}")
    print(f"{'width':>6s} {'P':>10s} {'optimizer':>9s} {'time':>10s} {'peak mem':>11s} "
          f"{'time / GD':>9s} {'mem / GD':>9s}")
    for width in args.widths:
        rows = {}
        for optimizer, lr in (("gd", 0.1), ("adam", 1e-3), ("ngd", None)):
            rows[optimizer] = ch2.step_cost(dict(task="mnist10", n_train=args.n, data_seed=0, depth=1, width=width,
                                                 seed=0, optimizer=optimizer, learning_rate=lr,
                                                 repeats=args.repeats, device=args.device))
        for optimizer, r in rows.items():
            print(f"{width:6d} {r['parameters']:10,d} {optimizer:>9s} {1e3 * r['seconds']:8.2f}ms "
                  f"{r['peak_bytes'] / 2**20:8.1f}MiB {r['seconds'] / rows['gd']['seconds']:8.1f}x "
                  f"{r['peak_bytes'] / max(rows['gd']['peak_bytes'], 1):8.1f}x")


if __name__ == "__main__":
    main()

"""Benchmark: time of one mini-batch step of SGD, Adam, mini-batch natural gradient and K-FAC, in one process.

Prints, per batch size, each method's best-of-``repeats`` time per step and its ratio to SGD measured in the same
run (the cost side of Chapter 2's practical race): the MLP of the chapter's book profile (two hidden layers of
128 units, PyTorch ``nn.Linear``), cross-entropy on random MNIST-shaped inputs. K-FAC (with the chapter's running
averages and momentum) is timed both with its curvature recomputed on every batch and with the chapter's reuse
(:data:`UPDATE_EVERY`), amortized over that many steps.

Usage:
    python benchmarks/optimizer_steps.py                       # batches 64, 128, 256 on the CPU
    python benchmarks/optimizer_steps.py --device cuda --batches 128 512 --width 512
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from lib.experiments.natural_gradient.configs import KFAC_EMA, KFAC_MOMENTUM
from lib.kfac import KFAC
from lib.training import kernel_from_signals, minibatch_natural_gradient_step

#: K-FAC's curvature reuse in the chapter's book profile.
UPDATE_EVERY = 5


def first_order_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    """One step of a torch optimizer on the mean cross-entropy of ``(x, y)``."""
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    opt.step()


def repeat(step, x: torch.Tensor, y: torch.Tensor, times: int) -> None:
    """``step(x, y)`` ``times`` times."""
    for _ in range(times):
        step(x, y)


def best_time(step, repeats: int, device: torch.device) -> float:
    """Best wall-clock seconds of ``repeats`` calls of ``step`` after one warm-up call."""
    step()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device.")
    device = torch.device(args.device)
    print(f"# one mini-batch step, MLP 784-{args.width}-{args.width}-10, float32, device {device}, "
          f"threads {torch.get_num_threads()}")
    print(f"{'batch':>6s} {'method':>16s} {'time':>10s} {'/ SGD':>8s}")
    for batch in args.batches:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(784, args.width), nn.ReLU(), nn.Linear(args.width, args.width), nn.ReLU(),
                              nn.Linear(args.width, 10)).to(device)
        x = torch.randn(batch, 784, device=device)
        y = torch.randint(0, 10, (batch,), device=device)
        sgd = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
        adam = torch.optim.Adam(model.parameters(), lr=1e-6)

        kfac = dict(learning_rate=1e-6, damping=1.0, momentum=KFAC_MOMENTUM, ema=KFAC_EMA)  # the chapter's K-FAC
        every = KFAC(model, update_every=1, **kfac)
        reuse = KFAC(model, update_every=UPDATE_EVERY, **kfac)
        steps = {
            "SGD": partial(first_order_step, model, sgd, x, y),
            "Adam": partial(first_order_step, model, adam, x, y),
            "mini-batch NGD": partial(minibatch_natural_gradient_step, model, x, y, learning_rate=1e-6, damping=1.0,
                                      kernel_fn=kernel_from_signals),
            "K-FAC (every)": partial(every.step, x, y),
            f"K-FAC (/{UPDATE_EVERY})": partial(repeat, reuse.step, x, y, UPDATE_EVERY),
        }
        times = {name: best_time(step, args.repeats, device) for name, step in steps.items()}
        times[f"K-FAC (/{UPDATE_EVERY})"] /= UPDATE_EVERY
        for name, seconds in times.items():
            print(f"{batch:6d} {name:>16s} {1e3 * seconds:8.2f}ms {seconds / times['SGD']:7.1f}x")


if __name__ == "__main__":
    main()

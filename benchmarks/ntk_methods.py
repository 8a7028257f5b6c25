"""Benchmark: time and peak memory of empirical-NTK methods, in one process.

Baselines are written here from the designs of the ``torch.func`` NTK tutorial
(Jacobian contraction; NTK-vector products) and a per-sample autograd loop. Every
``lib`` method is timed on the same inputs, and each result is printed as a ratio to
the tutorial's Jacobian contraction, plus the achieved FLOP rate of the structured
method against this machine's measured fp32 matmul rate.

Usage:
    python benchmarks/ntk_methods.py                 # all cases on CPU (and CUDA if present)
    python benchmarks/ntk_methods.py --quick         # small sizes, a smoke run
    python benchmarks/ntk_methods.py --device cuda   # one device only

Peak memory is the growth of malloc'd bytes in use over the call (glibc ``mallinfo2``,
sampled every ms) on CPU, and ``torch.cuda.max_memory_allocated`` growth on CUDA.
"""

from __future__ import annotations

import argparse

import torch
from torch.func import functional_call, jacrev, jvp, vjp, vmap

from lib.measure import Measurement, measure
from lib.models import MLP, SmallCNN
from lib.ntk import empirical_ntk


# ---------------------------------------------------------------- baselines
def _single(model: torch.nn.Module):
    def fnet_single(params, x):
        return functional_call(model, params, (x.unsqueeze(0),)).squeeze(0)
    return fnet_single


def tutorial_jacobian_contraction(model, x1, x2):
    params = {k: v.detach() for k, v in model.named_parameters()}
    fnet_single = _single(model)
    jac1 = vmap(jacrev(fnet_single), (None, 0))(params, x1)
    jac1 = [j.flatten(2) for j in jac1.values()]
    jac2 = vmap(jacrev(fnet_single), (None, 0))(params, x2)
    jac2 = [j.flatten(2) for j in jac2.values()]
    return sum(torch.einsum("Naf,Mbf->NMab", j1, j2) for j1, j2 in zip(jac1, jac2))


def tutorial_ntk_vector_products(model, x1, x2):
    params = {k: v.detach() for k, v in model.named_parameters()}
    fnet_single = _single(model)

    def get_ntk(a, b):
        _, vjp_fn = vjp(lambda p: fnet_single(p, b), params)

        def ntk_slice(vec):
            (tangent,) = vjp_fn(vec)
            return jvp(lambda p: fnet_single(p, a), (params,), (tangent,))[1]

        basis = torch.eye(fnet_single(params, a).numel(), dtype=a.dtype, device=a.device)
        return vmap(ntk_slice)(basis)

    return vmap(vmap(get_ntk, (None, 0)), (0, None))(x1, x2).transpose(2, 3)


def autograd_loop(model, x1, x2):
    params = [p for p in model.parameters() if p.requires_grad]

    def rows(x):
        n, k = x.shape[0], model(x[:1]).shape[1]
        out = torch.empty(n, k, sum(p.numel() for p in params), dtype=x.dtype, device=x.device)
        for i in range(n):
            f = model(x[i:i + 1])[0]
            for a in range(k):
                grads = torch.autograd.grad(f[a], params, retain_graph=a + 1 < k)
                torch.cat([g.reshape(-1) for g in grads], out=out[i, a])
        return out

    j1, j2 = rows(x1), rows(x2)
    return torch.einsum("nap,mbp->nmab", j1, j2)


# ---------------------------------------------------------------- helpers
def matmul_gflops(device: torch.device, size: int = 4096) -> float:
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    m = measure(lambda: a @ b, device, repeats=5)
    return 2 * size**3 / m.seconds / 1e9


def mlp_structured_flops(model: MLP, n: int) -> float:
    """Matmul FLOPs of the structured method for an MLP on n = N1 + N2 samples (see lib.ntk.structured)."""
    layers = [m for m in model if hasattr(m, "weight")]
    k = model.out_features
    forward = sum(2 * n * l.in_features * l.out_features for l in layers)
    backward = sum(2 * k * n * l.in_features * l.out_features for l in layers[1:])
    half = n // 2
    grams = sum(2 * half * half * l.in_features + 2 * (k * half) ** 2 * l.out_features for l in layers)
    return forward + backward + grams


def fmt_bytes(b: float) -> str:
    return f"{b / 2**20:9.1f} MiB" if b < 2**30 else f"{b / 2**30:9.2f} GiB"


def run_case(title, model, x1, x2, device, include, memory_limit_bytes, reference_key="tutorial jacobian"):
    print(f"\n### {title}  (device {device}, P = {sum(p.numel() for p in model.parameters()):,}, "
          f"N1 = {x1.shape[0]}, N2 = {x2.shape[0]}, K = {model(x1[:1]).shape[1]})")
    candidates = {
        "autograd loop": lambda: autograd_loop(model, x1, x2),
        "tutorial jacobian": lambda: tutorial_jacobian_contraction(model, x1, x2),
        "tutorial ntk-vp": lambda: tutorial_ntk_vector_products(model, x1, x2),
        "lib structured": lambda: empirical_ntk(model, x1, x2, method="structured"),
        "lib jacobian": lambda: empirical_ntk(model, x1, x2, method="jacobian"),
        "lib ntk_vp": lambda: empirical_ntk(model, x1, x2, method="ntk_vp"),
        "lib auto": lambda: empirical_ntk(model, x1, x2, method="auto"),
    }
    p = sum(q.numel() for q in model.parameters())
    k = model(x1[:1]).shape[1]
    estimated = {  # rough peak-memory estimates used to skip infeasible baselines
        "autograd loop": 1.2 * (x1.shape[0] + x2.shape[0]) * k * p * 4,
        "tutorial jacobian": 1.5 * (x1.shape[0] + x2.shape[0]) * k * p * 4,
        "tutorial ntk-vp": x1.shape[0] * x2.shape[0] * k * p * 4 * 2,
        "lib jacobian": 1.5 * (x1.shape[0] + x2.shape[0]) * k * p * 4,
    }
    results: dict[str, Measurement] = {}
    for name, fn in candidates.items():
        if name not in include:
            continue
        if estimated.get(name, 0) > memory_limit_bytes:
            results[name] = Measurement(float("nan"), float("nan"),
                                        note=f"skipped: needs ~{fmt_bytes(estimated[name])}")
            continue
        print(f"  running {name} ...", flush=True)
        results[name] = measure(fn, device, repeats=1 if "loop" in name or "tutorial" in name else 3)
    ref = results.get(reference_key)
    base = next((m.result for m in results.values() if m.result is not None), None)
    print(f"{'method':20s} {'time':>10s} {'peak mem':>13s} {'speed-up':>9s} {'mem ratio':>9s}  max |Δ| vs first")
    for name, m in results.items():
        if m.note:
            print(f"{name:20s} {m.note}")
            continue
        speed = ref.seconds / m.seconds if ref and not ref.note else float("nan")
        mem = ref.peak_bytes / m.peak_bytes if ref and not ref.note and m.peak_bytes > 0 else float("nan")
        diff = (m.result - base).abs().max().item() if base is not None else float("nan")
        print(f"{name:20s} {m.seconds * 1e3:8.1f}ms {fmt_bytes(m.peak_bytes)} {speed:8.1f}x {mem:8.1f}x  {diff:.2e}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cpu, and cuda if available)")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--memory-limit-gib", type=float, default=16.0,
                        help="skip baselines whose estimated memory exceeds this")
    args = parser.parse_args()
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    limit = args.memory_limit_gib * 2**30
    torch.backends.cuda.matmul.allow_tf32 = False
    for name in devices:
        device = torch.device(name)
        gen = torch.Generator().manual_seed(0)
        peak = matmul_gflops(device, 1024 if args.quick else 4096)
        print(f"\n## device {device}: measured fp32 matmul rate {peak:.1f} GFLOP/s, threads {torch.get_num_threads()}")
        all_methods = ["autograd loop", "tutorial jacobian", "tutorial ntk-vp", "lib structured", "lib jacobian",
                       "lib ntk_vp", "lib auto"]
        d, w, n = (256, 128, 4) if args.quick else (3072, 2048, 16)
        model = MLP(d, w, 3, 8, parametrization="ntk", generator=gen).to(device)
        x1 = torch.randn(n, d, generator=gen).to(device)
        x2 = torch.randn(n, d, generator=gen).to(device)
        for size in ([n] if args.quick else [n // 2, n]):
            res = run_case(f"(i) MLP {d}->{w}->{w}->{w}->8, full kernel", model, x1[:size], x2[:size], device,
                           all_methods, limit)
            s = res["lib structured"]
            rate = mlp_structured_flops(model, 2 * size) / s.seconds / 1e9
            print(f"lib structured: {rate:.1f} GFLOP/s = {100 * rate / peak:.0f}% of the measured matmul rate")

        print("\n### (ii) sweeps (times in ms: tutorial jacobian | lib structured | lib ntk_vp)")
        widths = [64, 128] if args.quick else [256, 512, 1024, 2048]
        def sweep_row(model: MLP, xa: torch.Tensor, xb: torch.Tensor) -> None:
            r = {key: measure(fn, device, repeats=1) for key, fn in {  # noqa: B023
                "tj": lambda: tutorial_jacobian_contraction(model, xa, xb),
                "st": lambda: empirical_ntk(model, xa, xb, method="structured"),
                "vp": lambda: empirical_ntk(model, xa, xb, method="ntk_vp")}.items()}
            print(f"width {model.width:5d}, N = {xa.shape[0]:3d}: {r['tj'].seconds * 1e3:9.1f} | "
                  f"{r['st'].seconds * 1e3:8.1f} | {r['vp'].seconds * 1e3:8.1f}   "
                  f"speed-up {r['tj'].seconds / r['st'].seconds:6.1f}x")

        for width in widths:
            sweep_row(MLP(d, width, 3, 8, parametrization="ntk", generator=gen).to(device), x1, x2)
        m = MLP(d, 1024 if not args.quick else 64, 3, 8, parametrization="ntk", generator=gen).to(device)
        for size in ([4, 8] if args.quick else [8, 16, 32, 64]):
            sweep_row(m, torch.randn(size, d, generator=gen).to(device), torch.randn(size, d, generator=gen).to(device))

        c, hw, n = (8, 8, 4) if args.quick else (64, 32, 16)
        cnn = SmallCNN(3, c, 3, 10, generator=gen).to(device)
        xc1 = torch.randn(n, 3, hw, hw, generator=gen).to(device)
        xc2 = torch.randn(n, 3, hw, hw, generator=gen).to(device)
        run_case(f"(iii) CNN 3x{hw}x{hw}, 3 conv layers of {c} channels, 10 outputs", cnn, xc1, xc2, device,
                 all_methods, limit)

        total = 200 if args.quick else 2000
        small = SmallCNN(3, 16, 3, 10, generator=gen).to(device)
        xs = torch.randn(total, 3, 32, 32, generator=gen).to(device)
        m = measure(lambda: empirical_ntk(small, xs, method="jacobian", batch_size=250), device,  # noqa: B023
                    repeats=1)
        print(f"\n### (iii b) tiled {total}x{total} full kernel of a 16-channel CNN (generic 'jacobian' path, "
              f"tiles of 250): {m.seconds:.1f} s, peak {fmt_bytes(m.peak_bytes)}, output "
              f"{fmt_bytes(m.result.numel() * 4)}")


if __name__ == "__main__":
    main()

"""Exact Jacobian Gram matrices of feed-forward networks, and the split of a Jacobian change into the part
caused by units switching (activation change) and the part caused by the weights moving (smooth part).

Networks are ``nn.Sequential`` stacks ``Linear → φ → Linear → φ → … → Linear`` whose linear layers are
:class:`torch.nn.Linear` or :class:`lib.models.layers.DenseLayer` (any parametrization: the weight and bias
scales are read from the layer) and whose activations are :class:`torch.nn.ReLU`, :class:`torch.nn.Softplus`
(``beta = 1``) or :class:`torch.nn.GELU` (exact, ``approximate="none"``). :class:`lib.models.MLP` is such a stack.

Conventions. ``x`` is ``[N, d]``, the network output ``f(x) [N, K]``; the Jacobian ``J = ∂ vec f / ∂θ`` is
``[NK, P]`` with row index ``n K + k`` (as :func:`lib.ntk.kernel_matrix`). For a linear layer
``z = s_w W a + s_b b``, ``∂f_k/∂W = s_w δ_k aᵀ`` with ``δ_k = ∂f_k/∂z``, so the Gram matrix of two Jacobians
``J^A``, ``J^B`` (two parameter values, or two versions of the network) is, summed over layers,

    (J^A J^Bᵀ)[(n,k), (n',k')] = Σ_l (δ^A_{n,k,l} · δ^B_{n',k',l}) (s_w² a^A_{n,l} · a^B_{n',l} + s_b²),

which costs ``O((NK)² m)`` per layer and never forms ``J`` (``P`` may be 10⁷–10⁸).

**The activation-frozen network.** Given anchor pre-activations ``z⁰`` (those of the initial parameters
``θ₀`` on the same ``x``), the frozen network replaces every activation by its first-order Taylor expansion
at the anchor, ``φ(z) ≈ φ(z⁰) + φ'(z⁰)(z − z⁰)``, sample by sample; for ReLU this is the gated network whose
on/off pattern is fixed at initialization. Its Jacobian ``J^F_θ`` equals ``J_θ₀`` at ``θ = θ₀``, so

    J_θ − J_θ₀ = (J_θ − J^F_θ) + (J^F_θ − J_θ₀)
                 activation part   smooth (weight) part

exactly. For ReLU the activation part is carried by the units whose sign flipped (``φ'`` jumps); for a smooth
``φ`` it is of second order in the change of the pre-activations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lib.models.layers import DenseLayer
from lib.options import Option
from lib.validation import check_tensor

__all__ = ["Activation", "JacobianChange", "Signals", "activation_module", "feed_forward", "gram_blocks",
           "frobenius_norm_of_difference", "jacobian_change", "jacobian_gram", "layer_signals", "pre_activations",
           "spectral_norm_of_difference"]


class Activation(Option):
    """Activations of :func:`feed_forward`."""

    RELU = "relu", "max(0, z): φ' jumps from 0 to 1, so units switching on or off move the Jacobian"
    SOFTPLUS = "softplus", "log(1 + eᶻ): smooth, φ' = sigmoid(z) is 1/4-Lipschitz"
    GELU = "gelu", "z Φ(z) with Φ the standard normal CDF: smooth, the activation of transformers"


def activation_module(name: str | Activation) -> nn.Module:
    """The ``nn.Module`` of an :class:`Activation`."""
    name = Activation.parse(name, name="activation")
    return {"relu": nn.ReLU(), "softplus": nn.Softplus(), "gelu": nn.GELU()}[name.value]


def feed_forward(in_features: int, width: int, depth: int, out_features: int, *, activation: str | Activation = "relu",
                 parametrization: str = "ntk", generator: torch.Generator | None = None) -> nn.Sequential:
    """``depth`` hidden :class:`~lib.models.layers.DenseLayer` s of ``width`` units with ``activation`` and a linear
    readout, without biases, ``σ_w² = 2`` (the set-up of :class:`lib.models.MLP`, which only has ReLU)."""
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        layers += [DenseLayer(fan_in, width, parametrization=parametrization, bias=False, generator=generator),
                   activation_module(activation)]
        fan_in = width
    layers.append(DenseLayer(fan_in, out_features, parametrization=parametrization, bias=False, generator=generator))
    return nn.Sequential(*layers)


def _linear_parts(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None, float, float]:
    """``(weight [out, in], bias [out] or None, s_w, s_b)`` of a supported linear layer."""
    if isinstance(layer, DenseLayer):
        return layer.weight, layer.bias, float(layer.weight_scale), float(layer.bias_scale)
    if isinstance(layer, nn.Linear):
        return layer.weight, layer.bias, 1.0, 1.0
    raise TypeError(f"Unsupported linear layer {type(layer).__name__}; use torch.nn.Linear or lib.models DenseLayer.")


def _phi(module: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(φ(z), φ'(z))`` in closed form (the derivative of ReLU at 0 is taken as 0, as autograd does)."""
    if isinstance(module, nn.ReLU):
        return z.clamp_min(0), (z > 0).to(z.dtype)
    if isinstance(module, nn.Softplus):
        if module.beta != 1:
            raise ValueError(f"Only Softplus(beta=1) is supported, got beta={module.beta}.")
        return nn.functional.softplus(z), torch.sigmoid(z)
    if isinstance(module, nn.GELU):
        if module.approximate != "none":
            raise ValueError("Only the exact GELU (approximate='none') is supported.")
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2.0)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return z * cdf, cdf + z * pdf
    raise TypeError(f"Unsupported activation {type(module).__name__}; use ReLU, Softplus or GELU.")


def _split(model: nn.Module) -> tuple[list[nn.Module], list[nn.Module]]:
    """``(linear layers, activations)`` of ``Linear (φ Linear)*``, checking the pattern."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential of linear layers and activations, got {type(model).__name__}.")
    modules = list(model)
    linears, activations = modules[0::2], modules[1::2]
    if len(modules) % 2 == 0 or len(linears) != len(activations) + 1:
        raise ValueError("model must alternate linear layers and activations, starting and ending with a linear layer.")
    for layer in linears:
        _linear_parts(layer)
    return linears, activations


@dataclass
class Signals:
    """What :func:`jacobian_gram` needs from one network on ``x [N, d]`` (one entry per linear layer ``l``).

    Attributes:
        inputs: ``a_l [N, in_l]``, the layer's input.
        deltas: ``δ_l [N, K, out_l]``, ``∂f_k(x_n)/∂z_l``.
        weight_scales, bias_scales: ``s_w²``, and ``s_b²`` (0 when the layer has no bias).
        pre_activations: ``z_l [N, out_l]`` of the hidden layers (anchors for a frozen network).
        outputs: ``f(x) [N, K]``.
    """

    inputs: list[torch.Tensor]
    deltas: list[torch.Tensor]
    weight_scales: list[float]
    bias_scales: list[float]
    pre_activations: list[torch.Tensor]
    outputs: torch.Tensor


@torch.no_grad()
def layer_signals(model: nn.Module, x: torch.Tensor, *, anchor: list[torch.Tensor] | None = None) -> Signals:
    """Forward and backward signals of ``model`` on ``x [N, d]``.

    With ``anchor`` (the ``pre_activations`` of another parameter value on the same ``x``) the signals are those of
    the activation-frozen network (module docstring): ``φ(z)`` is replaced by ``φ(z⁰) + φ'(z⁰)(z − z⁰)`` and
    ``φ'(z)`` by ``φ'(z⁰)``.
    """
    check_tensor("x", x, ndim=2, floating=True, finite=True)
    linears, activations = _split(model)
    if anchor is not None and len(anchor) != len(activations):
        raise ValueError(f"anchor must hold {len(activations)} pre-activation tensors, got {len(anchor)}.")
    a = x
    inputs, pre, slopes, scales_w, scales_b = [], [], [], [], []
    for i, layer in enumerate(linears):
        weight, bias, s_w, s_b = _linear_parts(layer)
        inputs.append(a)
        scales_w.append(s_w * s_w)
        scales_b.append(s_b * s_b if bias is not None else 0.0)
        z = s_w * (a @ weight.T)
        if bias is not None:
            z = z + s_b * bias
        if i == len(activations):
            out = z
            break
        pre.append(z)
        if anchor is None:
            a, slope = _phi(activations[i], z)
        else:
            z0 = anchor[i]
            if z0.shape != z.shape:
                raise ValueError(f"anchor[{i}] has shape {tuple(z0.shape)}, the network's pre-activations "
                                 f"{tuple(z.shape)}; anchor on the same inputs and architecture.")
            phi0, slope = _phi(activations[i], z0)
            a = phi0 + slope * (z - z0)
        slopes.append(slope)
    n, k = out.shape
    delta = torch.eye(k, dtype=x.dtype, device=x.device).expand(n, k, k)  # ∂f/∂z of the readout
    deltas = [delta]
    for i in range(len(activations) - 1, -1, -1):
        weight, _, s_w, _ = _linear_parts(linears[i + 1])
        delta = s_w * (delta @ weight) * slopes[i][:, None, :]
        deltas.append(delta)
    return Signals(inputs, deltas[::-1], scales_w, scales_b, pre, out)


def jacobian_gram(a: Signals, b: Signals | None = None) -> torch.Tensor:
    """``J^A J^Bᵀ`` ``[NK, NK]`` (row index ``n K + k``) from two networks' signals on the same inputs."""
    b = a if b is None else b
    n, k = a.outputs.shape
    total = torch.zeros(n * k, n * k, dtype=a.outputs.dtype, device=a.outputs.device)
    for da, db, ia, ib, sw, sb in zip(a.deltas, b.deltas, a.inputs, b.inputs, a.weight_scales, a.bias_scales,
                                      strict=True):
        deltas = da.reshape(n * k, -1) @ db.reshape(n * k, -1).T
        inputs = sw * (ia @ ib.T) + sb
        total += deltas * inputs.repeat_interleave(k, 0).repeat_interleave(k, 1)
    return total


def gram_blocks(signals: list[Signals]) -> list[list[torch.Tensor]]:
    """All cross Grams ``[[J_i J_jᵀ]]`` of several networks' signals (each ``[NK, NK]``)."""
    return [[jacobian_gram(si, sj) if j >= i else None for j, sj in enumerate(signals)] for i, si in enumerate(signals)]


def spectral_norm_of_difference(gaa: torch.Tensor, gab: torch.Tensor, gbb: torch.Tensor) -> float:
    """``‖J^A − J^B‖₂ = √λ_max(J^A J^Aᵀ − J^A J^Bᵀ − J^B J^Aᵀ + J^B J^Bᵀ)`` from the three Grams."""
    difference = gaa - gab - gab.T + gbb
    return math.sqrt(max(torch.linalg.eigvalsh(0.5 * (difference + difference.T))[-1].item(), 0.0))


def frobenius_norm_of_difference(gaa: torch.Tensor, gab: torch.Tensor, gbb: torch.Tensor) -> float:
    """``‖J^A − J^B‖_F = √tr(J^A J^Aᵀ − 2 J^A J^Bᵀ + J^B J^Bᵀ)`` from the three Grams."""
    return math.sqrt(max((gaa.diagonal().sum() - 2 * gab.diagonal().sum() + gbb.diagonal().sum()).item(), 0.0))


@dataclass(frozen=True)
class JacobianChange:
    """Spectral norms of ``J_θ − J_θ₀`` and of its two parts (module docstring), and the same in Frobenius norm
    (``*_fro``; ``‖·‖_F² / ‖·‖₂²`` is the effective rank of the change)."""

    total: float
    activation: float
    smooth: float
    total_fro: float = float("nan")
    activation_fro: float = float("nan")
    smooth_fro: float = float("nan")


def pre_activations(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The hidden pre-activations ``z_l [N, m_l]`` of ``model`` on ``x`` (anchors for :func:`jacobian_change`)."""
    return layer_signals(model, x).pre_activations


def jacobian_change(model: nn.Module, initial: nn.Module, x: torch.Tensor, *,
                    initial_signals: Signals | None = None) -> JacobianChange:
    """``‖J_θ − J_θ₀‖₂`` on ``x`` and its split into the activation and smooth parts (exact, via Grams).

    Args:
        model: the network at ``θ``; initial: the same architecture at ``θ₀`` (neither is modified).
        initial_signals: ``layer_signals(initial, x)`` if already computed.
    """
    s0 = initial_signals if initial_signals is not None else layer_signals(initial, x)
    st = layer_signals(model, x)
    sf = layer_signals(model, x, anchor=s0.pre_activations)
    g = gram_blocks([st, sf, s0])
    return JacobianChange(total=spectral_norm_of_difference(g[0][0], g[0][2], g[2][2]),
                          activation=spectral_norm_of_difference(g[0][0], g[0][1], g[1][1]),
                          smooth=spectral_norm_of_difference(g[1][1], g[1][2], g[2][2]),
                          total_fro=frobenius_norm_of_difference(g[0][0], g[0][2], g[2][2]),
                          activation_fro=frobenius_norm_of_difference(g[0][0], g[0][1], g[1][1]),
                          smooth_fro=frobenius_norm_of_difference(g[1][1], g[1][2], g[2][2]))

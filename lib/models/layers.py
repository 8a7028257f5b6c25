"""Dense and convolutional layers in the standard or the NTK parametrization.

Both layers store ``weight`` and ``bias`` like ``nn.Linear`` / ``nn.Conv2d`` and
apply ``weight_scale * weight`` and ``bias_scale * bias`` in ``forward``:

* ``parametrization="ntk"`` (Jacot et al. 2018; the convention of neural-tangents'
  ``stax.Dense(W_std=sigma_w, b_std=sigma_b)``): ``weight, bias ~ N(0, 1)``,
  ``weight_scale = sigma_w / sqrt(fan_in)``, ``bias_scale = sigma_b``;
* ``parametrization="standard"``: ``weight ~ N(0, sigma_w**2 / fan_in)``,
  ``bias ~ N(0, sigma_b**2)``, both scales 1.

Both give the same function at initialisation in distribution; they differ in
their gradients, hence in the NTK and in which learning rates train them.
``lib.ntk``'s structured kernels read ``weight_scale`` and ``bias_scale``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lib.options import Option
from lib.validation import check_nonnegative, check_nonnegative_int, check_positive, check_positive_int


class Parametrization(Option):
    """How a layer scales its weights (module docstring)."""

    STANDARD = "standard", "h = W x + b with W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²): the scale is in the initialisation"
    NTK = "ntk", "h = (σ_w/√fan_in) W x + σ_b b with W, b ~ N(0, 1): the scale is in the forward pass"


#: The valid parametrization strings (alias of :meth:`Parametrization.values`).
PARAMETRIZATIONS: tuple[str, ...] = Parametrization.values()


def _check_parametrization(parametrization: str | Parametrization) -> str:
    """The parametrization as a plain string; ``ValueError`` listing the valid ones otherwise."""
    return Parametrization.parse(parametrization).value


def check_float_input(x: torch.Tensor, weight: torch.Tensor, layer: str) -> None:
    """Reject integer inputs (e.g. ``uint8`` images) to a floating-point layer with a message naming the fix."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{layer} expects a torch.Tensor input, got {type(x).__name__}.")
    if not x.is_floating_point() and weight.is_floating_point():
        raise TypeError(f"{layer} got inputs of dtype {x.dtype} but its weights are {weight.dtype}; convert the "
                        f"inputs with x.to({weight.dtype}) (uint8 images: x.to({weight.dtype}) / 255, or "
                        "TensorData.features()).")


class _ScaledLayer(nn.Module):
    weight: nn.Parameter
    bias: nn.Parameter | None

    def _init(self, fan_in: int, parametrization: str, sigma_w: float, sigma_b: float,
              generator: torch.Generator | None) -> None:
        parametrization = _check_parametrization(parametrization)
        sigma_w = check_positive("sigma_w", sigma_w, fix="pass a weight standard deviation such as 2 ** 0.5")
        sigma_b = check_nonnegative("sigma_b", sigma_b, fix="pass a bias standard deviation >= 0 such as 0.0")
        self.parametrization = parametrization
        self.sigma_w = float(sigma_w)
        self.sigma_b = float(sigma_b)
        ntk = parametrization == "ntk"
        self.weight_scale = self.sigma_w / math.sqrt(fan_in) if ntk else 1.0
        self.bias_scale = self.sigma_b if ntk else 1.0
        with torch.no_grad():
            self.weight.normal_(0.0, 1.0 if ntk else self.sigma_w / math.sqrt(fan_in), generator=generator)
            if self.bias is not None:
                if ntk:
                    self.bias.normal_(0.0, 1.0, generator=generator)
                elif self.sigma_b > 0:
                    self.bias.normal_(0.0, self.sigma_b, generator=generator)
                else:
                    self.bias.zero_()


    def _scale_and_shift(self, out: torch.Tensor, channel_dims: int) -> torch.Tensor:
        """``weight_scale * out + bias_scale * bias``, the bias broadcast over ``channel_dims`` trailing axes."""
        if self.weight_scale != 1.0:
            out = out * self.weight_scale
        if self.bias is not None:
            bias = self.bias if self.bias_scale == 1.0 else self.bias_scale * self.bias
            out = out + bias.reshape(-1, *([1] * channel_dims))
        return out


class DenseLayer(_ScaledLayer):
    """Affine layer ``z = weight_scale * x @ weight.T + bias_scale * bias``.

    Shapes: input ``[N, in_features]``, output ``[N, out_features]``,
    ``weight [out_features, in_features]``, ``bias [out_features]``.
    """

    def __init__(self, in_features: int, out_features: int, *, parametrization: str = "standard",
                 sigma_w: float = math.sqrt(2.0), sigma_b: float = 0.0, bias: bool = True,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        in_features = check_positive_int("in_features", in_features, example=784)
        out_features = check_positive_int("out_features", out_features, example=10)
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self._init(in_features, parametrization, sigma_w, sigma_b, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_float_input(x, self.weight, type(self).__name__)
        # Scale the [N, out] output rather than the [out, in] weight: same function, far less memory traffic.
        return self._scale_and_shift(F.linear(x, self.weight), channel_dims=0)

    def extra_repr(self) -> str:
        return (f"{self.in_features}, {self.out_features}, parametrization={self.parametrization!r}, "
                f"sigma_w={self.sigma_w:.3g}, sigma_b={self.sigma_b:.3g}, bias={self.bias is not None}")


class ConvLayer(_ScaledLayer):
    """2-D convolution with the same scaling rules (fan_in = in_channels * kh * kw).

    Shapes: input ``[N, C_in, H, W]``, output ``[N, C_out, H', W']``,
    ``weight [C_out, C_in, kh, kw]``, ``bias [C_out]``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, parametrization: str = "standard", sigma_w: float = math.sqrt(2.0),
                 sigma_b: float = 0.0, bias: bool = True, generator: torch.Generator | None = None) -> None:
        super().__init__()
        in_channels = check_positive_int("in_channels", in_channels, example=3)
        out_channels = check_positive_int("out_channels", out_channels, example=64)
        kernel_size = check_positive_int("kernel_size", kernel_size, example=3)
        stride = check_positive_int("stride", stride, example=1)
        padding = check_nonnegative_int("padding", padding, example=1)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (kernel_size, kernel_size)
        self.stride, self.padding, self.dilation = (stride, stride), (padding, padding), (1, 1)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self._init(in_channels * kernel_size * kernel_size, parametrization, sigma_w, sigma_b, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_float_input(x, self.weight, type(self).__name__)
        return self._scale_and_shift(F.conv2d(x, self.weight, None, self.stride, self.padding), channel_dims=2)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, parametrization={self.parametrization!r}")

"""Convolutional networks: a small CNN and a Wide ResNet (Zagoruyko & Komodakis, 2016)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from lib.models.layers import ConvLayer, DenseLayer, check_float_input
from lib.validation import check_positive_int


class SmallCNN(nn.Module):
    """``depth`` 3x3 conv-ReLU layers of ``channels`` channels, global average pool, linear readout.

    Input ``[N, C, H, W]``, output ``[N, K]``. Every conv after the first uses stride
    ``stride`` to shrink the feature map. Parametrization as in :mod:`lib.models.layers`.
    """

    def __init__(self, in_channels: int, channels: int, depth: int, out_features: int, *,
                 stride: int = 2, parametrization: str = "standard", sigma_w: float = math.sqrt(2.0),
                 sigma_b: float = 0.0, bias: bool = True, generator: torch.Generator | None = None) -> None:
        super().__init__()
        in_channels = check_positive_int("in_channels", in_channels, example=3)
        channels = check_positive_int("channels", channels, example=64)
        depth = check_positive_int("depth", depth, example=3)
        out_features = check_positive_int("out_features", out_features, example=10)
        stride = check_positive_int("stride", stride, example=2)
        kwargs = dict(parametrization=parametrization, sigma_w=sigma_w, sigma_b=sigma_b, bias=bias,
                      generator=generator)
        layers: list[nn.Module] = []
        c_in = in_channels
        for i in range(depth):
            layers += [ConvLayer(c_in, channels, 3, stride=1 if i == 0 else stride, padding=1, **kwargs), nn.ReLU()]
            c_in = channels
        self.features = nn.Sequential(*layers)
        self.readout = DenseLayer(channels, out_features, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"SmallCNN expects images [N, C, H, W], got {tuple(x.shape)}.")
        return self.readout(self.features(x).mean(dim=(2, 3)))


class _WideBasicBlock(nn.Module):
    """Pre-activation block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus (projected) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)
        self.shortcut = (nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)
                         if stride != 1 or c_in != c_out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + shortcut


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor`` (Zagoruyko & Komodakis, 2016), pre-activation, for 32x32 inputs.

    ``depth = 6 n + 4`` (e.g. 16, 22, 28); channel widths ``16, 16k, 32k, 64k``.
    Input ``[N, in_channels, H, W]``, output ``[N, num_classes]``. Uses BatchNorm: call
    ``model.eval()`` before computing kernels (``lib.ntk`` refuses train-mode BatchNorm).
    PyTorch's default initialisation (standard parametrization).
    """

    def __init__(self, depth: int = 16, widen_factor: int = 4, num_classes: int = 10,
                 in_channels: int = 3) -> None:
        super().__init__()
        depth = check_positive_int("depth", depth, example=16)
        widen_factor = check_positive_int("widen_factor", widen_factor, example=4)
        num_classes = check_positive_int("num_classes", num_classes, example=10)
        in_channels = check_positive_int("in_channels", in_channels, example=3)
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ValueError(f"WRN depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got {depth}.")
        if widen_factor < 1:
            raise ValueError(f"widen_factor must be >= 1, got {widen_factor}.")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        c_in = widths[0]
        for group, stride in zip(range(3), (1, 2, 2), strict=True):
            for i in range(n):
                blocks.append(_WideBasicBlock(c_in, widths[group + 1], stride if i == 0 else 1))
                c_in = widths[group + 1]
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in, num_classes)
        self.depth, self.widen_factor = depth, widen_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_float_input(x, self.conv.weight, "WideResNet")
        out = self.blocks(self.conv(x))
        out = torch.relu(self.bn(out))
        return self.fc(out.mean(dim=(2, 3)))


@dataclass(frozen=True)
class WideResNetRecipe:
    """How the book trains a WRN on image tasks (Zagoruyko & Komodakis 2016's recipe for CIFAR, per task).

    * mini-batch SGD with Nesterov-free ``momentum`` 0.9 and ``weight_decay`` 5e-4 (their values), batch
      ``batch_size``; the learning rate is chosen per widen factor by the experiment (their 0.1 with a step
      schedule over 200 epochs does not transfer to a few epochs per task);
    * augmentation: random crops of the image zero-padded by ``crop_padding`` pixels and random horizontal
      flips (:func:`random_crop_flip`), applied to training mini-batches only;
    * BatchNorm: ``batchnorm`` (a :class:`lib.continual.BatchNormUse` value) — ``"per-task"`` stores the running
      statistics at the end of each task and restores them to evaluate that task (task-incremental setting),
      so old tasks are not evaluated with the statistics of the last task's images; the affine BatchNorm
      parameters are shared and trained like every other weight.
    """

    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    crop_padding: int = 4
    flip: bool = True
    batchnorm: str = "per-task"


#: The recipe of every WRN run of the book.
WRN_RECIPE = WideResNetRecipe()


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, *, padding: int = 4,
                     flip: bool = True) -> torch.Tensor:
    """Random ``padding``-pixel shifts (crop of the zero-padded image) and horizontal flips, per image.

    Input and output ``[B, C, H, W]`` (a new tensor; ``x`` is not modified). Shifts and flips are drawn from
    ``generator`` on the CPU, so the same generator state gives the same batch on any device.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"random_crop_flip expects images [B, C, H, W], got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}.")
    padding = int(padding)
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}.")
    b, _, h, w = x.shape
    shifts = torch.randint(0, 2 * padding + 1, (b, 2), generator=generator)
    flips = torch.rand(b, generator=generator) < 0.5 if flip else torch.zeros(b, dtype=torch.bool)
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    rows = (shifts[:, 0, None] + torch.arange(h)[None, :]).to(x.device)       # [B, H]
    cols = (shifts[:, 1, None] + torch.arange(w)[None, :])                    # [B, W]
    cols = torch.where(flips[:, None], cols.flip(1), cols).to(x.device)
    index_b = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[index_b, rows[:, :, None], cols[:, None, :]]   # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()

"""Bad inputs against lib.models: sizes from configs, NaN scales, integer images."""

from __future__ import annotations

import pytest
import torch

from lib.models import MLP
from lib.models.centered import ScaledModel
from lib.models.cnn import SmallCNN, WideResNet
from lib.models.layers import ConvLayer, DenseLayer

BAD = [
    ("float width", lambda: MLP(4, 12.5, 1, 2), TypeError, "width must be a positive.*12.5.*int such as 12"),
    ("float depth", lambda: MLP(4, 8, 2.0, 2), TypeError, "depth.*config"),
    ("str width", lambda: MLP(4, "8", 1, 2), TypeError, "width"),
    ("zero width", lambda: MLP(4, 0, 1, 2), ValueError, "width"),
    ("nan sigma_w", lambda: MLP(4, 8, 1, 2, sigma_w=float("nan")), ValueError, "sigma_w"),
    ("negative sigma_b", lambda: DenseLayer(4, 2, sigma_b=-1.0), ValueError, "sigma_b"),
    ("bad parametrization", lambda: DenseLayer(4, 2, parametrization="mup"), ValueError, "parametrization"),
    ("float channels", lambda: SmallCNN(3, 8.0, 2, 10), TypeError, "channels"),
    ("float kernel", lambda: ConvLayer(3, 8, 3.0), TypeError, "kernel_size"),
    ("wrn float depth", lambda: WideResNet(depth=16.0), TypeError, "depth"),
    ("wrn bad depth", lambda: WideResNet(depth=15), ValueError, "6n\\+4"),
    ("uint8 into MLP", lambda: MLP(4, 8, 1, 2)(torch.zeros(2, 4, dtype=torch.uint8)), TypeError, "uint8.*/ 255"),
    ("uint8 into CNN", lambda: SmallCNN(1, 4, 1, 2)(torch.zeros(2, 1, 8, 8, dtype=torch.uint8)), TypeError, "uint8"),
    ("wrong features", lambda: MLP(4, 8, 1, 2)(torch.zeros(2, 5)), ValueError, r"\[N, 4\]"),
    ("list input", lambda: MLP(4, 8, 1, 2)([[0.0] * 4]), TypeError, "tensor"),
    ("nan output scale", lambda: ScaledModel(MLP(4, 8, 1, 2), float("nan")), ValueError, "scale.*α > 0"),
    ("zero output scale", lambda: ScaledModel(MLP(4, 8, 1, 2), 0.0), ValueError, "scale"),
]


@pytest.mark.parametrize("probe", BAD, ids=[b[0] for b in BAD])
def test_models_reject_bad_arguments(probe):
    _, call, error, match = probe
    with pytest.raises(error, match=match):
        call()


def test_numpy_integer_sizes_are_accepted():
    import numpy as np

    model = MLP(np.int64(4), np.int64(8), np.int64(1), 2)
    assert model.width == 8 and isinstance(model.width, int)

"""Models used across the book: MLPs, a small CNN and a Wide ResNet."""

from lib.models.centered import CenteredModel
from lib.models.cnn import SmallCNN, WideResNet
from lib.models.layers import PARAMETRIZATIONS, ConvLayer, DenseLayer, Parametrization
from lib.models.mlp import MLP
from lib.models.parameters import count_parameters

__all__ = ["MLP", "CenteredModel", "SmallCNN", "WideResNet", "DenseLayer", "ConvLayer", "PARAMETRIZATIONS",
           "Parametrization", "count_parameters"]

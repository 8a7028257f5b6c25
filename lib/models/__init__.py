"""Models used across the book: MLPs, a small CNN and a Wide ResNet."""

from lib.models.centered import CenteredModel
from lib.models.cnn import SmallCNN, WideResNet
from lib.models.layers import PARAMETRIZATIONS, ConvLayer, DenseLayer
from lib.models.mlp import MLP

__all__ = ["MLP", "CenteredModel", "SmallCNN", "WideResNet", "DenseLayer", "ConvLayer", "PARAMETRIZATIONS"]

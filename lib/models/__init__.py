"""Models used across the book: MLPs, a small CNN and a Wide ResNet."""

from lib.models.cnn import SmallCNN, WideResNet
from lib.models.layers import PARAMETRIZATIONS, ConvLayer, DenseLayer
from lib.models.mlp import MLP

__all__ = ["MLP", "SmallCNN", "WideResNet", "DenseLayer", "ConvLayer", "PARAMETRIZATIONS"]

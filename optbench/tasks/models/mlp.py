"""Fully connected nets: [ANN]'s NN-2 and NN-3, [DSA]'s tabular MLP, the digits MLP.

[ANN] (Nakamura et al. 2021) names its fully connected nets by their number of weight
layers; the widths are not restated here from the paper, so optbench reads NN-k as k
linear layers with 1,000 ReLU units in each hidden layer: NN-2 = 784-1000-10,
NN-3 = 784-1000-1000-10 on 28x28 images.
"""

from __future__ import annotations

import math

from torch import nn

NN_WIDTH = 1000
TABULAR_WIDTHS = (64, 64)


def mlp(input_shape: tuple[int, ...], num_classes: int, hidden: tuple[int, ...]) -> nn.Module:
    """Flatten, then Linear-ReLU per hidden width, then the ``output`` Linear."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    model = nn.Sequential(*layers)
    model.add_module("output", nn.Linear(width, num_classes))
    return model


def digits_mlp(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """A small MLP for the 8x8 digits: 64-128-10."""
    return mlp(input_shape, num_classes, (128,))


def nn2(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] NN-2: a fully connected net with two weight layers (784-1000-10)."""
    return mlp(input_shape, num_classes, (NN_WIDTH,))


def nn3(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] NN-3: a fully connected net with three weight layers (784-1000-1000-10)."""
    return mlp(input_shape, num_classes, (NN_WIDTH, NN_WIDTH))


def tabular_mlp(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[DSA]'s MLP for the IRIS and WINE tables: two hidden layers of 64 ReLU units
    (4-64-64-3 on iris, 13-64-64-3 on wine); the widths are optbench's reading."""
    return mlp(input_shape, num_classes, TABULAR_WIDTHS)

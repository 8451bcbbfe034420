"""Fully connected nets: [ANN]'s NN-2 and NN-3, [DSA]'s MLP, [MIX]'s dense net, the digits MLP.

Every hidden layer is named ``fc1``, ``fc2``, ... and the last one ``output``, so that a
plan selects layers by parameter-name globs (``Adam[fc1.*] + SGD[fc2.*,output.*]``).

[ANN] §4.1 (Nakamura et al. 2021): "fully connected (fc) networks with two hidden layers
(NN-2) and with three hidden layers (NN-3)". The paper gives no width; optbench reads
every hidden layer as 1,000 ReLU units: NN-2 = 784-1000-1000-10, NN-3 =
784-1000-1000-1000-10 on 28x28 images.

[DSA] §3.1: "MLP sequences 5 fully connected layers. The output feature dimensions of each
layer are: 32, 64, 256 and 128. The output of the first and third layers are processed
using sigmoid activation. The output of the second and the fourth layers are processed by
prelu activation. The features output by the neural network are processed by log_softmax
activation and cross-entropy loss function." Built as written: in-32-64-256-128-classes,
sigmoid / PReLU / sigmoid / PReLU (PyTorch's PReLU, one learnt slope per layer), and
``log_softmax`` after ``output``. The trainer's cross-entropy applies ``log_softmax`` once
more, which changes nothing (log-probabilities already normalize to 1), so the loss is
the paper's negative log-likelihood.

[MIX] §IV.A: "The first layer is used as hidden layer (so trained with Adam) and the last
two layers are trained with SGD": a dense net of three linear layers on MNIST. Its
widths were in a figure that did not survive; optbench reads it as 784-128-64-10 with
ReLU, the usual small PyTorch MNIST MLP: ``fc1`` (Adam), ``fc2`` and ``output`` (SGD).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

from torch import Tensor, nn
from torch.nn import functional

NN_WIDTH = 1000
DSA_WIDTHS = (32, 64, 256, 128)
MIX_WIDTHS = (128, 64)


def mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden: Sequence[int],
    activations: Sequence[Callable[[], nn.Module]] | None = None,
    container: type[nn.Sequential] = nn.Sequential,
) -> nn.Sequential:
    """Flatten, then ``fc<i>`` Linear + ``act<i>`` per hidden width, then the ``output``
    Linear, in ``container``. ``activations`` builds one module per hidden layer (default
    ReLU)."""
    acts = activations or [nn.ReLU] * len(hidden)
    if len(acts) != len(hidden):
        raise ValueError(f"{len(hidden)} hidden widths but {len(acts)} activations")
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    width = math.prod(input_shape)
    for i, (h, act) in enumerate(zip(hidden, acts, strict=True), start=1):
        layers[f"fc{i}"] = nn.Linear(width, h)
        layers[f"act{i}"] = act()
        width = h
    layers["output"] = nn.Linear(width, num_classes)
    return container(layers)


class LogSoftmaxMLP(nn.Sequential):
    """An ``mlp`` whose ``forward`` returns ``log_softmax`` of the ``output`` logits."""

    def forward(self, x: Tensor) -> Tensor:
        return functional.log_softmax(super().forward(x), dim=1)


def digits_mlp(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """A small MLP for the 8x8 digits: 64-128-10, ReLU."""
    return mlp(input_shape, num_classes, (128,))


def nn2(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] NN-2: two hidden layers of 1,000 ReLU units (784-1000-1000-10)."""
    return mlp(input_shape, num_classes, (NN_WIDTH,) * 2)


def nn3(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] NN-3: three hidden layers of 1,000 ReLU units (784-1000-1000-1000-10)."""
    return mlp(input_shape, num_classes, (NN_WIDTH,) * 3)


def dsa_mlp(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[DSA] §3.1 MLP: in-32-64-256-128-classes, sigmoid / PReLU / sigmoid / PReLU, and a
    log-softmax output (4-32-64-256-128-3 on IRIS: 52,197 parameters)."""
    acts = [nn.Sigmoid, nn.PReLU, nn.Sigmoid, nn.PReLU]
    return mlp(input_shape, num_classes, DSA_WIDTHS, acts, container=LogSoftmaxMLP)


def mix_mlp(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[MIX] dense net on MNIST, read as 784-128-64-10 with ReLU: ``fc1`` is the layer the
    paper trains with Adam, ``fc2`` and ``output`` the two it trains with SGD."""
    return mlp(input_shape, num_classes, MIX_WIDTHS)

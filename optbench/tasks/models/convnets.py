"""Plain convolutional nets: LeNet-4, VGG-9 and VGG-19 of [ANN], LeNet-5 ([DSA]'s "DNN" and
[MIX]'s CNN), the 13-layer net of [PWA] and the FMP net of [DSA].

LeNet-4 (LeCun et al. 1998, "Gradient-based learning applied to document recognition",
§III.C.7): 4 feature maps of 5x5, subsampling, 16 feature maps of 5x5, subsampling, 120
hidden units, the output. Written the modern way: ReLU and 2x2 max-pooling, every map
connected to every map of the previous layer, the 28x28 image zero-padded by 2 to the
32x32 field LeNet was designed for.

LeNet-5 (LeCun et al. 1998): 6 maps of 5x5, pooling, 16 maps of 5x5, pooling, 120, 84, the
output; ReLU and max-pooling; a 28x28 image is padded by 2 so both sizes give 16x5x5
features. Two papers' small convnets are read as this net:

- [DSA] §3.1 "DNN is designed with reference to Fukushima (1980), LeCun & Bottou (1998),
  Behnke (2003) and we set channel size as a small value": no layer list survives, so
  optbench takes LeNet-5, the small network of the reference it names.
- [MIX] §III.C "a convolutional neural network (fit to CIFAR 10)", trained with PyTorch;
  its figure is lost. optbench takes the CIFAR-10 network of PyTorch's own "Training a
  classifier" tutorial, which is this same LeNet-5 (62,006 parameters on CIFAR-10).

VGG nets (Simonyan & Zisserman 2015) as used on 28x28 and 32x32 images: 3x3 convolutions
with batch normalization and ReLU, 2x2 max-pooling between blocks. VGG-9 has 6
convolutions (32, 64 | 128, 128 | 256, 256) and 3 linear layers (512, 512, output), the
VGG-9 common in the optimization literature; VGG-19 has configuration E (16
convolutions, 64 to 512 channels, five poolings) followed by the ``output`` layer alone,
the usual CIFAR variant (a 32x32 image pools down to 1x1x512).

The 13-layer net of [PWA] §3 ("VGG-like 13-layer network [30]", Tarvainen & Valpola 2017,
from Laine & Aila 2017, Table 5): three 3x3 convolutions of 128 channels, 2x2 max-pooling,
dropout 0.5; three of 256, pooling, dropout 0.5; a 3x3 convolution of 512 without padding,
1x1 convolutions of 256 and 128, global average pooling, the ``output`` layer. Each
convolution is followed by batch normalization and a leaky ReLU of slope 0.1. Left out:
the input Gaussian noise (part of those papers' semi-supervised training) and the weight
normalization (batch normalization alone does the scaling here).

The FMP net of [DSA] Appendix D: "6 convolution blocks and 1 linear block. Each
convolution block ends up with a fractional maxpool. Each output of a convolution layer
is processed by prelu activation", designed after Graham (2014). Read as Graham's MNIST
network (32n C - FMP√2) x 6: block n has a convolution of 32·n channels, PReLU and a
fractional max-pooling of ratio 1/√2 (2x2 pseudo-random overlapping regions); the
convolutions are 3x3 with padding 1, so that a 28x28 image (and a 32x32 one) comes out of
the sixth block at 2x2; the linear block is the ``output`` layer. Fractional max-pooling
draws its regions from torch's global random generator in training; in evaluation
optbench fixes them (one grid, the same for every image), so a run's validation accuracy
does not depend on random draws.
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn import functional

M = "M"  # a 2x2 max-pooling in a configuration
VGG9_CONVS = (32, 64, M, 128, 128, M, 256, 256, M)
VGG9_LINEAR = (512, 512)
VGG19_CONVS = (64, 64, M, 128, 128, M, 256, 256, 256, 256, M) + (512, 512, 512, 512, M) * 2
FMP_BLOCKS = 6
FMP_WIDTH = 32  # block n has FMP_WIDTH * n channels
FMP_RATIO = 1 / math.sqrt(2)
CNN13_DROPOUT = 0.5
CNN13_SLOPE = 0.1


class ConvNet(nn.Module):
    """``features`` (convolutions), ``classifier`` (hidden linear layers), ``output``."""

    def __init__(self, features: nn.Module, classifier: nn.Module, output: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.output = output

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.classifier(self.features(x).flatten(1)))


def _linear_stack(width: int, hidden: tuple[int, ...]) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        width = h
    return nn.Sequential(*layers), width


def lenet4(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] LeNet-4 (LeCun et al. 1998): conv 4@5x5 (pad 2), pool, conv 16@5x5, pool,
    120 units, output."""
    channels, height, width = input_shape
    features = nn.Sequential(
        nn.Conv2d(channels, 4, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(4, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
    )  # fmt: skip
    side_h, side_w = (height // 2 - 4) // 2, (width // 2 - 4) // 2
    classifier, last = _linear_stack(16 * side_h * side_w, (120,))
    return ConvNet(features, classifier, nn.Linear(last, num_classes))


class LeNet5(nn.Module):
    """LeNet-5 with named layers ``conv1``, ``conv2``, ``fc1``, ``fc2``, ``output``."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        channels, height, width = input_shape
        pad = max(0, (32 - min(height, width)) // 2)  # 28x28 -> the 32x32 field
        self.conv1 = nn.Conv2d(channels, 6, 5, padding=pad)
        self.conv2 = nn.Conv2d(6, 16, 5)
        side_h = ((height + 2 * pad - 4) // 2 - 4) // 2
        side_w = ((width + 2 * pad - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * side_h * side_w, 120)
        self.fc2 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = functional.max_pool2d(functional.relu(self.conv1(x)), 2)
        x = functional.max_pool2d(functional.relu(self.conv2(x)), 2)
        x = functional.relu(self.fc1(x.flatten(1)))
        return self.output(functional.relu(self.fc2(x)))


def lenet5(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[DSA] "DNN" and [MIX] CNN, both read as LeNet-5: conv 6@5x5, pool, conv 16@5x5,
    pool, 120, 84, output (ReLU, max-pooling; 28x28 inputs padded by 2)."""
    return LeNet5(input_shape, num_classes)


def vgg(
    input_shape: tuple[int, ...], num_classes: int, convs: tuple, linear: tuple[int, ...]
) -> nn.Module:
    """A VGG net: ``convs`` channel widths and ``M`` poolings, then ``linear`` hidden widths."""
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    for item in convs:
        if item == M:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        else:
            layers += [
                nn.Conv2d(channels, item, 3, padding=1, bias=False),
                nn.BatchNorm2d(item),
                nn.ReLU(inplace=True),
            ]
            channels = item
    classifier, last = _linear_stack(channels * height * width, linear)
    return ConvNet(nn.Sequential(*layers), classifier, nn.Linear(last, num_classes))


def vgg9(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] VGG-9: conv 32, 64, pool, 128, 128, pool, 256, 256, pool; linear 512, 512, output."""
    return vgg(input_shape, num_classes, VGG9_CONVS, VGG9_LINEAR)


def vgg19(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] VGG-19 (configuration E with batch normalization), CIFAR variant: 16
    convolutions, then the ``output`` layer on the 512 pooled features."""
    return vgg(input_shape, num_classes, VGG19_CONVS, ())


def _conv_bn_lrelu(cin: int, cout: int, kernel: int, padding: int) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, padding=padding, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(CNN13_SLOPE),
    ]


def cnn13(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[PWA] the VGG-like 13-layer net of Laine & Aila / Tarvainen & Valpola: 3 x conv
    128, pool, dropout, 3 x conv 256, pool, dropout, conv 512 (no padding), conv 1x1 256,
    conv 1x1 128, global average pooling, output (3.12 M parameters on CIFAR-10)."""
    channels = input_shape[0]
    layers: list[nn.Module] = []
    for cin, cout in ((channels, 128), (128, 128), (128, 128)):
        layers += _conv_bn_lrelu(cin, cout, 3, 1)
    layers += [nn.MaxPool2d(2), nn.Dropout(CNN13_DROPOUT)]
    for cin, cout in ((128, 256), (256, 256), (256, 256)):
        layers += _conv_bn_lrelu(cin, cout, 3, 1)
    layers += [nn.MaxPool2d(2), nn.Dropout(CNN13_DROPOUT)]
    layers += _conv_bn_lrelu(256, 512, 3, 0)
    layers += _conv_bn_lrelu(512, 256, 1, 0)
    layers += _conv_bn_lrelu(256, 128, 1, 0)
    layers.append(nn.AdaptiveAvgPool2d(1))
    return ConvNet(nn.Sequential(*layers), nn.Identity(), nn.Linear(128, num_classes))


class FractionalMaxPool(nn.FractionalMaxPool2d):
    """torch's fractional max-pooling (Graham 2014), random regions in training only.

    In training each call draws its pseudo-random regions from torch's global generator,
    as ``nn.FractionalMaxPool2d`` does. In evaluation the regions are one fixed grid
    (the sample 0.5 for every image and channel), so that evaluating a model twice gives
    the same answer.
    """

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return super().forward(x)
        batch = x.shape[0] if x.dim() == 4 else 1
        fixed = x.new_full((batch, x.shape[-3], 2), 0.5)
        return functional.fractional_max_pool2d(
            x, self.kernel_size, self.output_size, self.output_ratio, _random_samples=fixed
        )


def fmp(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[DSA] FMP net: 6 blocks of conv 3x3 (32·n channels) + PReLU + fractional
    max-pooling 1/√2, then the ``output`` layer on the 2x2 maps (28 -> 19 -> 13 -> 9 ->
    6 -> 4 -> 2 pixels; 32 -> 22 -> 15 -> 10 -> 7 -> 4 -> 2)."""
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    for n in range(1, FMP_BLOCKS + 1):
        cout = FMP_WIDTH * n
        layers += [
            nn.Conv2d(channels, cout, 3, padding=1),
            nn.PReLU(),
            FractionalMaxPool(2, output_ratio=FMP_RATIO),
        ]
        channels = cout
        height, width = int(height * FMP_RATIO), int(width * FMP_RATIO)
    if min(height, width) < 1:
        raise ValueError(f"the FMP net needs images of at least 12x12 pixels, not {input_shape}")
    return ConvNet(
        nn.Sequential(*layers), nn.Identity(), nn.Linear(channels * height * width, num_classes)
    )

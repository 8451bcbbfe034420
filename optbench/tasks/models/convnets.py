"""Plain convolutional nets: LeNet-4 and VGG-9 of [ANN], VGG-19 of [PWA].

LeNet-4 (LeCun et al. 1998, "Gradient-based learning applied to document recognition",
§III.C.7): 4 feature maps of 5x5, subsampling, 16 feature maps of 5x5, subsampling, 120
hidden units, the output. Written the modern way: ReLU and 2x2 max-pooling, every map
connected to every map of the previous layer, the 28x28 image zero-padded by 2 to the
32x32 field LeNet was designed for.

VGG nets (Simonyan & Zisserman 2015) as used on 28x28 and 32x32 images: 3x3 convolutions
with batch normalization and ReLU, 2x2 max-pooling between blocks. VGG-9 has 6
convolutions (32, 64 | 128, 128 | 256, 256) and 3 linear layers (512, 512, output), the
VGG-9 common in the optimization literature; VGG-19 has configuration E (16
convolutions, 64 to 512 channels, five poolings) followed by the ``output`` layer alone,
the usual CIFAR variant (a 32x32 image pools down to 1x1x512).
"""

from __future__ import annotations

from torch import Tensor, nn

M = "M"  # a 2x2 max-pooling in a configuration
VGG9_CONVS = (32, 64, M, 128, 128, M, 256, 256, M)
VGG9_LINEAR = (512, 512)
VGG19_CONVS = (64, 64, M, 128, 128, M, 256, 256, 256, 256, M) + (512, 512, 512, 512, M) * 2


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
    """[PWA] VGG-19 (configuration E with batch normalization), CIFAR variant: 16
    convolutions, then the ``output`` layer on the 512 pooled features."""
    return vgg(input_shape, num_classes, VGG19_CONVS, ())

"""torchvision's ImageNet networks adapted to 32x32 images the way the CIFAR literature does.

[ANN] Table 3 trains VGG-19, ResNet-18, ResNet-50, DenseConv and GoogLeNet, and [PWA] §3
ResNet34 and DenseNet121, on SVHN, CIFAR-10 and CIFAR-100. These are the standard networks,
so optbench takes torchvision's definitions and changes only the stem, as the usual CIFAR
versions do (e.g. the pytorch-cifar collection that holds exactly [ANN]'s five models):

- ResNet-18/34/50 (He et al. 2016): the 7x7 stride-2 stem convolution becomes 3x3 stride 1
  and the max-pooling goes, so a 32x32 image reaches the last stage at 4x4.
- DenseNet-121 (Huang et al. 2017; growth 32, blocks 6-12-24-16): the same change to
  ``conv0`` / ``pool0``. [ANN]'s "DenseConv" [68] cites this paper without a depth;
  optbench reads it as DenseNet-121, the network [PWA] names.
- GoogLeNet (Szegedy et al. 2015; torchvision's Inception v1 with batch normalization):
  ``conv1`` becomes 3x3 stride 1 and ``maxpool1`` / ``maxpool2`` go, so the inception
  blocks see 32, 16 and 8 pixels; no auxiliary classifiers (they only shape ImageNet
  training); torchvision's dropout of 0.2 before the classifier stays.

Each keeps torchvision's initialization; the classifier becomes the ``output`` layer.
torchvision is imported inside the builders: it costs a second of start-up.
"""

from __future__ import annotations

from torch import Tensor, nn


class Headed(nn.Module):
    """A feature extractor ``body`` followed by the ``output`` layer."""

    def __init__(self, body: nn.Module, output: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.output = output

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.body(x))


def _stem(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, 3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def _resnet(name: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from torchvision import models

    body = getattr(models, name)(num_classes=num_classes)
    body.conv1 = _stem(input_shape[0], body.conv1.out_channels)
    body.maxpool = nn.Identity()
    output, body.fc = body.fc, nn.Identity()
    return Headed(body, output)


def resnet18(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] ResNet-18: torchvision's resnet18, 3x3 stride-1 stem, no max-pool (11.17 M
    parameters for 10 classes)."""
    return _resnet("resnet18", input_shape, num_classes)


def resnet34(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[PWA] ResNet34: torchvision's resnet34, 3x3 stride-1 stem, no max-pool (21.28 M)."""
    return _resnet("resnet34", input_shape, num_classes)


def resnet50(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] ResNet-50: torchvision's resnet50 (bottleneck blocks), 3x3 stride-1 stem, no
    max-pool (23.52 M)."""
    return _resnet("resnet50", input_shape, num_classes)


def densenet121(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[PWA] DenseNet121 and [ANN] "DenseConv": torchvision's densenet121 with a 3x3
    stride-1 ``conv0`` and no ``pool0`` (6.96 M)."""
    from torchvision.models import densenet121 as tv_densenet121

    body = tv_densenet121(num_classes=num_classes)
    conv0 = nn.Conv2d(input_shape[0], body.features.conv0.out_channels, 3, padding=1, bias=False)
    nn.init.kaiming_normal_(conv0.weight)  # torchvision's DenseNet initialization
    body.features.conv0 = conv0
    body.features.pool0 = nn.Identity()
    output, body.classifier = body.classifier, nn.Identity()
    return Headed(body, output)


def googlenet(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """[ANN] GoogLeNet: torchvision's googlenet without auxiliary classifiers, a 3x3
    stride-1 ``conv1`` and no ``maxpool1`` / ``maxpool2`` (5.61 M); dropout 0.2 before the
    ``output`` layer."""
    from torchvision.models import googlenet as tv_googlenet
    from torchvision.models.googlenet import BasicConv2d

    body = tv_googlenet(num_classes=num_classes, aux_logits=False, init_weights=True)
    body.conv1 = BasicConv2d(input_shape[0], 64, kernel_size=3, padding=1)
    nn.init.trunc_normal_(body.conv1.conv.weight, mean=0.0, std=0.01, a=-2, b=2)
    body.maxpool1 = nn.Identity()
    body.maxpool2 = nn.Identity()
    output, body.fc = body.fc, nn.Identity()
    return Headed(body, output)

"""Models from the papers. Each builder takes (input_shape, num_classes) -> nn.Module.

Every model names its last layer ``output`` so that the parameter-group selectors of
[MIX] (``hidden`` = everything else, ``output``) find it. torchvision is imported only by
the builders that use its networks (``torchvision_cifar``).
"""

from optbench.tasks.models.convnets import cnn13, fmp, lenet4, lenet5, vgg9, vgg19
from optbench.tasks.models.mlp import digits_mlp, dsa_mlp, mix_mlp, nn2, nn3
from optbench.tasks.models.recurrent import lstm_classifier
from optbench.tasks.models.resnets import resnet20, wrn28_10
from optbench.tasks.models.torchvision_cifar import (
    densenet121,
    googlenet,
    resnet18,
    resnet34,
    resnet50,
)

__all__ = [
    "cnn13",
    "densenet121",
    "digits_mlp",
    "dsa_mlp",
    "fmp",
    "googlenet",
    "lenet4",
    "lenet5",
    "lstm_classifier",
    "mix_mlp",
    "nn2",
    "nn3",
    "resnet18",
    "resnet20",
    "resnet34",
    "resnet50",
    "vgg9",
    "vgg19",
    "wrn28_10",
]

"""Models from the papers. Each builder takes (input_shape, num_classes) -> nn.Module.

Every model names its last layer ``output`` so that the parameter-group selectors of
[MIX] (``hidden`` = everything else, ``output``) find it.
"""

from optbench.tasks.models.convnets import lenet4, vgg9, vgg19
from optbench.tasks.models.mlp import digits_mlp, nn2, nn3, tabular_mlp
from optbench.tasks.models.recurrent import lstm_classifier
from optbench.tasks.models.resnets import resnet18, resnet20, wrn28_10

__all__ = [
    "digits_mlp",
    "lenet4",
    "lstm_classifier",
    "nn2",
    "nn3",
    "resnet18",
    "resnet20",
    "tabular_mlp",
    "vgg9",
    "vgg19",
    "wrn28_10",
]

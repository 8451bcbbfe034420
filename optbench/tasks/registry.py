"""The task catalogue as data: ``dataset-model`` names, built only when trained.

A task pairs a dataset loader with a model builder, both as "module:function" paths so
that ``optbench tasks`` lists the catalogue (and whether the data is found) without
importing torch.

What the trainer uses::

    task = get_task("cifar10-resnet20")
    split = build_loader(task)(data_dir)               # Split on the CPU; .to(device)
    model = build_model(task)(split.input_shape, split.num_classes)
    augment = build_augment(task)                      # None, or f(x, generator) -> x
    x = augment(x, generator) if augment else x        # per training batch, on the device
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from optbench.errors import UnknownTask
from optbench.tasks.datasets import files


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    loader: str  # "module:function(data_dir) -> Split"
    description: str
    hint: str = ""  # how to get the files when they are missing; empty = always available
    locate: str = ""  # "module:function(data_dir) -> Path | None"; empty = always available
    augment: str = ""  # "module:function(x, generator) -> x" per training batch; empty = none

    def available(self, data_dir: str | Path | None = None) -> bool:
        return not self.locate or _resolve(self.locate)(data_dir) is not None


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dataset: str
    model: str  # "module:function(input_shape, num_classes) -> nn.Module"
    description: str
    paper: str
    kind: str = "classify"  # or "toy": a [DSA] toy problem trained by optbench.train.toy
    # Seeds of this model can train stacked in one pass with results equal to separate
    # runs: no dropout (its random masks follow the global RNG) and no recurrent layers.
    stacks: bool = True


def _resolve(path: str) -> Callable:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


_D = "optbench.tasks.datasets."
_M = "optbench.tasks.models:"
_CROP_FLIP = "optbench.tasks.augment:augment_crop_flip"


def _bundled(name: str, description: str) -> DatasetSpec:
    return DatasetSpec(name, f"{_D}sklearn_bundled:load_{name}", description)


def _local(
    name: str, loader: str, description: str, layout: files.Layout, augment: str = ""
) -> DatasetSpec:
    locate = f"{_D}files:locate_{name.replace('-', '_')}"
    return DatasetSpec(name, _D + loader, description, layout.hint, locate, augment)


DATASETS: Mapping[str, DatasetSpec] = MappingProxyType(
    {
        d.name: d
        for d in [
            _bundled("digits", "scikit-learn's 8x8 digits, 1,437/360"),
            _bundled("iris", "scikit-learn's iris, 4 features, 120/30"),
            _bundled("wine", "scikit-learn's wine, 13 features, 142/36"),
            _local("mnist", "idx:load_mnist", "MNIST, IDX files, 60,000/10,000", files.MNIST),
            _local(
                "fashion-mnist",
                "idx:load_fashion_mnist",
                "Zalando's Fashion-MNIST, IDX files, 60,000/10,000",
                files.FASHION_MNIST,
            ),
            _local(
                "cifar10",
                "cifar:load_cifar10",
                "CIFAR-10, python pickles, 50,000/10,000, crop+flip",
                files.CIFAR10,
                augment=_CROP_FLIP,
            ),
            _local(
                "cifar100",
                "cifar:load_cifar100",
                "CIFAR-100 (fine labels), python pickles, 50,000/10,000, crop+flip",
                files.CIFAR100,
                augment=_CROP_FLIP,
            ),
            _local(
                "svhn",
                "svhn:load_svhn",
                "SVHN cropped digits, .mat files, 73,257/26,032, crop+flip",
                files.SVHN,
                augment=_CROP_FLIP,
            ),
            DatasetSpec("quadratic", "", "[DSA] toy objective w1^2 + 1000 w2^2, no data"),
            DatasetSpec("sum-of-four", "", "[DSA] toy least-squares fit of four points, no data"),
            _local(
                "imdb",
                "imdb:load_imdb",
                "IMDB reviews, aclImdb folders, 25,000/25,000 x 200 word ids",
                files.IMDB,
            ),
        ]
    }
)


def _task(name: str, dataset: str, builder: str, description: str, paper: str) -> TaskSpec:
    return TaskSpec(name, dataset, _M + builder, description, paper)


TASKS: Mapping[str, TaskSpec] = MappingProxyType(
    {
        t.name: t
        for t in [
            _task("mnist-nn2", "mnist", "nn2", "NN-2 784-1000-10 on MNIST", "[ANN]"),
            _task("mnist-nn3", "mnist", "nn3", "NN-3 784-1000-1000-10 on MNIST", "[ANN]"),
            _task("mnist-lenet4", "mnist", "lenet4", "LeNet-4 on MNIST", "[ANN]"),
            _task("mnist-vgg9", "mnist", "vgg9", "VGG-9 (BN) on MNIST", "[ANN]"),
            _task("fashion-mnist-nn2", "fashion-mnist", "nn2", "NN-2 on Fashion-MNIST", "[ANN]"),
            _task("fashion-mnist-nn3", "fashion-mnist", "nn3", "NN-3 on Fashion-MNIST", "[ANN]"),
            _task(
                "fashion-mnist-lenet4",
                "fashion-mnist",
                "lenet4",
                "LeNet-4 on Fashion-MNIST",
                "[ANN]",
            ),
            _task("fashion-mnist-vgg9", "fashion-mnist", "vgg9", "VGG-9 on Fashion-MNIST", "[ANN]"),
            _task("cifar10-resnet20", "cifar10", "resnet20", "ResNet-20 on CIFAR-10", "[MS]"),
            _task("cifar10-vgg19", "cifar10", "vgg19", "VGG-19 (BN) on CIFAR-10", "[PWA]"),
            _task("cifar10-resnet18", "cifar10", "resnet18", "ResNet-18 on CIFAR-10", "[PWA]"),
            _task("cifar10-wrn28-10", "cifar10", "wrn28_10", "WRN-28-10 on CIFAR-10", "[PWA]"),
            _task("cifar100-resnet20", "cifar100", "resnet20", "ResNet-20 on CIFAR-100", "[PWA]"),
            _task("cifar100-resnet18", "cifar100", "resnet18", "ResNet-18 on CIFAR-100", "[PWA]"),
            _task("svhn-resnet20", "svhn", "resnet20", "ResNet-20 on SVHN", "[PWA]"),
            TaskSpec(
                "imdb-lstm",
                "imdb",
                _M + "lstm_classifier",
                "LSTM(128) on IMDB, 200 words",
                "[MS]",
                stacks=False,
            ),
            _task("iris-mlp", "iris", "tabular_mlp", "MLP 4-64-64-3 on iris", "[DSA]"),
            _task("wine-mlp", "wine", "tabular_mlp", "MLP 13-64-64-3 on wine", "[DSA]"),
            _task("digits-mlp", "digits", "digits_mlp", "MLP 64-128-10 on digits", "-"),
            # [DSA]'s toy problems: each "epoch" is one full-batch step on the objective
            TaskSpec(
                "quadratic-track",
                "quadratic",
                "",
                "w1^2 + 1000 w2^2 from (-0.06, 0.001); trajectory stored",
                "[DSA]",
                kind="toy",
            ),
            TaskSpec(
                "sum-of-four-track",
                "sum-of-four",
                "",
                "four-point least squares from (0, 0); trajectory stored",
                "[DSA]",
                kind="toy",
            ),
        ]
    }
)


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTask(name, TASKS) from None


def build_loader(task: TaskSpec) -> Callable:
    """The task's loader: ``(data_dir: str | Path | None = None) -> Split`` on the CPU."""
    return _resolve(DATASETS[task.dataset].loader)


def build_model(task: TaskSpec) -> Callable:
    """The task's builder: ``(input_shape, num_classes) -> nn.Module`` with an ``output``."""
    return _resolve(task.model)


def build_augment(task: TaskSpec) -> Callable | None:
    """The per-batch training augmentation ``(x, generator) -> x``, or None."""
    path = DATASETS[task.dataset].augment
    return _resolve(path) if path else None

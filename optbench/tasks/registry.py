"""The task catalogue as data: ``dataset-model`` names, built only when trained.

A task pairs a dataset loader with a model builder, both as "module:function" paths so
that ``optbench tasks`` lists the catalogue (and whether the data is found) without
importing torch. Each task names the papers that run it, whether its seeds can train
stacked (``stacks``) and its per-batch augmentation (a task's, not a dataset's: [DSA]
trains CIFAR without the crop and flip that [PWA] uses).

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
from dataclasses import dataclass, replace
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

    def available(self, data_dir: str | Path | None = None) -> bool:
        return not self.locate or _resolve(self.locate)(data_dir) is not None


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dataset: str
    model: str  # "module:function(input_shape, num_classes) -> nn.Module"
    description: str
    paper: str  # the papers that run it, e.g. "[ANN] [PWA]"; "-" for optbench's own
    kind: str = "classify"  # or "toy": a [DSA] toy problem trained by optbench.train.toy
    # Seeds of this model can train stacked in one pass with results equal to separate
    # runs: no dropout and no other per-sample randomness (random masks and fractional
    # pooling regions follow the global RNG), no recurrent layers.
    stacks: bool = True
    augment: str = ""  # "module:function(x, generator) -> x" per training batch; "" = none


def _resolve(path: str) -> Callable:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


_D = "optbench.tasks.datasets."
_M = "optbench.tasks.models:"
CROP_FLIP = "optbench.tasks.augment:augment_crop_flip"
CROP = "optbench.tasks.augment:augment_crop"


def _bundled(name: str, description: str) -> DatasetSpec:
    return DatasetSpec(name, f"{_D}sklearn_bundled:load_{name}", description)


def _local(name: str, loader: str, description: str, layout: files.Layout) -> DatasetSpec:
    locate = f"{_D}files:locate_{name.replace('-', '_')}"
    return DatasetSpec(name, _D + loader, description, layout.hint, locate)


def _toy(name: str) -> DatasetSpec:
    return DatasetSpec(name, "", "[DSA] toy objective, no data: see optbench.tasks.toy")


DATASETS: Mapping[str, DatasetSpec] = MappingProxyType(
    {
        d.name: d
        for d in [
            _bundled("digits", "scikit-learn's 8x8 digits, 1,437/360 stratified"),
            _bundled("iris", "scikit-learn's iris, 4 features, 120/30 hold-out"),
            _bundled("wine", "scikit-learn's wine, 13 features, 142/36 hold-out"),
            _local(
                "car",
                "uci:load_car",
                "UCI car evaluation, car.data, 6 ordinal features, 1,382/346 hold-out",
                files.CAR,
            ),
            _local(
                "agaricus",
                "uci:load_agaricus",
                "UCI mushroom, agaricus-lepiota.data, 116 one-hot features, 6,499/1,625",
                files.AGARICUS,
            ),
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
                "CIFAR-10, python pickles, 50,000/10,000",
                files.CIFAR10,
            ),
            _local(
                "cifar100",
                "cifar:load_cifar100",
                "CIFAR-100 (fine labels), python pickles, 50,000/10,000",
                files.CIFAR100,
            ),
            _local(
                "svhn",
                "svhn:load_svhn",
                "SVHN cropped digits, .mat files, 73,257/26,032",
                files.SVHN,
            ),
            _toy("quadratic"),
            _toy("quadratic-b95"),
            _toy("sum-of-four"),
            _local(
                "imdb",
                "imdb:load_imdb",
                "IMDB reviews, aclImdb folders, 25,000/25,000 x 200 word ids",
                files.IMDB,
            ),
        ]
    }
)

# The standard augmentation of each image dataset where a paper trains with it: crop and
# flip on CIFAR, crop alone on SVHN ([PWA] §3); MNIST-like images are not augmented.
STANDARD_AUGMENT = {"cifar10": CROP_FLIP, "cifar100": CROP_FLIP, "svhn": CROP}
_AUGMENT_NAMES = {CROP_FLIP: "crop+flip", CROP: "crop", "": "no augmentation"}

# Model builders whose seeds cannot train stacked: dropout or fractional max-pooling
# (random draws from the global RNG), recurrent layers.
_UNSTACKABLE = {"cnn13", "googlenet", "fmp", "lstm_classifier"}

_ANN_DEEP = ("vgg19", "resnet18", "resnet50", "densenet121", "googlenet")
_PWA = ("cnn13", "resnet34", "wrn28_10", "densenet121")
_DSA_IMAGES = ("mnist", "svhn", "cifar10", "cifar100")
_TITLES = {
    "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100", "svhn": "SVHN", "digits": "digits", "iris": "IRIS",
    "wine": "WINE", "car": "CAR", "agaricus": "AGARICUS", "imdb": "IMDB",
}  # fmt: skip
_MODELS = {  # builder -> (task-name part, description)
    "nn2": ("nn2", "NN-2, two hidden layers of 1,000"),
    "nn3": ("nn3", "NN-3, three hidden layers of 1,000"),
    "lenet4": ("lenet4", "LeNet-4"),
    "vgg9": ("vgg9", "VGG-9 (BN)"),
    "vgg19": ("vgg19", "VGG-19 (BN)"),
    "resnet18": ("resnet18", "ResNet-18"),
    "resnet20": ("resnet20", "ResNet-20"),
    "resnet34": ("resnet34", "ResNet34"),
    "resnet50": ("resnet50", "ResNet-50"),
    "densenet121": ("densenet121", "DenseNet-121"),
    "googlenet": ("googlenet", "GoogLeNet"),
    "cnn13": ("cnn13", "13-layer VGG-like net (BN, dropout)"),
    "wrn28_10": ("wrn28-10", "WRN-28-10"),
    "lenet5": ("lenet5", "LeNet-5"),
    "fmp": ("fmp", "FMP net (fractional max-pooling)"),
    "dsa_mlp": ("mlp", "MLP 32-64-256-128 (sigmoid/PReLU)"),
    "mix_mlp": ("mix-mlp", "dense net 128-64 (fc1, fc2, output)"),
    "digits_mlp": ("mlp", "MLP 64-128-10"),
    "lstm_classifier": ("lstm", "LSTM(128) on the last 200 words"),
}


def _task(dataset: str, builder: str, paper: str, augment: bool = True) -> TaskSpec:
    """The task ``<dataset>-<model>``; ``augment`` takes the dataset's standard one."""
    part, what = _MODELS[builder]
    path = STANDARD_AUGMENT.get(dataset, "") if augment else ""
    description = f"{what} on {_TITLES[dataset]}"
    if dataset in STANDARD_AUGMENT:
        description += f", {_AUGMENT_NAMES[path]}"
    return TaskSpec(
        name=f"{dataset}-{part}",
        dataset=dataset,
        model=_M + builder,
        description=description,
        paper=paper,
        stacks=builder not in _UNSTACKABLE,
        augment=path,
    )


def _toy_task(problem: str, description: str) -> TaskSpec:
    return TaskSpec(f"{problem}-track", problem, "", description, "[DSA]", kind="toy")


def _merge(tasks: list[TaskSpec]) -> dict[str, TaskSpec]:
    """Tasks by name; one that several papers run is listed once, with every paper."""
    merged: dict[str, TaskSpec] = {}
    for task in tasks:
        if task.name in merged:
            known = merged[task.name]
            if replace(known, paper=task.paper) != task:
                raise ValueError(f"task {task.name} is defined twice, differently")
            task = replace(known, paper=f"{known.paper} {task.paper}")
        merged[task.name] = task
    return merged


TASKS: Mapping[str, TaskSpec] = MappingProxyType(
    _merge(
        [
            # [ANN] Table 2: shallow nets on MNIST and Fashion-MNIST
            *(
                _task(d, m, "[ANN]")
                for d in ("mnist", "fashion-mnist")
                for m in ("nn2", "nn3", "lenet4", "vgg9")
            ),
            # [ANN] Table 3: deep nets on SVHN, CIFAR-10, CIFAR-100
            *(_task(d, m, "[ANN]") for d in ("svhn", "cifar10", "cifar100") for m in _ANN_DEEP),
            # [PWA] Tables 1-4: four nets on CIFAR-100, CIFAR-10, SVHN
            *(_task(d, m, "[PWA]") for d in ("cifar100", "cifar10", "svhn") for m in _PWA),
            # [MS]: ResNet-20 on CIFAR-10, an LSTM on IMDB
            _task("cifar10", "resnet20", "[MS]"),
            _task("imdb", "lstm_classifier", "[MS]"),
            # [DSA] Tables 1-2, 4-6: FMP and DNN (LeNet-5) without "data expansion"
            *(_task(d, m, "[DSA]", augment=False) for m in ("fmp", "lenet5") for d in _DSA_IMAGES),
            # [DSA] Table 7: the MLP on four tables
            *(_task(d, "dsa_mlp", "[DSA]") for d in ("iris", "wine", "car", "agaricus")),
            # [MIX]: the dense net on MNIST, the CNN (LeNet-5) on CIFAR-10; no augmentation
            _task("mnist", "mix_mlp", "[MIX]"),
            _task("cifar10", "lenet5", "[MIX]", augment=False),
            # optbench's own: the quick digits task, ResNet-20 beyond [MS]'s CIFAR-10
            _task("digits", "digits_mlp", "-"),
            _task("cifar100", "resnet20", "-"),
            _task("svhn", "resnet20", "-"),
            # [DSA]'s toy problems: each "epoch" is one full-batch step on the objective
            _toy_task("quadratic", "w1^2 + 1000 w2^2 from (-0.06, 0.001); trajectory stored"),
            _toy_task("quadratic-b95", "w1^2 + 95 w2^2 from (-1, 1); trajectory stored"),
            _toy_task("sum-of-four", "|Xw - y| for w in R^4 from 0; trajectory stored"),
        ]
    )
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
    return _resolve(task.augment) if task.augment else None
